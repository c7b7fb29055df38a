"""Classification metrics with per-class figures first: minority classes are the point (paper 004)."""

from __future__ import annotations

from typing import Any

import numpy as np

from ferkit.errors import ConfigError
from ferkit.labels import LabelMapping


def _check_labels(y_true: object, y_pred: object, num_classes: int) -> tuple[np.ndarray, np.ndarray]:
    """1-D integer arrays of one length with every value in 0..num_classes-1. An out-of-range true label was left out
    of the confusion matrix but counted in n and accuracy (scored correct when the prediction matched it)."""
    true, pred = np.asarray(y_true), np.asarray(y_pred)
    if true.ndim != 1 or pred.ndim != 1 or len(true) != len(pred):
        raise ConfigError(f"y_true and y_pred must be 1-D and of one length, got shapes {true.shape} and {pred.shape}")
    for what, values in (("y_true", true), ("y_pred", pred)):
        if values.size and not np.issubdtype(values.dtype, np.integer):
            raise ConfigError(f"{what} must hold class indices (ints), got {values.dtype}")
        if values.size and (values.min() < 0 or values.max() >= num_classes):
            raise ConfigError(f"{what} holds class indices outside 0..{num_classes - 1} (from {values.min()} to {values.max()}) "
                              f"for {num_classes} class names")
    return true.astype(np.int64), pred.astype(np.int64)


def classification_metrics(y_true: np.ndarray, y_pred: np.ndarray, class_names: tuple[str, ...] | list[str]) -> dict[str, Any]:
    """Accuracy, balanced accuracy, macro-F1, per-class precision/recall/F1/support and the confusion matrix.

    Per-class accuracy in the one-vs-rest sense is reported as ``per_class[c]["accuracy"]``;
    ``recall`` is the usual per-class hit rate (what FER papers call per-class accuracy).
    """
    from sklearn.metrics import confusion_matrix, f1_score, precision_recall_fscore_support

    y_true, y_pred = _check_labels(y_true, y_pred, len(class_names))
    labels = np.arange(len(class_names))
    if not len(y_true):  # scikit-learn refuses empty input: nothing scored is all zeros
        cm = np.zeros((len(labels), len(labels)), np.int64)
        precision = recall = f1 = np.zeros(len(labels))
        support = np.zeros(len(labels), np.int64)
    else:
        cm = confusion_matrix(y_true, y_pred, labels=labels)
        precision, recall, f1, support = precision_recall_fscore_support(y_true, y_pred, labels=labels, zero_division=0)
    n = max(len(y_true), 1)
    per_class = {}
    for i, name in enumerate(class_names):
        tn = n - cm[i, :].sum() - cm[:, i].sum() + cm[i, i]
        per_class[name] = {
            "precision": float(precision[i]),
            "recall": float(recall[i]),
            "f1": float(f1[i]),
            "support": int(support[i]),
            "accuracy": float((cm[i, i] + tn) / n),
        }
    present = support > 0
    return {
        "n": int(len(y_true)),
        "accuracy": float((y_true == y_pred).mean()) if len(y_true) else 0.0,
        # scikit-learn's balanced accuracy (mean recall over the classes present), computed from the recalls above: its own
        # function warned "y_pred contains classes not in y_true" in ordinary runs (a small fold lacks a class)
        "balanced_accuracy": float(recall[present].mean()) if len(y_true) else 0.0,
        "macro_f1": float(f1_score(y_true, y_pred, labels=labels[present], average="macro", zero_division=0)) if len(y_true) else 0.0,
        "class_names": list(class_names),
        "per_class": per_class,
        "confusion_matrix": cm.tolist(),
    }


def mapped_metrics(data_labels: np.ndarray, probabilities: np.ndarray, mapping: LabelMapping) -> dict[str, Any]:
    """Score a model on data with another label set: samples of classes the model lacks are counted
    as unmapped and left out; the model's prediction is restricted to the classes the data has."""
    index_map = np.asarray(mapping.index_map)
    model_idx = index_map[data_labels]
    keep = model_idx >= 0
    data_classes = [i for i, m in enumerate(index_map) if m >= 0]
    model_cols = index_map[data_classes]
    restricted = probabilities[keep][:, model_cols]
    pred_data_class = np.asarray(data_classes)[restricted.argmax(1)] if keep.any() else np.zeros(0, int)
    names = [mapping.data_labels[i] for i in data_classes]
    remap = {c: j for j, c in enumerate(data_classes)}
    y_true = np.array([remap[c] for c in data_labels[keep]], dtype=np.int64)
    y_pred = np.array([remap[c] for c in pred_data_class], dtype=np.int64)
    result = classification_metrics(y_true, y_pred, names)
    result["unmapped_classes"] = list(mapping.unmapped)
    result["unmapped_samples"] = int((~keep).sum())
    # What the model predicted, over its whole label set, for the samples of classes it lacks.
    result["unmapped_predictions"] = {
        name: {mapping.model_labels[j]: int(c) for j, c in enumerate(np.bincount(probabilities[data_labels == i].argmax(1), minlength=len(mapping.model_labels)))}
        for i, name in enumerate(mapping.data_labels) if index_map[i] < 0 and (data_labels == i).any()
    }
    return result
