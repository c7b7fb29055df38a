"""The one experiment runner behind ``ferkit train`` and ``benchmarks/run_recipe.py``: warm starts through
a runs directory, and a run written before recipes were files resumed by recipe name."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import numpy as np
import pytest
import torch

from data.fixtures import write_fer2013_folder
from ferkit.cli import main
from ferkit.data import experiment_splits
from ferkit.errors import ConfigError
from ferkit.train.config import override, recipe_from_dict
from ferkit.train.experiment import choose_folds, fold_run_dir, mean_std, write_folds_summary
from ferkit.train.loop import train

REPO = Path(__file__).resolve().parents[1]
SNAPSHOT = Path(__file__).parent / "fixtures" / "recipes_before_toml.json"


def test_fold_choice_run_dirs_and_statistics():
    assert choose_folds(None, 3) == [0, 1, 2] and choose_folds([2, 0], 3) == [2, 0]
    with pytest.raises(ConfigError, match=r"fold must be in 0\.\.2, got 3"):
        choose_folds([3], 3)
    with pytest.raises(ConfigError, match="no fold chosen"):
        choose_folds([], 3)
    assert mean_std([0.5, 0.7]) == pytest.approx((0.6, 0.1))
    assert fold_run_dir("out", ["only"], "only") == Path("out")


def test_train_warm_starts_from_a_run_named_in_the_runs_dir(tmp_path, capsys):
    data = write_fer2013_folder(tmp_path / "fer", per_class=2)
    runs = tmp_path / "runs"
    common = ["--recipe", "tiny-smoke-v1", "--data", f"fer2013:{data}", "--quiet", "--set", "epochs=1", "--no-test", "--device", "cpu"]
    assert main(["train", *common, "--out", str(runs / "src-v1")]) == 0
    source = torch.load(runs / "src-v1" / "best.pt", map_location="cpu", weights_only=False)["model"]

    assert main(["train", *common, "--out", str(tmp_path / "dst"), "--set", "init_weights=run:src-v1/best.pt", "--set", "lr=1e-9",
                 "--runs-dir", str(runs)]) == 0
    recorded = json.loads((tmp_path / "dst" / "recipe.json").read_text())
    assert recorded["init_weights"] == str(runs / "src-v1" / "best.pt")  # the run records the file it started from
    assert "best.pt: loaded" in capsys.readouterr().out
    after = torch.load(tmp_path / "dst" / "best.pt", map_location="cpu", weights_only=False)["model"]
    key = next(k for k in source if k.endswith("conv1.weight"))
    # At lr 1e-9 the trained weights are the warm start's; from the seed-0 init they would differ by the
    # source run's own training (Adam moves each weight by about lr = 1e-3 per step).
    assert (after[key].float() - source[key].float()).abs().max().item() < 1e-4

    assert main(["train", *common, "--out", str(tmp_path / "lost"), "--set", "init_weights=run:gone-v1/best.pt", "--runs-dir", str(runs)]) == 2
    assert f"no run 'gone-v1' in the runs directory {runs}" in capsys.readouterr().err
    assert not (tmp_path / "lost" / "last.pt").exists()  # refused before training


def test_run_recipe_resumes_a_run_written_before_recipes_were_files(tmp_path, monkeypatch, capsys):
    """A run trained from the code-built recipe (the snapshot) is continued by run_recipe by name, not refused
    as "a different recipe" and not retrained; the result JSON has the same shape as before."""
    sys.path.insert(0, str(REPO / "benchmarks"))
    import common
    import run_recipe

    data = write_fer2013_folder(tmp_path / "fer", per_class=3)
    tag, overrides = "fer2013-cpu-study-modres18-v1", ["epochs=1", "batch_size=16"]
    old_recipe = override(recipe_from_dict(json.loads(SNAPSHOT.read_text())[tag]), overrides)
    args = run_recipe.argparse.Namespace(name=None, protocol=None, overrides=overrides)
    run_dir = tmp_path / "runs" / run_recipe.result_name(old_recipe, args)
    split = experiment_splits(f"fer2013:{data}")[0]
    train(old_recipe, split, run_dir, device="cpu", progress=False, log=lambda s: None)

    monkeypatch.setattr(common, "RESULTS", tmp_path / "results")
    monkeypatch.setattr(sys, "argv", ["run_recipe.py", tag, "--data", f"fer2013:{data}", "--runs", str(tmp_path / "runs"), "--device", "cpu",
                                      *[item for o in overrides for item in ("--set", o)]])
    assert run_recipe.main() == 0
    # A refused resume would exit with "a different recipe"; a fresh start would refuse the existing last.pt.
    assert len((run_dir / "metrics.jsonl").read_text().splitlines()) == 1  # resumed at its last epoch: nothing retrained
    result = json.loads(next((tmp_path / "results").glob("*.json")).read_text())
    assert set(result) >= {"recipe", "recipe_config", "data", "protocol", "seed", "selection", "overrides", "summary", "folds", "device", "commit", "wall_time_s"}
    # cpu_amp aside: the snapshot ran in fp32, the recipe now asks for bf16 where the CPU has it (a host setting that
    # resume ignores; each epoch row logs the precision it ran in)
    recorded, old = result["recipe_config"], json.loads(old_recipe.to_json())
    assert recorded.pop("cpu_amp") is True and old.pop("cpu_amp") is False
    assert result["recipe"] == tag and recorded == old
    row = result["folds"][0]
    assert list(row) == ["split", "best_epoch", "best_val", "train_size", "test_size", "leaks_subjects", "test"]
    assert sorted(row["test"]) == ["clean_flip", "clean_none", "occ_all_flip", "occ_all_none", "occ_half_flip", "occ_half_none"]
    assert result["summary"]["clean_none"]["mean_accuracy"] == row["test"]["clean_none"]["accuracy"]
    assert result["summary"]["clean_none"]["n_folds"] == 1
    # The probabilities behind the scores are kept (for ensemble_folds.py): the best checkpoint's, image by image.
    from ferkit.artifacts import load_model
    from ferkit.evaluate.predict import predict_probabilities

    with np.load(tmp_path / "results" / "probabilities" / f"{run_dir.name}.npz") as kept:
        fold = row["split"]
        assert list(kept["class_names"]) == list(split.test.class_names)
        assert list(kept[f"{fold}__test_ids"]) == list(split.test.ids) and list(kept[f"{fold}__val_ids"]) == list(split.val.ids)
        loaded = load_model(run_dir / "best.pt")
        for name, images in (("clean_flip", split.test.images), ("val_none", split.val.images)):
            fresh = predict_probabilities(loaded.model, images, in_chans=loaded.in_chans, image_size=loaded.image_size, tta=name.split("_")[-1])
            assert np.allclose(kept[f"{fold}__{name}"].astype(np.float32), fresh, atol=2e-3)
        assert sorted(k[len(fold) + 2:] for k in kept.files if k.endswith("_sha1")) == ["clean_sha1", "occ_all_sha1", "occ_half_sha1"]


def _row(split: str, accuracy: float) -> dict:
    return {"split": split, "test_accuracy": accuracy}


def test_fold_summary_merges_earlier_calls_and_replaces_a_rescored_fold(tmp_path):
    from ferkit.train.recipes import get_recipe

    recipe = get_recipe("tiny-smoke-v1")
    write_folds_summary(tmp_path, recipe, [_row("fold2", 0.5), _row("fold10", 1.0)])
    summary = write_folds_summary(tmp_path, recipe, [_row("fold5", 0.25), _row("fold2", 0.75)])  # fold2 scored again
    assert summary == json.loads((tmp_path / "folds_summary.json").read_text())
    assert [(r["split"], r["test_accuracy"]) for r in summary["folds"]] == [("fold2", 0.75), ("fold5", 0.25), ("fold10", 1.0)]
    assert summary["n_folds"] == 3 and summary["mean_accuracy"] == pytest.approx(2 / 3)
    assert summary["std_accuracy"] == pytest.approx(((0.75 - 2 / 3) ** 2 + (0.25 - 2 / 3) ** 2 + (1 / 3) ** 2) ** 0.5 / 3 ** 0.5)


def test_fold_summary_refuses_another_recipes_or_an_unreadable_summary(tmp_path):
    from ferkit.train.recipes import get_recipe

    recipe = get_recipe("tiny-smoke-v1")
    path = tmp_path / "folds_summary.json"
    path.write_text(json.dumps({"recipe": "other-v1", "folds": [_row("fold0", 0.9)]}))
    with pytest.raises(ConfigError, match="summarises recipe 'other-v1', not 'tiny-smoke-v1'"):
        write_folds_summary(tmp_path, recipe, [_row("fold1", 0.5)])
    path.write_text("{not json")
    with pytest.raises(ConfigError, match="is not a fold summary ferkit can read"):
        write_folds_summary(tmp_path, recipe, [_row("fold1", 0.5)])
    assert path.read_text() == "{not json"  # left as it was


def test_a_protocol_given_to_train_folds_is_recorded_in_the_recipe_each_fold_trains(tmp_path, monkeypatch):
    """run_recipe --protocol random800 recorded the recipe's own protocol (null = kfold10) in the checkpoints, so
    evaluate and ensemble would have rebuilt the wrong splits from them."""
    from data.fixtures import write_ckplus
    from ferkit.train import experiment
    from ferkit.train.recipes import get_recipe

    data = write_ckplus(tmp_path / "ck", subjects=80)
    trained = []
    monkeypatch.setattr(experiment, "train", lambda recipe, split, run_dir, **_: trained.append((recipe.protocol, split.name)))
    recipe = get_recipe("tiny-smoke-v1")
    assert recipe.protocol is None
    runs = list(experiment.train_folds(recipe, f"ckplus48:{data}", tmp_path / "out", protocol="random800", progress=False))
    assert trained == [("random800", runs[0].split.name)] and len(runs) == 1
