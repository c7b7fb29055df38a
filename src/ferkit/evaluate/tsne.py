"""Figures of what a metric-learned model does: t-SNE of embeddings (paper 000, Fig. 3) and STN warps.

Figures are drawn on a matplotlib ``Figure`` with its own Agg canvas (no pyplot, no global backend
switch) and written atomically.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Sequence

import numpy as np

from ferkit.errors import ConfigError
from ferkit.io_utils import atomic_write


def tsne_2d(embeddings: np.ndarray, *, seed: int = 0) -> np.ndarray:
    """(N, D) embeddings -> (N, 2) scikit-learn t-SNE coordinates; perplexity shrinks for small N."""
    from sklearn.manifold import TSNE

    n = embeddings.shape[0]
    perplexity = float(min(30.0, max(1.0, (n - 1) / 3)))
    tsne = TSNE(n_components=2, perplexity=perplexity, init="pca", random_state=seed)
    return tsne.fit_transform(np.asarray(embeddings, dtype=np.float64))


def tsne_grid(
    panels: list[tuple[str, np.ndarray, np.ndarray]],
    class_names: Sequence[str],
    out_path: str | os.PathLike,
    seed: int = 0,
) -> Path:
    """Write a PNG of t-SNE scatter plots, one per (title, embeddings (N, D), labels (N,)) panel.

    Four panels are laid out 2x2 (paper 000's CE/triplet x clean/occluded figure), any other
    number in one row. Points are coloured by ``class_names[label]``.
    """
    if not panels:
        raise ConfigError("tsne_grid: panels is empty; pass a list of (title, embeddings, labels)")
    for title, embeddings, labels in panels:
        embeddings, labels = np.asarray(embeddings), np.asarray(labels)
        if embeddings.ndim != 2 or labels.ndim != 1 or embeddings.shape[0] != labels.shape[0]:
            raise ConfigError(f"tsne_grid panel {title!r}: need embeddings (N, D) and labels (N,), got {embeddings.shape} and {labels.shape}")
        if embeddings.shape[0] < 3:
            raise ConfigError(f"tsne_grid panel {title!r}: t-SNE needs at least 3 points, got {embeddings.shape[0]}")
        if labels.size and (labels.min() < 0 or labels.max() >= len(class_names)):
            raise ConfigError(f"tsne_grid panel {title!r}: labels must index class_names (0..{len(class_names) - 1}), got {labels.min()}..{labels.max()}")

    from matplotlib.figure import Figure

    rows, cols = (2, 2) if len(panels) == 4 else (1, len(panels))
    fig = Figure(figsize=(4.5 * cols, 4.2 * rows), layout="constrained")
    colours = _class_colours(len(class_names))
    for k, (title, embeddings, labels) in enumerate(panels):
        ax = fig.add_subplot(rows, cols, k + 1)
        points = tsne_2d(np.asarray(embeddings), seed=seed)
        labels = np.asarray(labels)
        for c, name in enumerate(class_names):
            mask = labels == c
            if mask.any():
                ax.scatter(points[mask, 0], points[mask, 1], s=6, color=colours[c], label=name)
        ax.set_title(title)
        ax.set_xticks([])
        ax.set_yticks([])
    handles, names = [], []
    for ax in fig.axes:
        for handle, name in zip(*ax.get_legend_handles_labels()):
            if name not in names:
                handles.append(handle)
                names.append(name)
    order = [names.index(n) for n in class_names if n in names]
    fig.legend([handles[i] for i in order], [names[i] for i in order], loc="outside right center", markerscale=3)
    return _save_png(fig, out_path)


def stn_grid(images: np.ndarray, transformed: np.ndarray, out_path: str | os.PathLike) -> Path:
    """Write a PNG with inputs (top row) above their STN-warped versions (bottom row).

    images, transformed: (N, H, W) or (N, C, H, W) with C in {1, 3}, any numeric range (e.g. the
    normalised model input and ``SpatialTransformer.transform`` output). Each input/output pair is
    scaled to [0, 1] with the same range, so brightness differences between them stay visible.
    """
    images, transformed = _as_nhwc(images, "images"), _as_nhwc(transformed, "transformed")
    if images.shape != transformed.shape:
        raise ConfigError(f"stn_grid: images {images.shape} and transformed {transformed.shape} must have the same shape")

    from matplotlib.figure import Figure

    n = images.shape[0]
    fig = Figure(figsize=(1.2 * n + 0.8, 2.6), layout="constrained")
    for i in range(n):
        low = min(images[i].min(), transformed[i].min())
        high = max(images[i].max(), transformed[i].max())
        scale = high - low if high > low else 1.0
        for row, batch in enumerate((images, transformed)):
            ax = fig.add_subplot(2, n, row * n + i + 1)
            picture = (batch[i] - low) / scale
            if picture.shape[-1] == 1:
                ax.imshow(picture[..., 0], cmap="gray", vmin=0.0, vmax=1.0)
            else:
                ax.imshow(np.clip(picture, 0.0, 1.0))
            ax.set_xticks([])
            ax.set_yticks([])
            if i == 0:
                ax.set_ylabel("input" if row == 0 else "STN")
    return _save_png(fig, out_path)


def _as_nhwc(array: np.ndarray, name: str) -> np.ndarray:
    array = np.asarray(array, dtype=np.float64)
    if array.ndim == 3:
        return array[..., None]
    if array.ndim == 4 and array.shape[1] in (1, 3):
        return array.transpose(0, 2, 3, 1)
    raise ConfigError(f"stn_grid: {name} must be (N, H, W) or (N, C, H, W) with C in 1 or 3, got shape {array.shape}")


def _class_colours(num_classes: int) -> list[tuple[float, float, float, float]]:
    from matplotlib import colormaps

    cmap = colormaps["tab10" if num_classes <= 10 else "tab20"]
    return [cmap(i % cmap.N) for i in range(num_classes)]


def _save_png(fig, out_path: str | os.PathLike) -> Path:
    from matplotlib.backends.backend_agg import FigureCanvasAgg

    FigureCanvasAgg(fig)
    return atomic_write(out_path, lambda tmp: fig.savefig(tmp, format="png", dpi=120))
