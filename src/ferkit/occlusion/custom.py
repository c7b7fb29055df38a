"""Occluders from a user folder of RGBA PNGs (e.g. the cartoon objects paper 003 collected).

Each PNG needs an alpha channel: it says which pixels belong to the object. The patches are
used with ``kind="custom"`` (``occlude(..., custom=patches)``).
"""

from __future__ import annotations

import os
from pathlib import Path

import cv2
import numpy as np

from ferkit.errors import ConfigError, DatasetError, ImageReadError


def load_occluder_folder(folder: str | os.PathLike) -> list[np.ndarray]:
    """All ``*.png`` in ``folder`` (sorted by name, not recursive) as (h, w, 4) uint8 RGBA patches."""
    root = Path(folder).expanduser()
    if not root.is_dir():
        raise DatasetError(f"occluder folder not found: {root}; pass a folder of RGBA .png files")
    files = sorted(p for p in root.iterdir() if p.suffix.lower() == ".png" and p.is_file())
    if not files:
        raise DatasetError(f"no .png files in occluder folder {root}; add RGBA PNG images of occluding objects")
    return [load_occluder_png(p) for p in files]


def load_occluder_png(path: str | os.PathLike) -> np.ndarray:
    """One RGBA PNG -> (h, w, 4) uint8 RGBA; errors for unreadable files, missing alpha and empty alpha."""
    from ferkit.data.image_io import decode_file

    path = Path(path).expanduser()
    raw = decode_file(path, cv2.IMREAD_UNCHANGED)  # a missing file, a folder or undecodable bytes, each named as such
    if raw.ndim != 3 or raw.shape[2] != 4:
        channels = 1 if raw.ndim == 2 else raw.shape[2]
        raise ImageReadError(
            f"occluder {path} has {channels} channel(s) and no alpha; save it as an RGBA PNG whose transparent pixels are outside the object"
        )
    if raw.dtype == np.uint16:
        raw = (raw // 257).astype(np.uint8)
    rgba = cv2.cvtColor(raw, cv2.COLOR_BGRA2RGBA)
    if not (rgba[..., 3] > 127).any():
        raise ImageReadError(f"occluder {path} is fully transparent (alpha <= 0.5 everywhere); it would cover nothing")
    return crop_to_alpha(rgba)


def crop_to_alpha(patch: np.ndarray) -> np.ndarray:
    """Trim fully transparent borders so the patch's size is the object's size."""
    ys, xs = np.nonzero(patch[..., 3])
    return np.ascontiguousarray(patch[ys.min() : ys.max() + 1, xs.min() : xs.max() + 1])


def check_patches(patches: list[np.ndarray] | tuple[np.ndarray, ...]) -> None:
    """Validate user patches passed straight to ``occlude(custom=...)``: a list (or tuple) of non-empty (h, w, 4)
    uint8 RGBA arrays, each with some opaque pixels (a fully transparent patch silently covered nothing)."""
    if not isinstance(patches, (list, tuple)):
        raise ConfigError(f"custom must be a list of (h, w, 4) RGBA patches, got {type(patches).__name__}"
                          + ("; wrap a single patch in a list: custom=[patch]" if isinstance(patches, np.ndarray) else ""))
    for i, patch in enumerate(patches):
        if not isinstance(patch, np.ndarray) or patch.dtype != np.uint8 or patch.ndim != 3 or patch.shape[2] != 4:
            desc = f"{patch.dtype} {patch.shape}" if isinstance(patch, np.ndarray) else type(patch).__name__
            raise ImageReadError(f"custom occluder #{i} must be an (h, w, 4) uint8 RGBA array, got {desc}; load PNGs with load_occluder_folder")
        if min(patch.shape[:2]) < 1:
            raise ImageReadError(f"custom occluder #{i} is empty ({patch.shape[0]}x{patch.shape[1]} pixels)")
        if not patch[:, :, 3].any():
            raise ImageReadError(f"custom occluder #{i} is fully transparent (alpha 0 everywhere): it would cover nothing")
