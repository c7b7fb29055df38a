"""classification_metrics against scikit-learn's own functions, without its warnings in ordinary runs."""

from __future__ import annotations

import warnings

import numpy as np
import pytest
from sklearn.metrics import balanced_accuracy_score, f1_score

from ferkit.evaluate.metrics import classification_metrics


@pytest.mark.parametrize("seed", range(5))
def test_balanced_accuracy_equals_scikit_learns_and_warns_nothing(seed):
    rng = np.random.default_rng(seed)
    y_true = rng.integers(0, 6, 40)  # class 6 never true, but predicted: a small CK+ fold without contempt
    y_pred = rng.integers(0, 7, 40)
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # "y_pred contains classes not in y_true" printed in a first training run
        result = classification_metrics(y_true, y_pred, [f"c{i}" for i in range(7)])
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        expected = balanced_accuracy_score(y_true, y_pred)
    assert result["balanced_accuracy"] == pytest.approx(expected)
    assert result["macro_f1"] == pytest.approx(f1_score(y_true, y_pred, labels=np.unique(y_true), average="macro", zero_division=0))
