"""JAFFE: 213 images of 10 Japanese female subjects, file names ``KA.AN1.39.tiff``.

The name is ``<subject>.<expression code><repeat>.<image number>.tiff``; codes AN DI FE HA NE
SA SU. Protocols: leave-one-subject-out (10 folds, no leakage) and paper 002's random 70/30
image split (leaks subjects: every subject is on both sides).
"""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np

from ferkit.data.dataset import FaceDataset
from ferkit.data.folders import decode_images, require_dir
from ferkit.data.grouped import fold_experiments, leave_one_group_out, random_fraction_experiment
from ferkit.data.image_io import is_image_file
from ferkit.data.inspect import ProblemLog
from ferkit.data.registry import ExperimentSplit, register_dataset
from ferkit.errors import DatasetError

JAFFE_CODES: dict[str, str] = {
    "AN": "anger", "DI": "disgust", "FE": "fear", "HA": "happiness", "NE": "neutral", "SA": "sadness", "SU": "surprise",
}
JAFFE_LABELS: tuple[str, ...] = tuple(JAFFE_CODES.values())  # code order AN DI FE HA NE SA SU
JAFFE_NAME = re.compile(r"^([A-Za-z]{2})\.([A-Za-z]{2})(\d+)\.(\d+)$")


def parse_jaffe_name(path: Path) -> tuple[str, str]:
    """``KA.AN1.39.tiff`` -> (subject ``KA``, canonical class ``anger``); DatasetError for other names/codes."""
    match = JAFFE_NAME.match(path.stem)
    if not match:
        raise DatasetError(f"{path}: JAFFE file names look like KA.AN1.39.tiff (<subject>.<code><n>.<number>)")
    subject, code = match.group(1).upper(), match.group(2).upper()
    if code not in JAFFE_CODES:
        raise DatasetError(f"{path}: unknown expression code {code!r}; JAFFE codes are {', '.join(JAFFE_CODES)}")
    return subject, JAFFE_CODES[code]


def scan_jaffe(root: str | Path, log: ProblemLog | None = None) -> list[tuple[Path, str, str]]:
    """(path, subject, class) for every image under ``root`` (non-image files such as README are skipped)."""
    root = require_dir(root, "JAFFE root")
    log = log or ProblemLog(strict=True)
    found = []
    for path in sorted(p for p in root.rglob("*") if p.is_file() and is_image_file(p) and not p.name.startswith(".")):
        try:
            subject, name = parse_jaffe_name(path)
        except DatasetError as exc:
            log.add(str(exc))
            continue
        found.append((path, subject, name))
    log.check_duplicates([p.stem for p, _, _ in found], f"JAFFE images under {root}")
    if not found:
        raise DatasetError(f"no JAFFE images (*.tiff named like KA.AN1.39.tiff) under {root}")
    return found


def load_jaffe(root: str | Path, *, size: tuple[int, int] = (48, 48)) -> FaceDataset:
    """All JAFFE images, gray, resized to ``size``; groups = subject initials."""
    found = scan_jaffe(root)
    images = decode_images([p for p, _, _ in found], size, require_size=False, desc="decoding JAFFE")
    labels = np.asarray([JAFFE_LABELS.index(c) for _, _, c in found], np.int64)
    return FaceDataset(images, labels, JAFFE_LABELS, tuple(p.stem for p, _, _ in found), tuple(s for _, s, _ in found), "jaffe")


def jaffe_counts(root: str | Path, log: ProblemLog) -> dict[str, dict[str, int]]:
    counts = {c: 0 for c in JAFFE_LABELS}
    for _, _, name in scan_jaffe(root, log):
        counts[name] += 1
    return {"all": counts}


def looks_like_jaffe(path: Path) -> bool:
    """TIFF files named ``<subject>.<code><n>.<number>``, at the top or one folder down."""
    return path.is_dir() and any(p.stem.count(".") == 2 for pattern in ("*.tif*", "*/*.tif*") for p in path.glob(pattern))


@register_dataset(
    "jaffe", ("loso", "random70"),
    layout="*.tiff named <subject>.<code><n>.<number>.tiff (KA.AN1.39.tiff; codes AN DI FE HA NE SA SU)", spec="jaffe:/data/jaffe",
    notes="loso = leave one subject out (10 folds); random70 (paper 002) leaks subjects",
    counter=jaffe_counts, detect=looks_like_jaffe,
)
def _jaffe_splits(path: Path, protocol: str, seed: int) -> list[ExperimentSplit]:
    """loso: one fold per subject, validation = one other subject. random70: paper 002's 149/64 split (leaks)."""
    data = load_jaffe(path)
    if protocol == "random70":
        return [random_fraction_experiment(data, 0.7, seed, "random70")]
    assert data.groups is not None  # set by load_jaffe
    return fold_experiments(data, leave_one_group_out(data.groups), 1 / 9, seed)
