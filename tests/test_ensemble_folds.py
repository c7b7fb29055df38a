"""benchmarks/ensemble_folds.py: runs ensembled fold by fold from their kept probabilities, members chosen on
pooled validation only, and refused when the runs did not score the same images."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import numpy as np
import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "benchmarks"))
import common  # noqa: E402
import ensemble_folds  # noqa: E402

CLASSES = np.asarray(["anger", "happiness", "sadness"])


def one_hot(predicted: list[int], confidence: float = 0.8) -> np.ndarray:
    probs = np.full((len(predicted), 3), (1 - confidence) / 2, np.float32)
    probs[np.arange(len(predicted)), predicted] = confidence
    return probs


def member(val_pred: dict[str, list[int]], test_pred: dict[str, list[int]], *, occ_seed: str = "a") -> dict[str, np.ndarray]:
    """Two folds of 4 validation and 4 test images, labels 0, 1, 2, 0; the same predictions for every set and TTA."""
    arrays = {"class_names": CLASSES, "data_class_names": CLASSES}
    for fold in ("fold0", "fold1"):
        arrays[f"{fold}__test_ids"] = np.asarray([f"{fold}-t{i}" for i in range(4)])
        arrays[f"{fold}__val_ids"] = np.asarray([f"{fold}-v{i}" for i in range(4)])
        arrays[f"{fold}__test_labels"] = arrays[f"{fold}__val_labels"] = np.asarray([0, 1, 2, 0])
        arrays[f"{fold}__clean_sha1"] = np.asarray("clean")
        arrays[f"{fold}__occ_all_sha1"] = np.asarray(occ_seed)
        for tta in ("none", "flip"):
            arrays[f"{fold}__val_{tta}"] = one_hot(val_pred[fold]).astype(np.float16)
            for set_name in ("clean", "occ_all"):
                arrays[f"{fold}__{set_name}_{tta}"] = one_hot(test_pred[fold]).astype(np.float16)
    return arrays


RIGHT = {"fold0": [0, 1, 2, 0], "fold1": [0, 1, 2, 0]}


def test_the_subset_is_chosen_on_pooled_validation_and_scored_on_test_once():
    good = member(RIGHT, {"fold0": [0, 1, 2, 0], "fold1": [0, 1, 1, 1]})  # test: 4/4 and 2/4
    weak = member({"fold0": [1, 1, 2, 0], "fold1": [0, 1, 2, 1]}, RIGHT)  # validation 6/8: never chosen, though perfect on test
    result = ensemble_folds.ensemble(["good", "weak"], [good, weak])
    assert result["chosen"] == ["good"]  # 8/8 alone; good + weak also 8/8 (averages keep good's answers): the tie goes to fewer
    assert [r["val_accuracy"] for r in result["subsets"]] == [1.0, 1.0, 0.75]
    assert [r["test"]["clean_none"]["accuracy"] for r in result["folds"]] == [1.0, 0.5]
    assert result["summary"]["clean_none"]["mean_accuracy"] == pytest.approx(0.75)
    assert result["summary"]["occ_all_flip"]["n_folds"] == 2


def test_averaging_two_members_can_fix_what_each_gets_wrong():
    a = member({"fold0": [0, 1, 2, 1], "fold1": [0, 1, 2, 0]}, RIGHT)
    b = member({"fold0": [0, 1, 2, 0], "fold1": [0, 2, 2, 0]}, RIGHT)
    a["fold0__val_none"][3] = np.asarray([0.45, 0.55, 0.0], np.float16)  # a unsure and wrong, b sure and right: the mean is right
    b["fold1__val_none"][1] = np.asarray([0.0, 0.45, 0.55], np.float16)
    result = ensemble_folds.ensemble(["a", "b"], [a, b])
    assert result["chosen"] == ["a", "b"] and result["subsets"][0]["val_accuracy"] == 1.0


def test_runs_that_scored_other_images_are_refused():
    with pytest.raises(ensemble_folds.MemberError, match="occ_all_sha1: they did not score the same images"):
        ensemble_folds.ensemble(["a", "b"], [member(RIGHT, RIGHT), member(RIGHT, RIGHT, occ_seed="b")])
    other = member(RIGHT, RIGHT)
    other["fold1__test_ids"] = np.asarray(["x", "y", "z", "w"])
    with pytest.raises(ensemble_folds.MemberError, match="fold1__test_ids"):
        ensemble_folds.ensemble(["a", "b"], [member(RIGHT, RIGHT), other])


def test_the_script_writes_a_result_shaped_like_run_recipes(tmp_path, monkeypatch, capsys):
    monkeypatch.setattr(common, "RESULTS", tmp_path)
    (tmp_path / "probabilities").mkdir()
    for name, arrays in (("a", member(RIGHT, RIGHT)), ("b", member({"fold0": [1, 1, 1, 1], "fold1": RIGHT["fold1"]}, RIGHT))):
        np.savez_compressed(tmp_path / "probabilities" / f"{name}.npz", **arrays)
    monkeypatch.setattr(sys, "argv", ["ensemble_folds.py", "a", "b", "--name", "ens"])
    assert ensemble_folds.main() == 0
    result = json.loads((tmp_path / "ens.json").read_text())
    assert result["chosen"] == ["a"] and set(result) >= {"summary", "folds", "selection", "commit", "members"}
    monkeypatch.setattr(sys, "argv", ["ensemble_folds.py", "a", "missing", "--out", "ens2"])
    with pytest.raises(SystemExit, match="missing.npz not found"):
        ensemble_folds.main()
    assert not (tmp_path / "ens2.json").exists()


def test_the_benchmarks_single_network_is_member_0_of_an_ensemble_or_the_shipped_network_itself(tiny_checkpoint, tmp_path, monkeypatch):
    """realtime.py and occluder_recall.py time one network of the shipped model, whichever issue 15's choice ships."""
    import common

    from ferkit.artifacts import ensemble_checkpoint, load_checkpoint, save_checkpoint

    monkeypatch.setattr("ferkit.weights.default_model_path", lambda: tiny_checkpoint)
    assert common.shipped_single_network(tmp_path) == tiny_checkpoint  # a single network ships: itself
    ensemble = save_checkpoint(tmp_path / "ens.pt", ensemble_checkpoint([tiny_checkpoint, tiny_checkpoint]))
    monkeypatch.setattr("ferkit.weights.default_model_path", lambda: ensemble)
    member = common.shipped_single_network(tmp_path / "out")
    assert member.parent == tmp_path / "out" and load_checkpoint(member)["model_name"] == load_checkpoint(tiny_checkpoint)["model_name"]
