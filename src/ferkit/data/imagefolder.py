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
# The names other tools give the same folders (Keras and Hugging Face "validation", Kaggle "valid", "dev"), any case.
SPLIT_ALIASES = {"train": ("train", "training"), "val": ("val", "valid", "validation", "dev"), "test": ("test", "testing")}
SPLIT_NAMES = {alias: split for split, aliases in SPLIT_ALIASES.items() for alias in aliases}  # lower-case name -> split
SPLIT_LAYOUT = "train/<class>/<images> and test/<class>/<images>, optionally val/<class>/<images>"


def split_folders(root: Path) -> dict[str, Path]:
    """{split: folder} when ``root`` is split into train/ and test/ (val/ optional); {} when it holds class folders.

    A split folder may carry any name of ``SPLIT_ALIASES`` in any case (``validation/``, ``Train/``). A half-split
    root raises, naming what is wrong: train/ without test/, two folders for one split (``val/`` and ``validation/``),
    or another folder (a class folder) or an image beside the split folders, whose images would otherwise never be
    read."""
    entries = visible_entries(root)
    named: dict[str, list[Path]] = {}
    for entry in entries:
        if entry.is_dir() and entry.name.lower() in SPLIT_NAMES:
            named.setdefault(SPLIT_NAMES[entry.name.lower()], []).append(entry)
    if not named:
        return {}
    twice = {split: folders for split, folders in named.items() if len(folders) > 1}
    if twice:
        split, folders = next(iter(twice.items()))
        raise DatasetError(f"{root}: {' and '.join(p.name + '/' for p in sorted(folders))} are both the {split} split; keep one")
    present = {split: named[split][0] for split in SPLIT_FOLDERS if split in named}
    found = ", ".join(f"{folder.name}/" for folder in present.values())
    others = [p.name + "/" if p.is_dir() else p.name for p in entries
              if (p.is_dir() and p.name.lower() not in SPLIT_NAMES) or (p.is_file() and is_image_file(p))]
    if others:
        raise DatasetError(f"{root}: {', '.join(others)} beside {found}: a split image folder holds only {SPLIT_LAYOUT}")
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
