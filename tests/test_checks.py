"""The shared numeric checks: exact accepted values and the messages a user sees."""

import math

import pytest

from ferkit.checks import check_count, check_fraction, check_number
from ferkit.errors import ConfigError


@pytest.mark.parametrize("value", [1, 0.5, 1e-9, 1.0])
def test_check_fraction_returns_the_value_as_a_float(value):
    result = check_fraction("x", value)
    assert type(result) is float and result == value


@pytest.mark.parametrize("value, message", [
    (0, r"x \(what x is\) must lie in \(0, 1\], got 0"), (1.0000001, "got 1.0000001"), (-0.5, "got -0.5"),
    (math.nan, "got nan"), (math.inf, "got inf"),
    ("0.5", r"x \(what x is\) must be a number in \(0, 1\], got str '0.5'"), (True, "got bool True"), (None, "got NoneType None"),
])
def test_check_fraction_refuses_with_the_name_and_meaning(value, message):
    with pytest.raises(ConfigError, match=message):
        check_fraction("x", value, meaning="what x is")


def test_check_count_bounds_and_optional():
    check_count("n", 3, least=3)
    check_count("n", None, least=1, optional=True)
    with pytest.raises(ConfigError, match="n must be >= 4, got 3"):
        check_count("n", 3, least=4)
    with pytest.raises(ConfigError, match="n must be an int, got NoneType None"):
        check_count("n", None, least=1)
    with pytest.raises(ConfigError, match="n must be an int or None, got float 2.0"):
        check_count("n", 2.0, least=1, optional=True)


@pytest.mark.parametrize("value, kwargs, message", [
    (-0.01, {"low": 0.0, "high": 1.0, "high_inclusive": False}, r"t must lie in \[0, 1\), got -0.01"),
    (1.0, {"low": 0.0, "high": 1.0, "high_inclusive": False}, r"must lie in \[0, 1\)"),
    (0.0, {"low": 0.0, "low_inclusive": False}, r"t must be > 0, got 0.0"),
    (math.inf, {"low": 0.0}, r"t must be >= 0, got inf"),
    ("1", {"low": 0.0, "high": 2.0}, r"t must be a number in \[0, 2\], got str '1'"),
])
def test_check_number_bounds_and_messages(value, kwargs, message):
    with pytest.raises(ConfigError, match=message):
        check_number("t", value, **kwargs)


def test_check_number_takes_numpy_scalars_and_returns_a_float():
    import numpy as np

    assert check_number("t", np.float32(0.5), low=0.0, high=1.0) == 0.5 and check_number("t", np.int64(2), low=0.0) == 2.0
