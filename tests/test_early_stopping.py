"""Early stopping on the validation split (issue 16): the run stops after exactly ``early_stop_patience``
epochs without a better validation score, a stopped-and-resumed run stops where an uninterrupted one
does, a run that already stopped is finished when resumed, and bad settings are refused up front."""

from __future__ import annotations

import dataclasses
import json

import pytest

from data.loop_reference import one_thread, reference_split, weights_digest
from ferkit.artifacts import load_checkpoint
from ferkit.data.registry import ExperimentSplit
from ferkit.errors import ConfigError
from ferkit.train import loop
from ferkit.train.config import Recipe, override, recipe_from_dict
from ferkit.train.early_stop import early_stop
from ferkit.train.recipe_files import load_recipes

# Validation accuracy per epoch: a tie with the best (epoch 3) is no improvement; epoch 5 improves again.
SCRIPT = [0.5, 0.6, 0.6, 0.55, 0.7, 0.6, 0.6, 0.6, 0.6, 0.6, 0.6, 0.6]


def tiny_recipe(**changes) -> Recipe:
    base = Recipe(name="early-stop-test", model="modified_resnet18", model_kwargs={"channels": [8, 16, 16, 32]}, epochs=len(SCRIPT),
                  batch_size=8, lr=0.05, schedule="none", early_stop_patience=3)
    return recipe_from_dict(dataclasses.replace(base, **changes).to_dict())


@pytest.fixture
def scripted_validation(monkeypatch):
    """Validation scores that follow SCRIPT. The epoch is read from the run's own metrics log, so a
    resumed run (a fresh call of ``train``) continues the script where the stopped one left it."""
    def scores(run):
        log = run.last_path.parent / "metrics.jsonl"
        score = SCRIPT[len(log.read_text().splitlines()) if log.exists() else 0]
        return {"accuracy": score, "macro_f1": score, "balanced_accuracy": score}

    monkeypatch.setattr(loop, "validation_metrics", scores)


def run(recipe: Recipe, out, *, resume: bool = False, stop_after: int | None = None, lines: list[str] | None = None):
    """``train`` on the tiny reference split; ``stop_after`` kills the run once that epoch is on disk."""
    class Killed(Exception):
        pass

    def log(line: str) -> None:
        if lines is not None:
            lines.append(line)
        if stop_after is not None and line.startswith(f"epoch {stop_after}/"):
            raise Killed

    with one_thread():
        try:
            return loop.train(recipe, reference_split(), out, device="cpu", progress=False, log=log, resume=resume)
        except Killed:
            return None


def val_column(history):
    return [row["val_accuracy"] for row in history]


@pytest.mark.parametrize(("patience", "stop_epoch", "best_epoch"), [(2, 4, 2), (3, 8, 5)])
def test_the_run_stops_after_exactly_patience_epochs_without_improvement(scripted_validation, tmp_path, patience, stop_epoch, best_epoch):
    lines: list[str] = []
    result = run(tiny_recipe(early_stop_patience=patience), tmp_path / "run", lines=lines)
    assert result.epochs_trained == stop_epoch and len(result.history) == stop_epoch
    assert val_column(result.history) == SCRIPT[:stop_epoch]
    record = {"epoch": stop_epoch, "best_epoch": best_epoch, "patience": patience, "metric": "val_accuracy", "best_val": SCRIPT[best_epoch - 1]}
    assert result.stopped_early == record and result.best_epoch == best_epoch
    # Recorded in the stopping epoch's row only, in the metrics log and the summary; best.pt is the best epoch.
    rows = [json.loads(line) for line in (tmp_path / "run" / "metrics.jsonl").read_text().splitlines()]
    assert [row.get("stopped_early") for row in rows] == [None] * (stop_epoch - 1) + [record]
    summary = json.loads((tmp_path / "run" / "train_summary.json").read_text())
    assert (summary["epochs"], summary["epochs_trained"], summary["stopped_early"]) == (len(SCRIPT), stop_epoch, record)
    assert load_checkpoint(tmp_path / "run" / "best.pt")["epoch"] == best_epoch
    stops = [line for line in lines if line.startswith("early stop")]
    assert stops == [f"early stop after epoch {stop_epoch}/{len(SCRIPT)}: val_accuracy has not improved for {patience} epochs "
                     f"(patience {patience}); best.pt is epoch {best_epoch} (val_accuracy {SCRIPT[best_epoch - 1]:.4f})"]


def test_without_patience_every_epoch_trains(scripted_validation, tmp_path):
    result = run(tiny_recipe(early_stop_patience=None, epochs=6), tmp_path / "run")
    assert result.epochs_trained == 6 and result.stopped_early is None
    assert all("stopped_early" not in row for row in result.history)


def test_a_stopped_and_resumed_run_stops_where_the_uninterrupted_run_does(scripted_validation, tmp_path):
    recipe = tiny_recipe()
    full = run(recipe, tmp_path / "full")
    assert full.epochs_trained == 8
    assert run(recipe, tmp_path / "part", stop_after=6) is None  # killed one epoch after the best, two before the stop
    assert len((tmp_path / "part" / "metrics.jsonl").read_text().splitlines()) == 6
    resumed = run(recipe, tmp_path / "part", resume=True)
    assert (resumed.epochs_trained, resumed.best_epoch, resumed.stopped_early) == (full.epochs_trained, full.best_epoch, full.stopped_early)
    assert [row["epoch"] for row in resumed.history] == list(range(1, 9))
    assert [row["train_loss"] for row in resumed.history] == [row["train_loss"] for row in full.history]
    last = {name: weights_digest(load_checkpoint(tmp_path / name / "last.pt")["model"]) for name in ("full", "part")}
    assert last["part"] == last["full"]


def test_resuming_a_run_that_stopped_early_trains_nothing(scripted_validation, tmp_path, monkeypatch):
    recipe = tiny_recipe()
    first = run(recipe, tmp_path / "run")
    log_before = (tmp_path / "run" / "metrics.jsonl").read_text()

    def no_epoch(*args, **kwargs):
        raise AssertionError("a run that stopped early trained another epoch")

    monkeypatch.setattr(loop, "train_one_epoch", no_epoch)
    lines: list[str] = []
    again = run(recipe, tmp_path / "run", resume=True, lines=lines)
    assert (again.epochs_trained, again.best_epoch, again.stopped_early) == (8, 5, first.stopped_early)
    assert (tmp_path / "run" / "metrics.jsonl").read_text() == log_before
    assert sum(line.startswith("early stop after epoch 8/") for line in lines) == 1


def test_the_decision_follows_the_selection_rule_and_min_epochs():
    history = [{"epoch": i + 1, "val_accuracy": v, "val_macro_f1": 0.1 * (i + 1)} for i, v in enumerate(SCRIPT)]
    recipe = tiny_recipe(early_stop_patience=2)
    assert early_stop(history[:3], recipe) is None  # epoch 3 ties epoch 2: one epoch without improvement
    assert early_stop(history[:4], recipe)["best_epoch"] == 2
    later = tiny_recipe(early_stop_patience=2, early_stop_min_epochs=7)
    assert [early_stop(history[:n], later) is not None for n in range(4, 9)] == [False, False, False, True, True]
    assert early_stop(history[:7], later)["best_epoch"] == 5
    assert early_stop(history, tiny_recipe(select_metric="macro_f1")) is None  # macro-F1 improves every epoch
    assert early_stop(history, tiny_recipe(early_stop_patience=None)) is None


def test_early_stopping_without_a_validation_split_is_refused_before_training(tmp_path):
    split = reference_split()
    no_val = ExperimentSplit("noval", split.train, None, split.test)
    with pytest.raises(ConfigError, match="early_stop_patience=3 watches the validation split, and noval has none; set early_stop_patience=null"):
        loop.train(tiny_recipe(), no_val, tmp_path / "run", device="cpu", progress=False, log=lambda s: None)
    assert not (tmp_path / "run" / "last.pt").exists()


@pytest.mark.parametrize("value,message", [
    ("0", "early_stop_patience must be a positive integer"), ("-2", "early_stop_patience must be a positive integer"),
    # a value of another type is refused by the field type check first (tests/test_recipe_fields.py)
    ("2.5", "recipe field 'early_stop_patience' must be an integer, got float"),
    ("true", "recipe field 'early_stop_patience' must be an integer, got bool"),
    ('"5"', "recipe field 'early_stop_patience' must be an integer, got str"),
])
def test_patience_must_be_a_positive_integer(value, message):
    with pytest.raises(ConfigError, match=message):
        override(Recipe(name="x"), [f"early_stop_patience={value}"])


def test_patience_and_min_epochs_are_set_like_any_recipe_field(tmp_path):
    recipe = override(Recipe(name="x"), ["early_stop_patience=15", "epochs=100", "early_stop_min_epochs=30"])  # what --set passes
    assert (recipe.early_stop_patience, recipe.early_stop_min_epochs, recipe.epochs) == (15, 30, 100)
    assert override(recipe, ["early_stop_patience=null"]).early_stop_patience is None
    with pytest.raises(ConfigError, match="early_stop_min_epochs must be an integer >= 0"):
        override(Recipe(name="x"), ["early_stop_min_epochs=-1"])
    path = tmp_path / "r.toml"
    path.write_text('[stop-v1]\nearly_stop_patience = 10\n')
    assert load_recipes([path])["stop-v1"].early_stop_patience == 10


def test_run_recipe_fold_rows_say_how_many_epochs_each_fold_trained(scripted_validation, tmp_path, monkeypatch):
    """``--set early_stop_patience=N`` as the CK+ queue passes it: the fold row carries the epochs trained and the stop."""
    import sys
    from pathlib import Path

    from data.fixtures import write_fer2013_folder

    sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "benchmarks"))
    import common
    import run_recipe

    data = write_fer2013_folder(tmp_path / "fer", per_class=2)
    monkeypatch.setattr(common, "RESULTS", tmp_path / "results")
    sets = ["early_stop_patience=1", "epochs=6", "schedule=none", 'model_kwargs={"channels": [8, 16, 16, 32]}']
    monkeypatch.setattr(sys, "argv", ["run_recipe.py", "tiny-smoke-v1", "--data", f"fer2013:{data}", "--runs", str(tmp_path / "runs"),
                                      "--device", "cpu", *[item for s in sets for item in ("--set", s)]])
    with one_thread():
        assert run_recipe.main() == 0
    row = json.loads(next((tmp_path / "results").glob("*.json")).read_text())["folds"][0]
    assert list(row)[:5] == ["split", "best_epoch", "best_val", "epochs_trained", "stopped_early"]
    # SCRIPT: 0.5, 0.6, then a tie at epoch 3, one epoch without improvement.
    assert (row["best_epoch"], row["epochs_trained"]) == (2, 3)
    assert row["stopped_early"] == {"epoch": 3, "best_epoch": 2, "patience": 1, "metric": "val_accuracy", "best_val": 0.6}


@pytest.mark.parametrize("schedule", ["onecycle", "cosine"])
def test_early_stopping_a_schedule_that_anneals_over_all_epochs_is_refused_before_training(tmp_path, schedule):
    """One-cycle and cosine reach their lowest learning rate only at the last epoch: a stop before it keeps an
    unconverged network (measured on CK+ 10-fold), so the run is refused with the alternatives, before any work."""
    with pytest.raises(ConfigError, match=f"schedule '{schedule}': that schedule anneals the learning rate over all 12 epochs.*"
                                          "use schedule 'plateau', 'step' or 'none'"):
        run(tiny_recipe(schedule=schedule), tmp_path / "run")
    assert not (tmp_path / "run" / "last.pt").exists()
    loop.check_output(tmp_path / "ok", tiny_recipe(schedule=schedule, early_stop_patience=None), reference_split(), resume=False)


def test_ties_go_to_the_lower_validation_loss_only_when_asked():
    """A validation split of a few subjects ties often: with select_ties "val_loss" an epoch that equals the best
    accuracy with a lower validation loss becomes the best (and resets the patience); "first" keeps the earliest."""
    from ferkit.train.validate import better

    best = {"val_accuracy": 0.6, "val_loss": 0.9}
    assert better({"val_accuracy": 0.61, "val_loss": 2.0}, best, "val_accuracy", "first")
    assert not better({"val_accuracy": 0.6, "val_loss": 0.5}, best, "val_accuracy", "first")
    assert better({"val_accuracy": 0.6, "val_loss": 0.5}, best, "val_accuracy", "val_loss")
    assert not better({"val_accuracy": 0.6, "val_loss": 0.95}, best, "val_accuracy", "val_loss")
    assert not better({"val_accuracy": 0.6}, best, "val_accuracy", "val_loss")  # no loss logged: no tie-break
    assert not better({"val_accuracy": 0.59, "val_loss": 0.1}, best, "val_accuracy", "val_loss")
    assert better({"val_accuracy": 0.1}, None, "val_accuracy", "first")
    # epochs 2-5 tie at 0.6 with a falling loss: "first" stops after epoch 4 (best 2), "val_loss" keeps going (best 5)
    history = [{"epoch": i + 1, "val_accuracy": acc, "val_loss": loss}
               for i, (acc, loss) in enumerate([(0.5, 1.2), (0.6, 1.0), (0.6, 0.9), (0.6, 0.8), (0.6, 0.7), (0.6, 0.75)])]
    assert early_stop(history[:4], tiny_recipe(early_stop_patience=2))["best_epoch"] == 2
    assert early_stop(history[:5], tiny_recipe(early_stop_patience=2, select_ties="val_loss")) is None
    assert early_stop(history, tiny_recipe(early_stop_patience=1, select_ties="val_loss"))["best_epoch"] == 5


def test_val_loss_is_logged_and_breaks_ties_in_a_real_run(monkeypatch, tmp_path):
    """On the tiny reference split with validation accuracy pinned to one value, "val_loss" makes best.pt the
    epoch of the lowest logged validation loss; "first" keeps epoch 1."""
    real = loop.validation_metrics

    def tied(run):
        return {**real(run), "accuracy": 0.5}

    monkeypatch.setattr(loop, "validation_metrics", tied)
    for ties in ("first", "val_loss"):
        result = run(tiny_recipe(epochs=4, early_stop_patience=None, select_ties=ties), tmp_path / ties)
        losses = [row["val_loss"] for row in result.history]
        assert all(loss > 0 for loss in losses)
        if ties == "first":
            assert result.best_epoch == 1
        else:
            running = [min(losses[: i + 1]) for i in range(4)]
            assert result.best_epoch == 1 + losses.index(running[-1]) > 1  # the loss fell on this split: a later epoch won
            assert load_checkpoint(tmp_path / ties / "best.pt")["epoch"] == result.best_epoch


def test_bad_tie_rules_are_refused():
    with pytest.raises(ConfigError, match="select_ties must be one of"):
        tiny_recipe(select_ties="last")
    with pytest.raises(ConfigError, match="needs val_classifier='head'"):
        tiny_recipe(select_ties="val_loss", val_classifier="nearest_centroid")
