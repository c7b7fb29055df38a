"""classification_metrics against scikit-learn's own functions (without its warnings in ordinary runs) and against hand-computed examples;
mapped_metrics on a FER2013 model scored on CK+."""

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


def test_three_classes_one_absent_by_hand():
    """true 0 0 0 1 1, predicted 0 0 1 1 2: class 2 is never true (left out of macro-F1) but predicted once."""
    result = classification_metrics(np.array([0, 0, 0, 1, 1]), np.array([0, 0, 1, 1, 2]), ["a", "b", "c"])
    assert result["confusion_matrix"] == [[2, 1, 0], [0, 1, 1], [0, 0, 0]]
    assert result["accuracy"] == pytest.approx(3 / 5)
    # F1: a = 2 x 1 x 2/3 / (1 + 2/3) = 0.8, b = 0.5 (precision 1/2, recall 1/2); c has no support
    assert result["macro_f1"] == pytest.approx((0.8 + 0.5) / 2)
    assert result["balanced_accuracy"] == pytest.approx((2 / 3 + 1 / 2) / 2)
    per_class = result["per_class"]
    assert [per_class[c]["recall"] for c in "abc"] == pytest.approx([2 / 3, 1 / 2, 0])
    assert [per_class[c]["precision"] for c in "abc"] == pytest.approx([1, 1 / 2, 0])
    assert [per_class[c]["support"] for c in "abc"] == [3, 2, 0]
    # one-vs-rest accuracy (TP + TN) / 5: a 2 + 2, b 1 + 2 (one missed, one false alarm), c 0 + 4 (one false alarm)
    assert [per_class[c]["accuracy"] for c in "abc"] == pytest.approx([4 / 5, 3 / 5, 4 / 5])


def test_a_fer2013_model_scored_on_ckplus_by_hand():
    """FER2013's 7 classes scored on CK+'s 7: contempt samples are unmapped (left out, their predictions counted apart);
    the prediction of the others is the best of the model's classes CK+ has, so neutral is never predicted."""
    from ferkit.evaluate.metrics import mapped_metrics
    from ferkit.labels import CKPLUS_LABELS, FER2013_LABELS, map_labels

    def probs(**scores: float) -> list[float]:  # FER2013 columns: anger disgust fear happiness sadness surprise neutral
        rest = (1 - sum(scores.values())) / (7 - len(scores))
        return [scores.get(name, rest) for name in FER2013_LABELS]

    rows = [  # (CK+ class, the model's probabilities)
        ("anger", probs(anger=0.7)),  # right
        ("happiness", probs(neutral=0.6, happiness=0.3)),  # neutral is not a CK+ class: happiness, right
        ("surprise", probs(fear=0.5, surprise=0.4)),  # fear: wrong
        ("contempt", probs(happiness=0.8)),  # unmapped
        ("disgust", probs(disgust=0.5, anger=0.4)),  # right
        ("contempt", probs(neutral=0.9)),  # unmapped
    ]
    labels = np.array([CKPLUS_LABELS.index(name) for name, _ in rows])
    result = mapped_metrics(labels, np.array([p for _, p in rows]), map_labels(CKPLUS_LABELS, FER2013_LABELS))
    assert result["n"] == 4 and result["accuracy"] == pytest.approx(3 / 4)
    assert result["class_names"] == ["anger", "disgust", "fear", "happiness", "sadness", "surprise"]
    assert result["unmapped_classes"] == ["contempt"] and result["unmapped_samples"] == 2
    assert result["unmapped_predictions"] == {"contempt": {"anger": 0, "disgust": 0, "fear": 0, "happiness": 1, "sadness": 0, "surprise": 0, "neutral": 1}}
    assert result["per_class"]["surprise"]["recall"] == 0 and result["per_class"]["fear"]["precision"] == 0
    assert result["per_class"]["happiness"]["recall"] == 1
    assert result["macro_f1"] == pytest.approx(3 / 4)  # F1 1, 1, 1, 0 over the four classes present; fear only predicted
