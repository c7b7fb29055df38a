"""Scanning ``<root>/<class>/<files>`` trees and decoding them, shared by every folder-based loader."""

from __future__ import annotations

from pathlib import Path
from typing import Callable

import numpy as np

from ferkit.data.image_io import is_image_file, read_gray
from ferkit.errors import DatasetError
from ferkit.labels import canonical_label


def require_dir(path: str | Path, what: str) -> Path:
    path = Path(path).expanduser()
    if not path.exists():
        raise DatasetError(f"{what} not found: {path} (check the path; ferkit never downloads datasets)")
    if not path.is_dir():
        raise DatasetError(f"{what} must be a directory: {path}")
    return path


def scan_class_folders(
    root: Path, *, keep: Callable[[Path], bool] = lambda p: True, allow_empty: bool = False
) -> dict[str, list[Path]]:
    """Return {canonical class name: sorted image paths} for the class folders under ``root``.

    Raises DatasetError for no class folders, an empty class folder, an unknown class name or a
    non-image file (naming it), so a broken tree fails before any decoding.
    """
    class_dirs = sorted(p for p in root.iterdir() if p.is_dir() and not p.name.startswith("."))
    if not class_dirs:
        raise DatasetError(f"no class folders under {root}: expected {root}/<class>/<image files>")
    found: dict[str, list[Path]] = {}
    for class_dir in class_dirs:
        try:
            name = canonical_label(class_dir.name)
        except Exception as exc:
            raise DatasetError(f"{class_dir}: {exc}") from None
        files = sorted(p for p in class_dir.iterdir() if p.is_file() and not p.name.startswith("."))
        for f in files:
            if not is_image_file(f):
                raise DatasetError(f"not an image file: {f} (remove it or move it out of the class folder)")
        files = [f for f in files if keep(f)]
        if not files and not allow_empty:
            raise DatasetError(f"empty class folder: {class_dir}")
        if name in found:
            raise DatasetError(f"two folders under {root} map to class {name!r}")
        found[name] = files
    return found


def decode_images(paths: list[Path], size: tuple[int, int] | None, *, require_size: bool, desc: str) -> np.ndarray:
    """Decode image files into one (N, H, W) uint8 array, with a progress bar for long lists."""
    from tqdm.auto import tqdm

    if not paths:
        h, w = size or (48, 48)
        return np.zeros((0, h, w), np.uint8)
    first = read_gray(paths[0], size, require_size=require_size)
    out = np.empty((len(paths), *first.shape), np.uint8)
    out[0] = first
    target = size or first.shape
    for i, path in enumerate(tqdm(paths[1:], desc=desc, disable=len(paths) < 2000, leave=False), start=1):
        image = read_gray(path, target, require_size=require_size or size is None)
        out[i] = image
    return out

