"""Recipe values are checked against the fields' declared types wherever a recipe is rebuilt from data
(``--set`` overrides, a checkpoint's recipe.json): a wrong type is one ConfigError naming the field, the
type and the value, never a TypeError from inside validation."""

from __future__ import annotations

import json

import pytest

from ferkit.cli import main
from ferkit.errors import ConfigError
from ferkit.train.config import AUGMENT_FIELD_TYPES, RECIPE_FIELD_TYPES, Recipe, override, recipe_from_dict
from ferkit.train.recipes import get_recipe, list_recipes


@pytest.mark.parametrize("assignment,message", [
    ("epochs=abc", "recipe field 'epochs' must be an integer, got str 'abc'"),
    ("epochs=2.5", "recipe field 'epochs' must be an integer, got float 2.5"),
    ("epochs=true", "recipe field 'epochs' must be an integer, got bool True"),
    ("epochs=null", "recipe field 'epochs' must be an integer, got null"),
    ("lr=true", "recipe field 'lr' must be a number, got bool True"),
    ("amp=1", "recipe field 'amp' must be true or false, got int 1"),
    ("optimizer=3", "recipe field 'optimizer' must be a string, got int 3"),
    ("model_kwargs=3", "recipe field 'model_kwargs' must be a table"),
    ("augment.scale=big", "recipe field 'augment.scale' must be a number, got str 'big'"),
    ("augment.hflip=null", "recipe field 'augment.hflip' must be true or false, got null"),
    ('augment.erasing_area=[0.1, "x"]', "recipe field 'augment.erasing_area' must be a number, got str 'x'"),
    ("augment.occlusion_ratio=0.3", "recipe field 'augment.occlusion_ratio' must be a list of 2 numbers, got float 0.3"),
    ("early_stop_patience=abc", "recipe field 'early_stop_patience' must be an integer, got str 'abc'"),
    ("init_weights=3", "recipe field 'init_weights' must be a string, got int 3"),
])
def test_a_value_of_the_wrong_type_names_the_field_the_type_and_the_value(assignment, message):
    with pytest.raises(ConfigError) as info:
        override(Recipe(name="x"), [assignment])
    assert str(info.value).startswith(message)


def test_ints_widen_to_floats_lists_become_tuples_and_null_is_kept_where_allowed():
    recipe = override(Recipe(name="x"), ["lr=1", "augment.erasing_area=[0.1, 0.2]", "augment.rotation_deg=15",
                                         "early_stop_patience=null", "protocol=null", "init_weights=null"])
    assert recipe.lr == 1.0 and type(recipe.lr) is float
    assert recipe.augment.rotation_deg == 15.0 and type(recipe.augment.rotation_deg) is float
    assert recipe.augment.erasing_area == (0.1, 0.2)
    assert (recipe.early_stop_patience, recipe.protocol, recipe.init_weights) == (None, None, None)


def test_recipe_from_dict_refuses_a_missing_name_and_an_augment_that_is_not_a_table():
    with pytest.raises(ConfigError, match="recipe field 'name' is missing"):
        recipe_from_dict({"epochs": 3})
    with pytest.raises(ConfigError, match="recipe field 'augment' must be a table of augment fields, got str 'yes'"):
        recipe_from_dict({"name": "x", "augment": "yes"})


def test_the_checks_follow_the_annotations_of_every_field():
    """Every field of Recipe and AugmentConfig has a type the checker knows: a new field cannot slip past it."""
    defaults = Recipe(name="x")
    data = defaults.to_dict()
    for key in RECIPE_FIELD_TYPES:
        if key == "augment":
            continue
        with pytest.raises(ConfigError, match=f"recipe field '{key}' must be"):
            recipe_from_dict({**data, key: object()})
    for key in AUGMENT_FIELD_TYPES:
        with pytest.raises(ConfigError, match=f"recipe field 'augment.{key}' must be"):
            recipe_from_dict({**data, "augment": {key: object()}})


@pytest.mark.parametrize("tag", list_recipes())
def test_every_shipped_recipe_survives_the_type_check_after_a_json_round_trip(tag):
    """What a checkpoint's recipe.json holds (tuples written as lists) rebuilds the same recipe."""
    recipe = get_recipe(tag)
    assert recipe_from_dict(json.loads(recipe.to_json())) == recipe


@pytest.mark.parametrize("assignment,message", [
    ("epochs=abc", "recipe field 'epochs' must be an integer, got str 'abc'"),
    ("augment.scale=big", "recipe field 'augment.scale' must be a number, got str 'big'"),
])
def test_cli_train_refuses_a_badly_typed_override_in_one_line(tmp_path, capsys, assignment, message):
    out = tmp_path / "run"
    code = main(["train", "--recipe", "ckplus-ce-modres18-v1", "--data", f"ckplus48:{tmp_path / 'ckplus48'}", "--out", str(out),
                 "--set", assignment])
    err = capsys.readouterr().err
    assert code == 2 and err == f"ferkit train: error: {message}\n"
    assert not out.exists()


@pytest.mark.parametrize("assignment,message", [
    ("lr=NaN", "recipe field 'lr' must be a finite number, got nan"),  # NaN passed every range check
    ("lr=1e999", "recipe field 'lr' must be a finite number, got inf"),  # trained NaN weights, saved as best.pt
    ("augment.rotation_deg=NaN", "recipe field 'augment.rotation_deg' must be a finite number"),  # trained on blank images
    ('model_kwargs={"dropout": NaN}', "recipe field 'model_kwargs.dropout' must hold finite numbers"),
    ("momentum=-1", "momentum must be in [0, 1)"),  # ValueError from torch.optim before
    ("weight_decay=-1", "weight_decay must be >= 0"),
    ("seed=-1", "seed must be an integer in [0, 2**32)"),  # ValueError from numpy's generator
    ("image_size=0", "image_size must be at least 8 pixels"),  # RuntimeError in interpolate, after recipe.json was written
    ('loss_kwargs={"label_smoothing": 5}', "loss_kwargs.label_smoothing must be a number in [0, 1)"),  # RuntimeError at batch 1
    ('schedule_kwargs={"pct_start": 5}', "schedule_kwargs.pct_start must be a number in (0, 1)"),
    ("name=fer2013-ce-modres18", "override 'name': a recipe's name and version say which recipe trained a run"),
    ("version=0", "override 'version'"),
])
def test_values_torch_would_refuse_deep_inside_are_refused_with_the_field(assignment, message):
    with pytest.raises(ConfigError) as info:
        override(Recipe(name="x", schedule="onecycle"), [assignment])
    assert str(info.value).startswith(message)


@pytest.mark.parametrize("schedule,options,message", [
    ("plateau", {"factor": 2}, "schedule_kwargs.factor must be a number in (0, 1)"),
    ("step", {"step_epochs": "x"}, "schedule_kwargs.step_epochs must be an integer >= 1"),  # TypeError after a whole epoch before
    ("step", {"step_epochs": 2.5}, "schedule_kwargs.step_epochs must be an integer >= 1"),
    ("step", {"gamma": 0}, "schedule_kwargs.gamma must be a number in (0, 1]"),
    ("cosine", {"eta_min": -1}, "schedule_kwargs.eta_min must be a number >= 0"),
])
def test_schedule_options_are_checked_when_the_recipe_is_read(schedule, options, message):
    with pytest.raises(ConfigError, match=message.replace("(", r"\(").replace(")", r"\)").replace("[", r"\[").replace("]", r"\]")):
        override(Recipe(name="x"), [f"schedule={schedule}", "schedule_kwargs=" + json.dumps(options)])
