"""Figures of what the occlusion-perception module predicts: its N x N map laid over each input face."""

from __future__ import annotations

import os
from pathlib import Path

import cv2
import numpy as np

from ferkit.errors import ConfigError
from ferkit.io_utils import atomic_write_png


def overlay_occlusion_map(image: np.ndarray, occlusion_map: np.ndarray, *, size: int = 144, opacity: float = 0.45) -> np.ndarray:
    """One face (H, W) uint8 and its map (n, n) in [0, 1] -> (size, size, 3) uint8 RGB overlay.

    The map is upsampled with nearest neighbours so each region stays a visible square, coloured
    with the jet colormap (red = likely occluded) and alpha-blended over the face.
    """
    face = cv2.resize(image, (size, size), interpolation=cv2.INTER_CUBIC)
    face_rgb = np.repeat(face[..., None], 3, axis=2).astype(np.float32)
    heat = cv2.resize(np.clip(occlusion_map, 0, 1).astype(np.float32), (size, size), interpolation=cv2.INTER_NEAREST)
    colour = cv2.applyColorMap((heat * 255).astype(np.uint8), cv2.COLORMAP_JET)[..., ::-1].astype(np.float32)
    return np.clip((1 - opacity) * face_rgb + opacity * colour + 0.5, 0, 255).astype(np.uint8)


def occlusion_overlay_grid(
    images: np.ndarray,
    maps: np.ndarray,
    out_path: str | os.PathLike,
    *,
    columns: int = 8,
    size: int = 144,
    opacity: float = 0.45,
) -> Path:
    """Write a PNG grid of faces with their predicted occlusion maps; images (N, H, W) uint8, maps (N, n, n) in [0, 1].

    Each cell shows the face on the left and the overlay on the right. Written atomically.
    """
    images = np.asarray(images)
    maps = np.asarray(maps, dtype=np.float32)
    if maps.ndim == 4 and maps.shape[1] == 1:
        maps = maps[:, 0]  # accept the model's (N, 1, n, n) directly
    if images.ndim != 3 or images.dtype != np.uint8:
        raise ConfigError(f"images must be (N, H, W) uint8, got {images.dtype} {images.shape}")
    if maps.ndim != 3 or len(maps) != len(images) or len(images) == 0:
        raise ConfigError(f"maps must be (N, n, n) with N = {len(images)} images (N >= 1), got {maps.shape}")
    pad = 4
    cell_w = 2 * size + pad
    cols = min(columns, len(images))
    rows = -(-len(images) // cols)
    canvas = np.full((rows * (size + pad) + pad, cols * (cell_w + 2 * pad) + pad, 3), 255, np.uint8)
    for k, (image, occ) in enumerate(zip(images, maps)):
        y = pad + (k // cols) * (size + pad)
        x = pad + (k % cols) * (cell_w + 2 * pad)
        face = cv2.resize(image, (size, size), interpolation=cv2.INTER_CUBIC)
        canvas[y : y + size, x : x + size] = face[..., None]
        canvas[y : y + size, x + size + pad : x + cell_w] = overlay_occlusion_map(image, occ, size=size, opacity=opacity)
    bgr = np.ascontiguousarray(canvas[..., ::-1])

    return atomic_write_png(out_path, np.ascontiguousarray(bgr))


def map_agreement(maps: np.ndarray, masks: np.ndarray, *, covered_threshold: float = 0.5) -> dict[str, float]:
    """How well predicted occlusion maps find the occluders that are really there.

    maps: (N, n, n) or (N, 1, n, n) occlusion probabilities; masks: (N, H, W) covered pixels (bool or
    0/1). Each map cell is compared with the covered fraction of its region of the face: the mean
    map value on covered cells (fraction >= ``covered_threshold``) and on clean cells (fraction 0),
    and the ROC AUC of the map value for telling the two apart (0.5 = no better than chance).
    """
    import torch
    from sklearn.metrics import roc_auc_score

    from ferkit.models.occlusion_net import region_coverage

    maps = np.asarray(maps, dtype=np.float64)
    if maps.ndim == 4:
        maps = maps[:, 0]
    masks = np.asarray(masks)
    if maps.ndim != 3 or masks.ndim != 3 or len(maps) != len(masks) or maps.shape[1] != maps.shape[2]:
        raise ConfigError(f"map_agreement needs maps (N, n, n) and masks (N, H, W) for the same N, got {maps.shape} and {masks.shape}")
    coverage = region_coverage(torch.from_numpy(masks.astype(np.float32)), maps.shape[-1])[:, 0].numpy()
    covered, clean = coverage >= covered_threshold, coverage == 0
    if not covered.any() or not clean.any():
        raise ConfigError("map_agreement needs both covered and clean regions among the masks")
    values = np.concatenate([maps[covered], maps[clean]])
    truth = np.concatenate([np.ones(int(covered.sum())), np.zeros(int(clean.sum()))])
    return {"mean_on_covered": float(maps[covered].mean()), "mean_on_clean": float(maps[clean].mean()),
            "auc": float(roc_auc_score(truth, values)), "covered_cells": int(covered.sum()), "clean_cells": int(clean.sum())}
