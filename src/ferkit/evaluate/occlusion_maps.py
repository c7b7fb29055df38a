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
