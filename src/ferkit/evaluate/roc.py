"""One-vs-rest ROC curves with per-class AUC (paper 002, Figures 15-16), and per-classifier accuracy curves (Figures 10-14).

``roc_curves`` returns plain lists and floats so the result can go straight into a results JSON;
the plots are drawn from that JSON, never from live objects.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Sequence

import numpy as np

from ferkit.errors import ConfigError
from ferkit.evaluate.plots import save_figure


def _figure(width: float, height: float):
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    fig = Figure(figsize=(width, height), dpi=120)
    FigureCanvasAgg(fig)
    return fig


def roc_curves(scores: np.ndarray, labels: np.ndarray, class_names: Sequence[str]) -> dict[str, Any]:
    """One-vs-rest ROC per class from scores (N, C) (larger = more likely class c) and labels (N,).

    Returns ``{"per_class": {name: {"fpr": [...], "tpr": [...], "auc": float | None, "support": int}},
    "macro_auc": float | None}``; a class with no positive or no negative sample has no curve
    (auc None) and is left out of the macro average.
    """
    from sklearn.metrics import roc_auc_score, roc_curve

    scores = np.asarray(scores, dtype=np.float64)
    labels = np.asarray(labels)
    if scores.ndim != 2 or scores.shape[1] != len(class_names) or len(scores) != len(labels):
        raise ConfigError(f"scores must be (N, {len(class_names)}) with N = len(labels) = {len(labels)}, got {scores.shape}")
    if not np.isfinite(scores).all():
        raise ConfigError("scores contain NaN or infinite values")
    per_class: dict[str, dict[str, Any]] = {}
    aucs = []
    for c, name in enumerate(class_names):
        positive = labels == c
        support = int(positive.sum())
        if support == 0 or support == len(labels):
            per_class[name] = {"fpr": [], "tpr": [], "auc": None, "support": support}
            continue
        fpr, tpr, _ = roc_curve(positive, scores[:, c])
        auc = float(roc_auc_score(positive, scores[:, c]))
        aucs.append(auc)
        per_class[name] = {"fpr": fpr.tolist(), "tpr": tpr.tolist(), "auc": auc, "support": support}
    return {"per_class": per_class, "macro_auc": float(np.mean(aucs)) if aucs else None}


def roc_plot(curves: dict[str, Any], path: str | Path, title: str = "") -> Path:
    """PNG of the one-vs-rest ROC curves from ``roc_curves``, AUC in the legend."""
    fig = _figure(5.0, 4.5)
    ax = fig.add_subplot(111)
    for name, curve in curves["per_class"].items():
        if curve["auc"] is not None:
            ax.plot(curve["fpr"], curve["tpr"], label=f"{name} (AUC {curve['auc']:.2f})")
    ax.plot([0, 1], [0, 1], linestyle="--", color="gray", linewidth=0.8)
    ax.set_xlim(0, 1)
    ax.set_ylim(0, 1.01)
    ax.set_xlabel("false positive rate")
    ax.set_ylabel("true positive rate")
    ax.legend(fontsize=7, loc="lower right")
    macro = curves.get("macro_auc")
    ax.set_title(f"{title}{' - ' if title else ''}macro AUC {macro:.3f}" if macro is not None else title, fontsize=9)
    return save_figure(fig, path)


def classifier_curves_plot(history: list[dict[str, Any]], path: str | Path, title: str = "") -> Path:
    """Validation (solid) and test (dashed) accuracy per epoch, one colour per classifier.

    history rows: ``{"epoch": 1, "svm_linear": {"val": 0.5, "test": 0.4}, ...}``; any key other
    than "epoch" whose value is a dict is a classifier; "val" or "test" may be missing.
    """
    if not history:
        raise ConfigError("classifier_curves_plot: history is empty; nothing to plot")
    names = list(dict.fromkeys(k for row in history for k, v in row.items() if k != "epoch" and isinstance(v, dict)))
    fig = _figure(6.0, 4.0)
    ax = fig.add_subplot(111)
    for i, name in enumerate(names):
        colour = f"C{i % 10}"
        for split, style in (("val", "-"), ("test", "--")):
            points = [(row["epoch"], row[name][split]) for row in history if isinstance(row.get(name), dict) and row[name].get(split) is not None]
            if points:
                xs, ys = zip(*points)
                ax.plot(xs, ys, linestyle=style, color=colour, marker="." if len(points) < 30 else None, label=f"{name} {split}")
    ax.set_xlabel("epoch")
    ax.set_ylabel("accuracy")
    ax.legend(fontsize=7, ncol=2)
    ax.set_title(title, fontsize=9)
    return save_figure(fig, path)
