"""Any ``<root>/<class>/*`` tree of face crops, resized to a common size, alone or split into train/val/test."""

from __future__ import annotations

from pathlib import Path
from typing import Iterable

import numpy as np

from ferkit.data.dataset import FaceDataset
from ferkit.data.folders import decode_images, require_dir, scan_class_folders, visible_entries
from ferkit.data.image_io import is_image_file
from ferkit.errors import DatasetError
from ferkit.labels import CANONICAL_LABELS

SPLIT_FOLDERS = ("train", "val", "test")  # an image folder's split sub-folders (train/<class>/...)
SPLIT_LAYOUT = "train/<class>/<images> and test/<class>/<images>, optionally val/<class>/<images>"


def split_folders(root: Path) -> dict[str, Path]:
    """{split: folder} when ``root`` is split into train/ and test/ (val/ optional); {} when it holds class folders.

    A half-split root raises, naming what is wrong: train/ without test/, or another folder (``validation/``, a
    class folder) or an image beside the split folders, whose images would otherwise never be read."""
    entries = visible_entries(root)
    present = {name: root / name for name in SPLIT_FOLDERS if any(p.name == name and p.is_dir() for p in entries)}
    if not present:
        return {}
    found = ", ".join(f"{name}/" for name in present)
    others = [p.name + "/" if p.is_dir() else p.name for p in entries
              if (p.is_dir() and p.name not in SPLIT_FOLDERS) or (p.is_file() and is_image_file(p))]
    if others:
        rename = next((f"; rename {name} to val/" for name in others if name.lower() in ("validation/", "valid/", "dev/")), "")
        raise DatasetError(f"{root}: {', '.join(others)} beside {found}: a split image folder holds only {SPLIT_LAYOUT}{rename}")
    missing = [name for name in ("train", "test") if name not in present]
    if missing:
        raise DatasetError(f"{root}: has {found} but no {' or '.join(m + '/' for m in missing)}: a split image folder needs "
                           f"{SPLIT_LAYOUT}; or put the class folders directly in {root} for a stratified 80/10/10 split")
    return present


def check_classes_of_split(root: Path, found: Iterable[str], train_classes: tuple[str, ...]) -> None:
    """A val/ or test/ class that train/ lacks is refused: the model has no output for it, and its labels would be
    read against train's class list."""
    extra = sorted(name for name in found if name not in train_classes)
    if extra:
        raise DatasetError(f"{root}: class(es) {extra} are not among the training classes {list(train_classes)}; "
                           f"add them to train/ or remove them from {root.name}/")


def load_image_folder(
    root: str | Path, *, size: tuple[int, int] = (48, 48), require_size: bool = False, class_names: tuple[str, ...] | None = None
) -> FaceDataset:
    """Load every image under ``root/<class>/``; class folders may use any known alias (angry, happy...).

    Classes are ordered as in the canonical vocabulary, or are ``class_names`` when given (a val/ or test/
    folder takes train's, so its label indices mean what the model's outputs mean, and a class train lacks is
    refused). With ``require_size`` an image of another size is an error instead of being resized.
    """
    root = require_dir(root, "image folder root")
    by_class = scan_class_folders(root)
    if class_names is None:
        class_names = tuple(n for n in CANONICAL_LABELS if n in by_class)
    check_classes_of_split(root, [n for n in CANONICAL_LABELS if n in by_class], class_names)
    paths: list[Path] = []
    labels: list[int] = []
    for idx, name in enumerate(class_names):
        files = by_class.get(name, [])
        paths += files
        labels += [idx] * len(files)
    images = decode_images(paths, size, require_size=require_size, desc=f"decoding {root.name}")
    ids = tuple(f"{p.parent.name}/{p.name}" for p in paths)
    return FaceDataset(images, np.asarray(labels, np.int64), class_names, ids, None, f"imagefolder:{root.name}")
