"""The generic registry: duplicates raise, unknown names list the valid ones, a builder's own errors keep their traceback."""

import traceback

import pytest

from ferkit.errors import ConfigError
from ferkit.registry import DuplicateNameError, Registry


def make_registry() -> Registry:
    reg = Registry("widget")

    @reg.register("square", sides=4)
    def square(*, size: int = 1) -> int:
        return size * size

    @reg.register("broken")
    def broken(*, size: int = 1) -> int:
        return len(size)  # a bug inside the builder: TypeError from the body, not from the options

    return reg


def test_build_passes_options_and_metadata_is_kept():
    reg = make_registry()
    assert reg.build("square", size=3) == 9
    assert reg.metadata("square") == {"sides": 4}
    assert reg.names() == ["broken", "square"] and "square" in reg and len(reg) == 2
    assert [name for name, _ in reg.items()] == ["broken", "square"] and reg.items()[1][1] is reg.get("square")


def test_duplicate_name_raises():
    reg = make_registry()
    with pytest.raises(DuplicateNameError, match="widget 'square' registered twice"):
        reg.register("square", lambda: 0)


def test_unknown_name_lists_the_valid_ones():
    with pytest.raises(ConfigError, match=r"unknown widget 'circle'; available widgets: broken, square"):
        make_registry().build("circle")


def test_a_near_miss_is_suggested():
    with pytest.raises(ConfigError, match=r"unknown widget 'sqare'; did you mean 'square'\?; available widgets: broken, square"):
        make_registry().build("sqare")
    with pytest.raises(ConfigError, match=r"unknown widget 3; available"):  # not a string: no suggestion, no TypeError
        make_registry().get(3)


def test_wrong_option_is_a_config_error():
    with pytest.raises(ConfigError, match=r"bad options for widget 'square'.*colour"):
        make_registry().build("square", colour="red")


def test_error_inside_a_builder_keeps_its_traceback():
    with pytest.raises(TypeError) as info:
        make_registry().build("broken", size=3)
    assert not isinstance(info.value, ConfigError)
    frames = [frame.name for frame in traceback.extract_tb(info.value.__traceback__)]
    assert frames[-1] == "broken"


def test_unregister_removes_the_entry_and_frees_its_name():
    reg = make_registry()
    assert reg.unregister("broken").__name__ == "broken"
    assert "broken" not in reg and reg.names() == ["square"]
    reg.register("broken", lambda: 1)  # the name can be taken again
    with pytest.raises(ConfigError, match="unknown widget 'circle'"):
        reg.unregister("circle")
