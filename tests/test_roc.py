"""One-vs-rest ROC curves and the per-classifier accuracy plot."""

from __future__ import annotations

import json

import numpy as np
import pytest

from ferkit.errors import ConfigError
from ferkit.evaluate.roc import classifier_curves_plot, roc_curves, roc_plot

NAMES = ("angry", "happy", "sad")
PNG_MAGIC = b"\x89PNG\r\n\x1a\n"


def test_auc_is_one_on_separable_scores(tmp_path) -> None:
    rng = np.random.default_rng(0)
    labels = np.repeat(np.arange(3), 10)
    scores = rng.uniform(0, 0.4, (30, 3))
    scores[np.arange(30), labels] += 0.6  # the true class always scores highest, in every column
    curves = roc_curves(scores, labels, NAMES)
    assert curves["macro_auc"] == 1.0
    for name in NAMES:
        c = curves["per_class"][name]
        assert c["auc"] == 1.0 and c["support"] == 10
        assert c["fpr"][0] == 0.0 and c["tpr"][-1] == 1.0 and len(c["fpr"]) == len(c["tpr"])
    json.dumps(curves)  # JSON-friendly
    out = roc_plot(curves, tmp_path / "roc.png", title="toy")
    assert out.read_bytes()[:8] == PNG_MAGIC


def test_auc_matches_hand_computed_value() -> None:
    # class 0 scores: positives 0.9, 0.4; negatives 0.5, 0.1 -> 3 of 4 pairs ordered: AUC 0.75
    scores = np.array([[0.9, 0.1], [0.4, 0.6], [0.5, 0.5], [0.1, 0.9]])
    labels = np.array([0, 0, 1, 1])
    curves = roc_curves(scores, labels, ("a", "b"))
    assert curves["per_class"]["a"]["auc"] == pytest.approx(0.75)
    assert curves["per_class"]["b"]["auc"] == pytest.approx(0.75)


def test_class_without_samples_has_no_curve() -> None:
    scores = np.random.default_rng(1).random((6, 3))
    curves = roc_curves(scores, np.array([0, 1, 0, 1, 0, 1]), NAMES)
    assert curves["per_class"]["sad"] == {"fpr": [], "tpr": [], "auc": None, "support": 0}
    assert curves["macro_auc"] == pytest.approx(np.mean([curves["per_class"][n]["auc"] for n in NAMES[:2]]))


def test_roc_errors() -> None:
    with pytest.raises(ConfigError, match="scores must be"):
        roc_curves(np.zeros((4, 2)), np.zeros(4, np.int64), NAMES)
    with pytest.raises(ConfigError, match="NaN"):
        roc_curves(np.full((2, 3), np.nan), np.array([0, 1]), NAMES)


def test_classifier_curves_plot(tmp_path) -> None:
    history = [
        {"epoch": 1, "svm_linear": {"val": 0.5, "test": 0.4}, "lda": {"val": 0.45, "test": 0.42}, "train_loss": 1.0},
        {"epoch": 2, "svm_linear": {"val": 0.6, "test": 0.55}, "lda": {"val": 0.5}},
    ]
    out = classifier_curves_plot(history, tmp_path / "sub" / "curves.png", title="toy")
    assert out.read_bytes()[:8] == PNG_MAGIC
    assert not list((tmp_path / "sub").glob("*.tmp"))
    with pytest.raises(ConfigError, match="empty"):
        classifier_curves_plot([], tmp_path / "empty.png")
