"""RAF-DB basic: ``EmoLabel/list_patition_label.txt`` + ``Image/aligned/*_aligned.jpg`` (or ``Image/original/``).

Each label line is ``train_00001.jpg 5`` with labels 1..7 in RAF-DB's own order; the file-name
prefix (train/test) is the official split: 12,271 training and 3,068 test images.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ferkit.data.cache import cached_arrays, fingerprint
from ferkit.data.dataset import FaceDataset
from ferkit.data.folders import decode_images, read_manifest_text, require_dir
from ferkit.data.grouped import holdout_experiment
from ferkit.data.image_io import is_image_file
from ferkit.data.inspect import ProblemLog
from ferkit.data.registry import ExperimentSplit, register_dataset
from ferkit.errors import DatasetError

# RAF-DB labels 1..7, in order: 1 Surprise, 2 Fear, 3 Disgust, 4 Happiness, 5 Sadness, 6 Anger, 7 Neutral.
RAFDB_LABELS: tuple[str, ...] = ("surprise", "fear", "disgust", "happiness", "sadness", "anger", "neutral")
LABEL_FILE = Path("EmoLabel") / "list_patition_label.txt"  # sic: the dataset spells it "patition"
RAFDB_SPLITS = ("train", "test")


@dataclass(frozen=True)
class RafdbEntry:
    split: str
    name: str  # e.g. train_00001 (the id)
    label: int  # 0..6 into RAFDB_LABELS
    path: Path


def rafdb_root(path: str | Path) -> Path:
    """Accept the dataset root or its ``basic/`` folder."""
    root = require_dir(path, "RAF-DB root")
    if not (root / LABEL_FILE).is_file() and (root / "basic" / LABEL_FILE).is_file():
        root = root / "basic"
    if not (root / LABEL_FILE).is_file():
        raise DatasetError(f"RAF-DB label file not found: {root / LABEL_FILE} (point at the folder holding EmoLabel/ and Image/)")
    return root


def image_path(root: Path, name: str, aligned: bool) -> Path:
    stem = Path(name).stem
    return root / "Image" / "aligned" / f"{stem}_aligned.jpg" if aligned else root / "Image" / "original" / name


def read_rafdb_labels(root: str | Path, *, aligned: bool | None = None, log: ProblemLog | None = None) -> list[RafdbEntry]:
    """Parse the label file; malformed lines, unknown labels/prefixes, duplicates and missing images are problems.

    ``aligned=None`` uses ``Image/aligned`` when that folder exists, else ``Image/original``.
    """
    root = rafdb_root(root)
    if aligned is None:
        aligned = (root / "Image" / "aligned").is_dir()
    log = log or ProblemLog(strict=True)
    label_file = root / LABEL_FILE
    entries: list[RafdbEntry] = []
    seen: set[str] = set()
    missing: list[str] = []
    for line_no, line in enumerate(read_manifest_text(label_file).splitlines(), start=1):
        if not line.strip():
            continue
        where = f"{label_file} line {line_no}"
        parts = line.split()
        if len(parts) != 2 or not parts[1].isdigit():
            log.add(f"{where}: expected '<file name> <label 1..7>', got {line.strip()!r}")
            continue
        name, code = parts[0], int(parts[1])
        split = name.split("_", 1)[0]
        if split not in RAFDB_SPLITS:
            log.add(f"{where}: file name {name!r} must start with train_ or test_")
            continue
        if not 1 <= code <= len(RAFDB_LABELS):
            log.add(f"{where}: unknown label {code} (RAF-DB basic labels are 1..7)")
            continue
        if name in seen:
            log.add(f"{where}: duplicate id {name!r}")
            continue
        seen.add(name)
        path = image_path(root, name, aligned)
        if not path.is_file():
            missing.append(str(path))
            continue
        entries.append(RafdbEntry(split, Path(name).stem, code - 1, path))
    if missing:
        log.add(f"{len(missing)} image(s) listed in {label_file} are missing, e.g. {', '.join(missing[:3])}")
    return entries


def load_rafdb(root: str | Path, split: str, *, aligned: bool | None = None, size: tuple[int, int] = (48, 48), use_cache: bool = True) -> FaceDataset:
    """One official RAF-DB split (``train`` or ``test``) as (N, H, W) uint8 gray faces, 7 classes."""
    if split not in RAFDB_SPLITS:
        raise DatasetError(f"unknown RAF-DB split {split!r}; use train or test")
    entries = [e for e in read_rafdb_labels(root, aligned=aligned) if e.split == split]
    if not entries:
        raise DatasetError(f"no {split}_* lines in the RAF-DB label file under {root}")
    paths = [e.path for e in entries]
    key = f"rafdb-{split}-" + fingerprint(paths, extra=f"rafdb-v1-{size}")  # paths say aligned/original
    arrays = cached_arrays(key, lambda: {"images": decode_images(paths, size, require_size=False, desc=f"decoding RAF-DB {split}")}, enabled=use_cache)
    labels = np.asarray([e.label for e in entries], np.int64)
    return FaceDataset(arrays["images"], labels, RAFDB_LABELS, tuple(e.name for e in entries), None, f"rafdb/{split}")


def rafdb_counts(root: str | Path, log: ProblemLog) -> dict[str, dict[str, int]]:
    """Per-split class counts from the label file alone (no decoding), for ``ferkit datasets inspect``."""
    counts = {s: {c: 0 for c in RAFDB_LABELS} for s in RAFDB_SPLITS}
    entries = read_rafdb_labels(root, log=log)
    for e in entries:
        counts[e.split][RAFDB_LABELS[e.label]] += 1
    for folder in sorted({e.path.parent for e in entries}):  # the label file decides what is data; the rest is named
        listed = {e.path.name for e in entries if e.path.parent == folder}
        unlisted = sorted(p.name for p in folder.iterdir() if is_image_file(p) and p.name not in listed)
        if unlisted:
            log.add(f"{len(unlisted)} image(s) in {folder} are not used (not in the label file, or on a line refused above), e.g. {', '.join(unlisted[:3])}")
    return counts


def looks_like_rafdb(path: Path) -> bool:
    return path.is_dir() and ((path / "EmoLabel").is_dir() or (path / "basic" / "EmoLabel").is_dir())


@register_dataset(
    "rafdb", ("official",),
    layout="EmoLabel/list_patition_label.txt ('train_00001.jpg 5', labels 1..7) + Image/aligned/*_aligned.jpg or Image/original/",
    spec="rafdb:/data/RAF-DB/basic", notes="train/test from the file-name prefix; val = stratified 10% of train",
    counter=rafdb_counts, detect=looks_like_rafdb,
)
def _rafdb_splits(path: Path, protocol: str, seed: int) -> list[ExperimentSplit]:
    """Official train/test; validation = a stratified 10% of training (the test split is scored once)."""
    return [holdout_experiment("rafdb", load_rafdb(path, "train"), load_rafdb(path, "test"), 0.1, seed)]
