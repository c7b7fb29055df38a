"""CK+48: ``<class>/S<subject>_<sequence>_<frame>.png``, 981 crops of 118 subjects, 7 classes."""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np

from ferkit.data.dataset import FaceDataset
from ferkit.data.folders import decode_images, require_dir, scan_class_folders
from ferkit.data.inspect import ProblemLog
from ferkit.errors import DatasetError
from ferkit.labels import CKPLUS_LABELS

CKPLUS_NAME = re.compile(r"^S(\d+)_(\d+)_(\d+)$")


def subject_of(path: Path) -> str:
    """Subject id from a CK+ file name such as ``S010_004_00000017.png`` -> ``S010``."""
    match = CKPLUS_NAME.match(path.stem)
    if not match:
        raise DatasetError(f"{path}: CK+ file names must look like S<subject>_<sequence>_<frame>.png")
    return "S" + match.group(1)


def scan_ckplus(root: Path, log: ProblemLog) -> dict[str, list[Path]]:
    """{CK+ class: sorted image paths} under ``root``, for the loader (strict log: raises) and ``inspect``.

    Problems go to ``log``: a class CK+ does not have (``neutral``), a file name without a subject id,
    and a frame in two class folders (one frame has one label; taking both would train on a contradiction).
    """
    by_class = scan_class_folders(root, log=log)
    unknown = sorted(set(by_class) - set(CKPLUS_LABELS))
    if unknown:
        log.add(f"{root}: classes {unknown} are not CK+ classes {list(CKPLUS_LABELS)}")
    by_class = {name: files for name, files in by_class.items() if name in CKPLUS_LABELS}
    paths = [p for files in by_class.values() for p in files]
    unnamed = [p for p in paths if not CKPLUS_NAME.match(p.stem)]
    if unnamed:
        log.add(f"{len(unnamed)} file(s) under {root} not named S<subject>_<sequence>_<frame>.png (the subject groups the folds), "
                f"e.g. {', '.join(f'{p.parent.name}/{p.name}' for p in unnamed[:3])}")
    folders_of: dict[str, list[str]] = {}
    for p in paths:
        folders_of.setdefault(p.stem, []).append(p.parent.name + "/")
    twice = {frame: folders for frame, folders in sorted(folders_of.items()) if len(folders) > 1}
    if twice:
        examples = "; ".join(f"{frame} in {' and '.join(folders)}" for frame, folders in list(twice.items())[:3])
        log.add(f"{root}: {len(twice)} frame(s) in more than one class folder ({examples}); a frame has one label: remove the wrong copy")
    return by_class


def load_ckplus48(root: str | Path) -> FaceDataset:
    """All CK+48 images with subject groups; split with ``subject_kfold`` or ``random_count_split``."""
    root = require_dir(root, "CK+48 root")
    by_class = scan_ckplus(root, ProblemLog(strict=True))
    class_names = tuple(n for n in CKPLUS_LABELS if n in by_class)
    paths: list[Path] = []
    labels: list[int] = []
    for idx, name in enumerate(class_names):
        paths += by_class[name]
        labels += [idx] * len(by_class[name])
    groups = tuple(subject_of(p) for p in paths)
    images = decode_images(paths, (48, 48), require_size=False, desc="decoding CK+48")
    ids = tuple(f"{p.parent.name}/{p.name}" for p in paths)
    return FaceDataset(images, np.asarray(labels, np.int64), class_names, ids, groups, "ckplus48")
