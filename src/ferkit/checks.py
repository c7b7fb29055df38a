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


def check_number(name: str, value: object, *, low: float, high: float = math.inf, low_inclusive: bool = True,
                 high_inclusive: bool = True, meaning: str = "") -> float:
    """``value`` as a finite float within [low, high] (either end open when not ``*_inclusive``; ``high`` inf: no upper
    bound); a ConfigError naming ``name`` (and what the number means) otherwise. Booleans, strings and NaN are refused,
    numpy scalars taken."""
    about = f" ({meaning})" if meaning else ""
    interval = f"{'[' if low_inclusive else '('}{low:g}, {high:g}{']' if high_inclusive else ')'}" if high != math.inf else \
        f"{'>=' if low_inclusive else '>'} {low:g}"
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        raise ConfigError(f"{name}{about} must be a number {'in ' if high != math.inf else ''}{interval}, got {type(value).__name__} {value!r}")
    number = float(value)
    above = number >= low if low_inclusive else number > low
    below = number <= high if high_inclusive else number < high
    if not (math.isfinite(number) and above and below):
        raise ConfigError(f"{name}{about} must {'lie in' if high != math.inf else 'be'} {interval}, got {value}")
    return number


def check_fraction(name: str, value: object, *, meaning: str = "") -> float:
    """``value`` as a float in (0, 1]: ``smooth=True`` or ``detect_scale="0.5"`` is a mistake, not a number."""
    return check_number(name, value, low=0.0, high=1.0, low_inclusive=False, meaning=meaning)


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
