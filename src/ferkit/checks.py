"""Checks of numeric arguments shared by the Python API and the CLI.

A wrong type or range must surface as a ConfigError naming the argument when the function is called, not as a
TypeError from a comparison deep inside, or as a value silently ignored on a path that happens not to use it.
"""

from __future__ import annotations

import math
import numbers

from ferkit.errors import ConfigError


def check_count(name: str, value: object, *, least: int, optional: bool = False) -> None:
    """Refuse a count argument (``every_n``, ``look_back``...) that is not an int >= ``least`` (None too when
    ``optional``)."""
    if optional and value is None:
        return
    if isinstance(value, bool) or not isinstance(value, numbers.Integral):
        raise ConfigError(f"{name} must be an int{' or None' if optional else ''}, got {type(value).__name__} {value!r}")
    if value < least:
        raise ConfigError(f"{name} must be >= {least}{' or None' if optional else ''}, got {value}")


def check_fraction(name: str, value: object, *, meaning: str = "") -> float:
    """``value`` as a float in (0, 1]; a ConfigError naming ``name`` (and what the number means) otherwise.

    Booleans, strings and NaN are refused: ``smooth=True`` or ``detect_scale="0.5"`` is a mistake, not a number.
    """
    about = f" ({meaning})" if meaning else ""
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        raise ConfigError(f"{name}{about} must be a number in (0, 1], got {type(value).__name__} {value!r}")
    if not (math.isfinite(float(value)) and 0.0 < float(value) <= 1.0):
        raise ConfigError(f"{name}{about} must lie in (0, 1], got {value}")
    return float(value)


def check_share_range(name: str, value: object, *, meaning: str = "") -> tuple[float, float]:
    """``value`` as (low, high) with 0 < low <= high <= 1 (shares of an image or a face); a ConfigError naming
    ``name`` for a single number, three numbers, a reversed or out-of-range pair."""
    about = f" ({meaning})" if meaning else ""
    try:
        low, high = (float(v) for v in value)  # type: ignore[union-attr]
    except (TypeError, ValueError):
        raise ConfigError(f"{name}{about} must be (low, high) with 0 < low <= high <= 1, got {value!r}") from None
    if not 0.0 < low <= high <= 1.0:
        raise ConfigError(f"{name}{about} must be (low, high) with 0 < low <= high <= 1, got {value!r}")
    return low, high
