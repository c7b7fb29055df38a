"""Plots people would rather see than read: confusion matrices, training curves, per-class bars.

Each function builds its own figure with the Agg canvas (no global matplotlib state) and writes
the PNG atomically.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from ferkit.errors import ConfigError
from ferkit.io_utils import atomic_write


def _figure(width: float, height: float):
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    fig = Figure(figsize=(width, height), dpi=120)
    FigureCanvasAgg(fig)
    return fig


def save_figure(fig, path: str | Path) -> Path:
    fig.tight_layout()
    return atomic_write(path, lambda tmp: fig.savefig(tmp, format="png"))


def _checked_counts(cm: Any, class_names: Any) -> np.ndarray:
    """``cm`` as a float (C, C) array of finite counts >= 0 with C = len(class_names); a ConfigError otherwise (a
    mismatch used to mislabel the axes or fail inside matplotlib, a NaN cell inside ``int()``)."""
    try:
        counts = np.asarray(cm, dtype=np.float64)
    except (TypeError, ValueError):
        raise ConfigError(f"the confusion matrix must be a square table of counts, got {type(cm).__name__}") from None
    if isinstance(class_names, str) or not all(isinstance(name, str) for name in class_names):
        raise ConfigError(f"class_names must be a list of strings, got {class_names!r}")
    if counts.ndim != 2 or counts.shape[0] != counts.shape[1] or counts.shape[0] != len(class_names):
        raise ConfigError(f"the confusion matrix must be {len(class_names)}x{len(class_names)} (one row and column per class "
                          f"name), got shape {counts.shape}")
    if not np.isfinite(counts).all() or (counts < 0).any():
        raise ConfigError("the confusion matrix must hold finite counts >= 0 (found NaN, infinite or negative cells)")
    return counts


def confusion_matrix_plot(cm: list[list[int]] | np.ndarray, class_names: list[str], path: str | Path, title: str = "") -> Path:
    """Row-normalised confusion matrix (recall on the diagonal), counts printed in each cell."""
    cm = _checked_counts(cm, class_names)
    norm = cm / np.maximum(cm.sum(1, keepdims=True), 1)
    fig = _figure(1.0 + 0.75 * len(class_names), 0.8 + 0.7 * len(class_names))
    ax = fig.add_subplot(111)
    im = ax.imshow(norm, cmap="Blues", vmin=0, vmax=1)
    ax.set_xticks(range(len(class_names)), class_names, rotation=45, ha="right")
    ax.set_yticks(range(len(class_names)), class_names)
    ax.set_xlabel("predicted")
    ax.set_ylabel("true")
    for i in range(cm.shape[0]):
        for j in range(cm.shape[1]):
            ax.text(j, i, f"{norm[i, j]:.2f}\n{int(cm[i, j])}", ha="center", va="center", fontsize=7, color="white" if norm[i, j] > 0.5 else "black")
    fig.colorbar(im, ax=ax, fraction=0.046)
    ax.set_title(title, fontsize=9)
    return save_figure(fig, path)


def training_curves_plot(history: list[dict[str, Any]], path: str | Path, title: str = "") -> Path:
    """Loss and validation accuracy per epoch from the JSONL metrics log rows."""
    fig = _figure(9, 3.5)
    ax1, ax2 = fig.add_subplot(121), fig.add_subplot(122)
    epochs = [h["epoch"] for h in history]
    ax1.plot(epochs, [h["train_loss"] for h in history], label="train loss")
    ax1.set_xlabel("epoch")
    ax1.legend()
    for key, label in (("train_accuracy", "train (augmented)"), ("val_accuracy", "validation")):
        if any(key in h for h in history):
            ax2.plot([h["epoch"] for h in history if key in h], [h[key] for h in history if key in h], label=label)
    ax2.set_xlabel("epoch")
    ax2.set_ylabel("accuracy")
    ax2.legend()
    fig.suptitle(title, fontsize=9)
    return save_figure(fig, path)


def per_class_bars_plot(results: dict[str, dict[str, float]], class_names: list[str], path: str | Path, metric: str = "recall", title: str = "") -> Path:
    """Grouped bars: one group per class, one bar per method (``results[method][class]``)."""
    fig = _figure(1.5 + 1.1 * len(class_names), 3.8)
    ax = fig.add_subplot(111)
    width = 0.8 / max(len(results), 1)
    x = np.arange(len(class_names))
    for k, (method, per_class) in enumerate(results.items()):
        ax.bar(x + k * width - 0.4 + width / 2, [per_class.get(c, 0.0) for c in class_names], width, label=method)
    ax.set_xticks(x, class_names, rotation=30, ha="right")
    ax.set_ylabel(metric)
    ax.set_ylim(0, 1)
    ax.legend(fontsize=7)
    ax.set_title(title, fontsize=9)
    return save_figure(fig, path)
