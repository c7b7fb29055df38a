"""Recipe files: every shipped recipe loads from its TOML file and equals the code-built recipe it replaced;
``extends``, errors that name the file, recipe and key, and warm starts that name a run."""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path

import pytest

from ferkit.errors import CheckpointError, ConfigError
from ferkit.train.config import Recipe, recipe_from_dict, validate_recipe
from ferkit.train.recipe_files import load_recipes
from ferkit.train.recipes import RECIPES, get_recipe, list_recipes, recipe_files, register_recipe
from ferkit.train.runs import check_run_spec, keep_recorded_warm_start, resolve_run_path, resolve_warm_start

SNAPSHOT = Path(__file__).parent / "fixtures" / "recipes_before_toml.json"


def as_json(recipe: Recipe) -> dict:
    return json.loads(json.dumps(dataclasses.asdict(recipe)))


def write(path: Path, text: str) -> Path:
    path.write_text(text)
    return path


@pytest.mark.parametrize("tag", list_recipes())
def test_every_shipped_recipe_loads_from_its_file_and_validates(tag):
    recipe = get_recipe(tag)
    assert recipe.tag == tag and recipe == load_recipes(recipe_files())[tag]
    assert validate_recipe(recipe) is recipe
    assert recipe_from_dict(recipe.to_dict()) == recipe  # what a checkpoint reader rebuilds from recipe.json
    if recipe.init_weights:
        check_run_spec(recipe.init_weights, tag)  # warm starts in shipped files name a run, never a path


def test_recipes_equal_the_code_built_recipes_they_replaced(tmp_path, monkeypatch):
    """The snapshot was written from the old recipes.py before the conversion (tests/fixtures/recipes_before_toml.json)."""
    snapshot = json.loads(SNAPSHOT.read_text())
    assert set(snapshot) <= set(list_recipes())  # every recipe of the old code survives; recipes added since are new tags
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("FERKIT_RUNS_DIR", raising=False)
    warm = 0
    defaults = as_json(Recipe(name=""))
    for tag, before in snapshot.items():
        after = as_json(get_recipe(tag))
        added = {k: after.pop(k) for k in list(after) if k not in before}  # fields added to Recipe since the snapshot
        assert added == {k: defaults[k] for k in added}, tag  # are at their defaults: no shipped recipe changed
        if before["init_weights"] is not None:  # "runs/x/best.pt" is now "run:x/best.pt", resolved in runs/ by default
            Path(before["init_weights"]).parent.mkdir(parents=True, exist_ok=True)
            Path(before["init_weights"]).touch()
            assert after["init_weights"].startswith("run:")
            after["init_weights"] = str(resolve_run_path(after["init_weights"]))
            assert as_json(resolve_warm_start(get_recipe(tag)))["init_weights"] == before["init_weights"]
            warm += 1
        after.pop("description"), before.pop("description")  # prose, not a setting: corrected descriptions resume (resume.recipe_changes)
        # how a host runs it (bf16 where the CPU has it natively, like amp on CUDA), not what it is: its default became
        # True on 2026-12-02 and resume ignores it too (resume.check_same_recipe); the snapshot's recipes ran in fp32
        assert before.get("cpu_amp", False) is False and after.pop("cpu_amp") in (True, False)
        before.pop("cpu_amp", None)
        assert after == before, tag
    assert warm == 13


def test_extends_chains_across_files_merge_augment_and_replace_kwargs(tmp_path):
    base = write(tmp_path / "a.toml", """
[base-v1]
description = "base"
model_kwargs = { dropout = 0.2, width = 32 }
epochs = 5
augment = { erasing_p = 0.25, occlusion_p = 0.4 }

[child-v1]
extends = "base-v1"
model_kwargs = { dropout = 0.3 }
augment = { occlusion_p = 0.7 }
""")
    other = write(tmp_path / "b.toml", """
[child-v2]
extends = "child-v1"
lr = 1
init_weights = "run:child-v1/best.pt"
""")
    recipes = load_recipes([other, base])  # a parent may sit in a later file
    child = recipes["child-v2"]
    assert (child.name, child.version, child.description, child.epochs) == ("child", 2, "base", 5)
    assert child.model_kwargs == {"dropout": 0.3}  # a table replaces the parent's whole
    assert (child.augment.erasing_p, child.augment.occlusion_p) == (0.25, 0.7)  # augment keys are set one by one
    assert child.lr == 1.0 and isinstance(child.lr, float)
    assert child.init_weights == "run:child-v1/best.pt"
    assert recipes["base-v1"].init_weights is None


def test_an_extends_cycle_is_an_error_naming_the_chain(tmp_path):
    path = write(tmp_path / "loop.toml", '[a-v1]\nextends = "c-v1"\n[b-v1]\nextends = "a-v1"\n[c-v1]\nextends = "b-v1"\n')
    with pytest.raises(ConfigError, match=r"loop\.toml: recipe 'a-v1': 'extends' makes a cycle: a-v1 -> c-v1 -> b-v1 -> a-v1"):
        load_recipes([path])
    path = write(tmp_path / "self.toml", '[a-v1]\nextends = "a-v1"\n')
    with pytest.raises(ConfigError, match="cycle: a-v1 -> a-v1"):
        load_recipes([path])


@pytest.mark.parametrize("body,message", [
    ('epochs = 3\nlearning_rate = 0.1', "recipe 'bad-v1': unknown key 'learning_rate'; valid keys: extends, description"),
    ('epochs = "ten"', "recipe 'bad-v1': key 'epochs' must be an integer, got str 'ten'"),
    ('epochs = 2.5', "key 'epochs' must be an integer, got float"),
    ('amp = 1', "key 'amp' must be true or false, got int"),
    ('lr = true', "key 'lr' must be a number, got bool"),
    ('model_kwargs = 3', "key 'model_kwargs' must be a table"),
    ('augment = { erasing_area = [0.1] }', r"key 'augment.erasing_area' must be a list of 2 numbers"),
    ('augment = { jitter = 0.1 }', "unknown key 'augment.jitter'; valid augment keys: hflip"),
    ('augment = 0.5', "key 'augment' must be a table of augment fields"),
    ('extends = "nope-v1"', "key 'extends' names 'nope-v1', which no recipe file defines"),
    ('version = 2', "key 'version' is not allowed: name and version come from the table name"),
    ('init_weights = "runs/x/best.pt"', "key 'init_weights' must name a run"),
    ('init_weights = "run:../x/best.pt"', "must look like run:<run name>/<file in the run>"),
    ('optimizer = "lamb"', "recipe 'bad-v1': optimizer must be one of"),  # validate_recipe's own check, with the place
])
def test_bad_keys_and_values_name_the_file_recipe_and_key(tmp_path, body, message):
    path = write(tmp_path / "bad.toml", f"[bad-v1]\n{body}\n")
    with pytest.raises(ConfigError) as info:
        load_recipes([path])
    assert str(info.value).startswith(f"{path}: ") and message in str(info.value)


@pytest.mark.parametrize("text,message", [
    ("[bad-v1\nepochs = 1\n", "is not valid TOML"),
    ("epochs = 1\n", "top-level key 'epochs' must be a recipe table"),
    ("[Bad_Name]\nepochs = 1\n", "must be named name-vN"),
])
def test_malformed_files_name_the_file(tmp_path, text, message):
    path = write(tmp_path / "broken.toml", text)
    with pytest.raises(ConfigError, match=message) as info:
        load_recipes([path])
    assert str(path) in str(info.value)


def test_a_tag_defined_in_two_files_names_both(tmp_path):
    first, second = write(tmp_path / "one.toml", "[x-v1]\n"), write(tmp_path / "two.toml", "[x-v1]\nepochs = 2\n")
    with pytest.raises(ConfigError, match=r"'x-v1' is defined twice: in .*one\.toml and in .*two\.toml"):
        load_recipes([first, second])


def test_the_registry_refuses_a_second_recipe_with_a_shipped_tag_and_lists_names():
    with pytest.raises(ConfigError, match="registered twice"):
        register_recipe(get_recipe("tiny-smoke-v1"))
    with pytest.raises(ConfigError, match=r"unknown recipe 'tiny-smoke-v9'; did you mean 'tiny-smoke-v1'\?; available recipes: .*tiny-smoke-v1"):
        get_recipe("tiny-smoke-v9")
    assert "fer2013-cpu-long-modres18-kd-v1" in RECIPES and len(RECIPES) == len(list_recipes())


def test_run_names_resolve_in_the_given_dir_then_the_environment_then_runs(tmp_path, monkeypatch):
    for root in ("explicit", "env", "cwd/runs"):
        (tmp_path / root / "src-v1").mkdir(parents=True)
        (tmp_path / root / "src-v1" / "best.pt").write_bytes(root.encode())
    monkeypatch.chdir(tmp_path / "cwd")
    monkeypatch.delenv("FERKIT_RUNS_DIR", raising=False)
    assert resolve_run_path("run:src-v1/best.pt") == Path("runs/src-v1/best.pt")
    monkeypatch.setenv("FERKIT_RUNS_DIR", str(tmp_path / "env"))
    assert resolve_run_path("run:src-v1/best.pt").read_bytes() == b"env"
    assert resolve_run_path("run:src-v1/best.pt", tmp_path / "explicit").read_bytes() == b"explicit"
    recipe = dataclasses.replace(get_recipe("tiny-smoke-v1"), init_weights="run:src-v1/best.pt")
    assert resolve_warm_start(recipe).init_weights == str(tmp_path / "env" / "src-v1" / "best.pt")
    path_recipe = dataclasses.replace(recipe, init_weights="some/file.pt")  # a --set path is used as given
    assert resolve_warm_start(path_recipe) is path_recipe


def test_a_run_below_the_working_directory_is_recorded_relative_to_it(tmp_path, monkeypatch):
    """run_recipe passes its runs directory as an absolute path; from the repository root the run still
    records runs/<run>/best.pt, the spelling of every earlier run and result file."""
    (tmp_path / "runs" / "src-v1").mkdir(parents=True)
    (tmp_path / "runs" / "src-v1" / "best.pt").touch()
    monkeypatch.chdir(tmp_path)
    recipe = dataclasses.replace(get_recipe("tiny-smoke-v1"), init_weights="run:src-v1/best.pt")
    assert resolve_warm_start(recipe, tmp_path / "runs").init_weights == "runs/src-v1/best.pt"


def test_a_missing_run_names_the_directory_it_looked_in(tmp_path):
    (tmp_path / "runs" / "half-v1").mkdir(parents=True)
    with pytest.raises(CheckpointError, match=f"no run 'gone-v1' in the runs directory {tmp_path / 'runs'} .*--runs-dir"):
        resolve_run_path("run:gone-v1/best.pt", tmp_path / "runs")
    with pytest.raises(CheckpointError, match=r"has no best\.pt"):
        resolve_run_path("run:half-v1/best.pt", tmp_path / "runs")


def test_a_resumed_run_keeps_the_warm_start_spelling_it_recorded(tmp_path, monkeypatch):
    """A run started with init_weights "runs/src/best.pt" (today's recipes) resumes when the runs
    directory is given as an absolute path: same file, the recorded string is kept."""
    (tmp_path / "runs" / "src").mkdir(parents=True)
    (tmp_path / "runs" / "src" / "best.pt").touch()
    (tmp_path / "work").mkdir()
    monkeypatch.chdir(tmp_path / "work")
    run_dir = tmp_path / "runs" / "dst"
    run_dir.mkdir()
    recipe = dataclasses.replace(get_recipe("tiny-smoke-v1"), init_weights="run:src/best.pt")
    (run_dir / "recipe.json").write_text(dataclasses.replace(recipe, init_weights="../runs/src/best.pt").to_json())
    resolved = resolve_warm_start(recipe, tmp_path / "runs")
    assert resolved.init_weights == str(tmp_path / "runs" / "src" / "best.pt")  # not below the working directory: absolute
    assert keep_recorded_warm_start(resolved, run_dir).init_weights == "../runs/src/best.pt"
    (tmp_path / "runs" / "other").mkdir()
    (tmp_path / "runs" / "other" / "best.pt").touch()
    elsewhere = dataclasses.replace(recipe, init_weights=str(tmp_path / "runs" / "other" / "best.pt"))
    assert keep_recorded_warm_start(elsewhere, run_dir) is elsewhere  # another file: the resume check will refuse it


def test_an_unresolved_run_name_is_refused_where_weights_are_read():
    from ferkit.models import build_model
    from ferkit.train.transfer import load_init_weights

    with pytest.raises(ConfigError, match="name a run; resolve it in a runs directory first"):
        load_init_weights(build_model("modified_resnet18", num_classes=3), "run:fer2013-ce-modres18/best.pt")


# ------------------------------------------------------------------------------------ --recipe NAME or FILE


def test_resolve_recipe_takes_a_shipped_name_or_a_file_of_ones_own(tmp_path):
    from ferkit.train.recipes import resolve_recipe

    assert resolve_recipe("tiny-smoke-v1") is get_recipe("tiny-smoke-v1")
    path = write(tmp_path / "mine.toml", '[my-smoke-v1]\nextends = "tiny-smoke-v1"\nepochs = 7\naugment = { rotation_deg = 3 }\n')
    recipe = resolve_recipe(str(path))
    assert (recipe.tag, recipe.epochs, recipe.augment.rotation_deg) == ("my-smoke-v1", 7, 3.0)
    assert dataclasses.replace(recipe, name="tiny-smoke", epochs=get_recipe("tiny-smoke-v1").epochs,
                               augment=get_recipe("tiny-smoke-v1").augment) == get_recipe("tiny-smoke-v1")  # the rest is the parent's
    assert "my-smoke-v1" not in RECIPES  # reading a file registers nothing


def test_resolve_recipe_picks_one_of_several_with_path_colon_name(tmp_path):
    from ferkit.train.recipes import resolve_recipe

    path = write(tmp_path / "two.toml", '[a-v1]\nepochs = 2\n\n[b-v1]\nextends = "a-v1"\nepochs = 5\n')
    assert resolve_recipe(f"{path}:b-v1").epochs == 5 and resolve_recipe(f"{path}:a-v1").epochs == 2
    with pytest.raises(ConfigError) as info:
        resolve_recipe(str(path))
    assert str(info.value) == f"{path} holds 2 recipes (a-v1, b-v1); pick one with {path}:NAME, e.g. {path}:a-v1"
    with pytest.raises(ConfigError, match=r"has no recipe 'c-v1'; it holds: a-v1, b-v1"):
        resolve_recipe(f"{path}:c-v1")


@pytest.mark.parametrize("value", ["missing.toml", "experiments/mine", "missing.toml:a-v1"])
def test_a_path_that_does_not_exist_is_not_taken_for_a_recipe_name(tmp_path, monkeypatch, value):
    from ferkit.train.recipes import resolve_recipe

    monkeypatch.chdir(tmp_path)
    with pytest.raises(ConfigError) as info:
        resolve_recipe(value)
    assert str(info.value) == f"recipe file {value.split(':')[0]} not found"


def test_an_unknown_name_lists_the_recipes_and_the_file_form():
    from ferkit.train.recipes import resolve_recipe

    with pytest.raises(ConfigError, match=r"unknown recipe 'tiny-smoke-v9'; did you mean 'tiny-smoke-v1'\?; available recipes: .*tiny-smoke-v1.*; or give a recipe file, path/to/file.toml\[:NAME\]"):
        resolve_recipe("tiny-smoke-v9")


def test_a_recipe_file_with_a_typo_or_a_shipped_tag_is_refused_naming_the_file(tmp_path):
    from ferkit.train.recipes import resolve_recipe

    path = write(tmp_path / "typo.toml", '[mine-v1]\nextends = "tiny-smoke-v1"\nepohcs = 3\n')
    with pytest.raises(ConfigError) as info:
        resolve_recipe(str(path))
    assert str(info.value).startswith(f"{path}: recipe 'mine-v1': unknown key 'epohcs'; valid keys: extends, description")
    path = write(tmp_path / "clash.toml", '[tiny-smoke-v1]\nepochs = 3\n')
    with pytest.raises(ConfigError, match=r"clash\.toml: recipe 'tiny-smoke-v1' is already a recipe ferkit knows"):
        resolve_recipe(str(path))
    with pytest.raises(ConfigError, match="holds no recipe"):
        resolve_recipe(str(write(tmp_path / "empty.toml", "")))
    (tmp_path / "folder.toml").mkdir()
    with pytest.raises(ConfigError, match="is a directory, not a .toml file"):
        resolve_recipe(str(tmp_path / "folder.toml"))


@pytest.mark.parametrize("name, text, tag", [
    ("recipe.json", json.dumps(get_recipe("tiny-smoke-v1").to_dict(), indent=2), "tiny-smoke-v1"),  # a run's recipe.json
    ("printed.txt", '{"name": "mine", "version": 3}', "mine-v3"),  # `ferkit recipes NAME` output saved under another suffix
    ("half.json", '{"name": "tiny-smoke", ', "NAME-vN"),  # a .json file cut short
])
def test_a_json_file_given_as_a_recipe_file_says_recipe_files_are_toml(tmp_path, name, text, tag):
    """Found by an audit: a run's recipe.json was only "not valid TOML"."""
    path = write(tmp_path / name, text)
    with pytest.raises(ConfigError) as info:
        load_recipes([path])
    message = str(info.value)
    assert message.startswith(f"{path} is JSON, but recipe files are TOML (docs/recipes.md)") and "not valid TOML" not in message
    assert f"give the recipe it names ({tag}: its shipped tag, or the .toml file that defined it) with --resume and the run's --out" in message
    assert f'extends = "{tag}"' in message
