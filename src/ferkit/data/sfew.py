"""SFEW 2.0: ``Train/<Emotion>/*.png`` and ``Val/<Emotion>/*.png``, faces already aligned (EmotiW).

The official Test set is unlabelled, so Val is our test split and validation is carved from Train.
Folder names are SFEW's (Angry, Disgust, Fear, Happy, Neutral, Sad, Surprise) or any known alias.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from ferkit.data.cache import cached_arrays, fingerprint
from ferkit.data.dataset import FaceDataset
from ferkit.data.folders import decode_images, require_dir, scan_class_folders
from ferkit.data.grouped import holdout_experiment
from ferkit.data.inspect import ProblemLog
from ferkit.data.registry import ExperimentSplit, register_dataset
from ferkit.errors import DatasetError

SFEW_LABELS: tuple[str, ...] = ("anger", "disgust", "fear", "happiness", "neutral", "sadness", "surprise")
SFEW_SPLITS = {"train": "Train", "test": "Val"}


def split_dir(root: Path, split: str) -> Path:
    """``Train``/``Val`` (any case) under the root."""
    if split not in SFEW_SPLITS:
        raise DatasetError(f"unknown SFEW split {split!r}; use train or test (SFEW's Val)")
    wanted = SFEW_SPLITS[split]
    for candidate in (wanted, wanted.lower(), wanted.upper()):
        if (root / candidate).is_dir():
            return root / candidate
    raise DatasetError(f"SFEW {wanted}/ folder not found under {root} (expected {root}/{wanted}/<Emotion>/*.png)")


def scan_sfew(root: str | Path, split: str) -> list[tuple[Path, str]]:
    """(path, canonical class) for one split; unknown class folders and non-images raise DatasetError."""
    folder = split_dir(require_dir(root, "SFEW root"), split)
    by_class = scan_class_folders(folder, allow_empty=True)
    unknown = set(by_class) - set(SFEW_LABELS)
    if unknown:
        raise DatasetError(f"{folder}: classes {sorted(unknown)} are not SFEW classes {list(SFEW_LABELS)}")
    return [(p, name) for name in SFEW_LABELS for p in by_class.get(name, [])]


def load_sfew(root: str | Path, split: str, *, size: tuple[int, int] = (48, 48), use_cache: bool = True) -> FaceDataset:
    """One SFEW split as gray faces resized to ``size`` (the aligned crops are 143x181 colour)."""
    found = scan_sfew(root, split)
    if not found:
        raise DatasetError(f"no images in SFEW {SFEW_SPLITS[split]}/ under {root}")
    paths = [p for p, _ in found]
    key = f"sfew-{split}-" + fingerprint(paths, extra=f"sfew-v1-{size}")
    arrays = cached_arrays(key, lambda: {"images": decode_images(paths, size, require_size=False, desc=f"decoding SFEW {split}")}, enabled=use_cache)
    labels = np.asarray([SFEW_LABELS.index(c) for _, c in found], np.int64)
    ids = tuple(f"{p.parent.name}/{p.name}" for p in paths)
    return FaceDataset(arrays["images"], labels, SFEW_LABELS, ids, None, f"sfew/{split}")


def sfew_counts(root: str | Path, log: ProblemLog) -> dict[str, dict[str, int]]:
    counts: dict[str, dict[str, int]] = {}
    for split in SFEW_SPLITS:
        try:
            found = scan_sfew(root, split)
        except DatasetError as exc:
            log.add(str(exc))
            continue
        counts[split] = {c: sum(1 for _, n in found if n == c) for c in SFEW_LABELS}
        log.check_duplicates([p.name for p, _ in found], f"SFEW {SFEW_SPLITS[split]}/")
    return counts


def looks_like_sfew(path: Path) -> bool:
    """SFEW's capitalised ``Train`` and ``Val`` folders (an image folder uses lower-case train/val/test)."""
    return path.is_dir() and set(SFEW_SPLITS.values()) <= {p.name for p in path.iterdir()}


@register_dataset(
    "sfew", ("official",),
    layout="Train/<Emotion>/*.png + Val/<Emotion>/*.png (aligned faces)", spec="sfew:/data/SFEW_2.0",
    notes="test = Val; val = stratified 10% of Train",
    counter=sfew_counts, detect=looks_like_sfew,
)
def _sfew_splits(path: Path, protocol: str, seed: int) -> list[ExperimentSplit]:
    """Train (minus a stratified 10% validation) / Val as test."""
    return [holdout_experiment("sfew", load_sfew(path, "train"), load_sfew(path, "test"), 0.1, seed)]
