"""FER2013 in both forms people have: the Kaggle ``fer2013.csv`` and the ImageFolder re-pack.

Splits follow the original ``Usage`` column: Training (28,709), PublicTest (3,589, our validation
split) and PrivateTest (3,589, the test split, scored once).
"""

from __future__ import annotations

import csv
from pathlib import Path

import numpy as np

from ferkit.data.cache import cached_arrays, fingerprint
from ferkit.data.dataset import FaceDataset
from ferkit.data.folders import decode_images, require_dir, scan_class_folders
from ferkit.errors import DatasetError
from ferkit.labels import FER2013_LABELS

FER2013_SPLITS = ("Training", "PublicTest", "PrivateTest")
SPLIT_ALIASES = {
    "training": "Training", "train": "Training",
    "publictest": "PublicTest", "public": "PublicTest", "val": "PublicTest", "valid": "PublicTest", "validation": "PublicTest",
    "privatetest": "PrivateTest", "private": "PrivateTest", "test": "PrivateTest",
}
CSV_COLUMNS = ("emotion", "pixels", "Usage")


def normalise_split(split: str) -> str:
    key = split.replace("_", "").replace("-", "").lower()
    if key not in SPLIT_ALIASES:
        raise DatasetError(f"unknown FER2013 split {split!r}; use one of {', '.join(FER2013_SPLITS)} (or train/val/test)")
    return SPLIT_ALIASES[key]


def load_fer2013(path: str | Path, split: str, *, use_cache: bool = True) -> FaceDataset:
    """Load one FER2013 split from a ``fer2013.csv`` file, an ImageFolder root (``train/``, ``test/``) or a
    Training + PublicTest pack (``.npz``, see ``ferkit.data.fer2013_pack``)."""
    split = normalise_split(split)
    path = Path(path).expanduser()
    if path.is_file() and path.suffix == ".npz":  # a Training + PublicTest pack (benchmarks/pack_fer2013.py)
        from ferkit.data.fer2013_pack import load_fer2013_pack

        return load_fer2013_pack(path, split, use_cache=use_cache)
    if path.is_file():
        return load_fer2013_csv(path, split)
    root = require_dir(path, "FER2013 root")
    csv_file = root / "fer2013.csv"
    if csv_file.is_file() and not (root / "train").exists():
        return load_fer2013_csv(csv_file, split)
    return load_fer2013_folder(root, split, use_cache=use_cache)


def fer2013_folder_files(root: Path, split: str) -> tuple[list[Path], list[int]]:
    """Image paths of one split of the ImageFolder re-pack and their label indices, in class order."""
    sub = "train" if split == "Training" else "test"
    split_dir = require_dir(root / sub, f"FER2013 {sub}/ folder")
    by_class = scan_class_folders(split_dir, keep=lambda p: p.name.startswith(split + "_"), allow_empty=True)
    unknown = set(by_class) - set(FER2013_LABELS)
    if unknown:
        raise DatasetError(f"{split_dir}: classes {sorted(unknown)} are not FER2013 classes {list(FER2013_LABELS)}")
    paths: list[Path] = []
    labels: list[int] = []
    for name in FER2013_LABELS:
        files = by_class.get(name, [])
        paths += files
        labels += [FER2013_LABELS.index(name)] * len(files)
    if not paths:
        raise DatasetError(f"no {split}_*.jpg files under {split_dir}")
    return paths, labels


def load_fer2013_folder(root: Path, split: str, *, use_cache: bool = True) -> FaceDataset:
    """ImageFolder re-pack: ``train|test/<class>/<Usage>_<id>.jpg``; the file-name prefix is the split."""
    paths, labels = fer2013_folder_files(root, split)
    key = "fer2013-" + split + "-" + fingerprint(paths, extra="fer2013-folder-v1")
    arrays = cached_arrays(
        key,
        lambda: {"images": decode_images(paths, (48, 48), require_size=True, desc=f"decoding FER2013 {split}")},
        enabled=use_cache,
    )
    ids = tuple(f"{p.parent.name}/{p.stem}" for p in paths)  # the re-pack reuses a few stems across classes
    return FaceDataset(arrays["images"], np.asarray(labels, np.int64), FER2013_LABELS, ids, None, f"fer2013/{split}")


def load_fer2013_csv(csv_path: Path, split: str) -> FaceDataset:
    """Kaggle CSV: ``emotion,pixels,Usage``; ``pixels`` holds 2304 space-separated values 0..255."""
    images: list[np.ndarray] = []
    labels: list[int] = []
    ids: list[str] = []
    with open(csv_path, newline="") as f:
        reader = csv.DictReader(f)
        missing = [c for c in CSV_COLUMNS if c not in (reader.fieldnames or [])]
        if missing:
            raise DatasetError(f"{csv_path}: missing column(s) {missing}; expected header {','.join(CSV_COLUMNS)}")
        for row_number, row in enumerate(reader, start=2):
            if row["Usage"] != split:
                continue
            where = f"{csv_path} line {row_number}"
            try:
                label = int(row["emotion"])
            except ValueError:
                raise DatasetError(f"{where}: emotion {row['emotion']!r} is not an integer 0..6") from None
            if not 0 <= label < len(FER2013_LABELS):
                raise DatasetError(f"{where}: emotion {label} outside 0..6")
            try:
                pixels = np.array(row["pixels"].split(), dtype=np.int64)
            except ValueError:
                raise DatasetError(f"{where}: pixels must be space-separated integers") from None
            if pixels.size != 48 * 48 or pixels.min(initial=0) < 0 or pixels.max(initial=0) > 255:
                raise DatasetError(f"{where}: expected 2304 pixel values in 0..255, got {pixels.size} values")
            images.append(pixels.astype(np.uint8).reshape(48, 48))
            labels.append(label)
            ids.append(f"{split}_{row_number - 2}")
    if not images:
        raise DatasetError(f"{csv_path}: no rows with Usage == {split}")
    return FaceDataset(np.stack(images), np.asarray(labels, np.int64), FER2013_LABELS, tuple(ids), None, f"fer2013/{split}")
