"""What ``ferkit datasets`` and ``ferkit datasets inspect PATH`` show: the supported layouts, and a
dataset's per-split class counts and problems, read from manifests and file names without decoding.

Loaders and inspection share one reader per family: a ``ProblemLog(strict=True)`` raises the first
problem (loading), a non-strict one collects them all (inspection).
"""

from __future__ import annotations

import importlib
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

from ferkit.errors import DatasetError, FerkitError


@dataclass
class ProblemLog:
    """Problems found while reading a dataset: raised as DatasetError when strict, else collected."""

    strict: bool = False
    messages: list[str] = field(default_factory=list)

    def add(self, message: str) -> None:
        if self.strict:
            raise DatasetError(message)
        self.messages.append(message)

    def check_duplicates(self, ids: list[str], where: str) -> None:
        dups = sorted(name for name, n in Counter(ids).items() if n > 1)
        if dups:
            self.add(f"{where}: {len(dups)} duplicate id(s) (one name listed twice or in two class folders), e.g. {', '.join(dups[:3])}")


@dataclass
class InspectionReport:
    family: str
    path: str
    splits: dict[str, dict[str, int]]
    problems: list[str]


# name, layout, example spec, notes; the protocols come from the registry.
FORMATS: tuple[tuple[str, str, str, str], ...] = (
    ("fer2013", "train/<class>/Training_*.jpg + test/<class>/{PublicTest,PrivateTest}_*.jpg, or the Kaggle fer2013.csv (emotion,pixels,Usage)",
     "fer2013:/data/fer2013", "train = Training, val = PublicTest, test = PrivateTest"),
    ("ckplus48", "<class>/S<subject>_<sequence>_<frame>.png (48x48)", "ckplus48:/data/ckplus48",
     "kfold10 is subject-independent; random800 (papers 000/001) leaks subjects"),
    ("imagefolder", "<class>/<images>, or train|val|test/<class>/<images>", "imagefolder:/data/faces",
     "class folders may use aliases (angry, happy, ...); without train/test a stratified 80/10/10 split"),
    ("rafdb", "EmoLabel/list_patition_label.txt ('train_00001.jpg 5', labels 1..7) + Image/aligned/*_aligned.jpg or Image/original/",
     "rafdb:/data/RAF-DB/basic", "train/test from the file-name prefix; val = stratified 10% of train"),
    ("affectnet", "training.csv + validation.csv (subDirectory_filePath,face_x,face_y,face_width,face_height,facial_landmarks,expression,valence,arousal) "
     "+ Manually_Annotated_Images/<subDirectory_filePath>", "affectnet:/data/AffectNet",
     "test = official validation set; val = stratified 5% of training; crops by the face box unless images are pre-cropped"),
    ("jaffe", "*.tiff named <subject>.<code><n>.<number>.tiff (KA.AN1.39.tiff; codes AN DI FE HA NE SA SU)", "jaffe:/data/jaffe",
     "loso = leave one subject out (10 folds); random70 (paper 002) leaks subjects"),
    ("sfew", "Train/<Emotion>/*.png + Val/<Emotion>/*.png (aligned faces)", "sfew:/data/SFEW_2.0",
     "test = Val; val = stratified 10% of Train"),
    ("ferplus", "fer2013new.csv (Usage,Image name,neutral,...,contempt,unknown,NF) beside the original fer2013.csv", "ferplus:/data/FERPlus",
     "8 classes; majority or soft (extra['soft_labels'], (N, 8)) training labels; val/test use majority labels"),
    ("videos", "<class>/<clip>.avi, or one CSV with columns path,label[,subject] (paths relative to the CSV)", "videos:/data/MMI",
     "20 representative frames per clip, 48x48 gray; grouped by subject (else clip); random70 (paper 002) leaks clips"),
)

COUNTERS: dict[str, str] = {
    "rafdb": "ferkit.data.rafdb:rafdb_counts",
    "affectnet": "ferkit.data.affectnet:affectnet_counts",
    "jaffe": "ferkit.data.jaffe:jaffe_counts",
    "sfew": "ferkit.data.sfew:sfew_counts",
    "ferplus": "ferkit.data.ferplus:ferplus_counts",
    "videos": "ferkit.data.videos:video_counts",
    "fer2013": "ferkit.data.inspect:fer2013_counts",
    "ckplus48": "ferkit.data.inspect:ckplus_counts",
    "imagefolder": "ferkit.data.inspect:imagefolder_counts",
}


def describe_formats() -> list[dict]:
    """One dict per family: name, protocols (first = default), layout, spec, notes."""
    from ferkit.data.registry import PROTOCOLS

    for target in COUNTERS.values():  # importing a family module registers its protocols
        importlib.import_module(target.split(":")[0])
    return [
        {"name": name, "protocols": list(PROTOCOLS.get(name, ())), "layout": layout, "spec": spec, "notes": notes}
        for name, layout, spec, notes in FORMATS
    ]


def _csv_header(path: Path) -> list[str]:
    with open(path, newline="") as f:
        return [c.strip() for c in f.readline().strip().split(",")]


def detect_family(path: Path) -> str:
    """Recognise a dataset layout from its files (manifests first, then folder shapes)."""
    from ferkit.data.registry import guess_family

    if path.is_file() and path.suffix.lower() == ".csv":
        header = _csv_header(path)
        if "NF" in header and "Image name" in header:
            return "ferplus"
        if "subDirectory_filePath" in header:
            return "affectnet"
        if "path" in header and "label" in header:
            return "videos"
        return "fer2013"
    if not path.is_dir():
        raise DatasetError(f"dataset path not found: {path}")
    names = {p.name.lower() for p in path.iterdir()}
    if "fer2013new.csv" in names:
        return "ferplus"
    if (path / "EmoLabel").is_dir() or (path / "basic" / "EmoLabel").is_dir():
        return "rafdb"
    if {"training.csv", "validation.csv"} & names:
        return "affectnet"
    if {"Train", "Val"} <= {p.name for p in path.iterdir()}:  # SFEW's capitalised folders; imagefolder uses train/val/test
        return "sfew"
    if any(p.stem.count(".") == 2 for pattern in ("*.tif*", "*/*.tif*") for p in path.glob(pattern)):
        return "jaffe"
    from ferkit.data.videos import VIDEO_SUFFIXES

    csvs = [p for p in path.glob("*.csv")]
    if len(csvs) == 1 and {"path", "label"} <= set(_csv_header(csvs[0])):
        return "videos"
    if any(p.suffix.lower() in VIDEO_SUFFIXES for p in path.glob("*/*")):
        return "videos"
    return guess_family(path)


def inspect_dataset(path_or_spec: str | Path) -> InspectionReport:
    """Recognise the format (or take ``family:path``), count classes per split and list problems."""
    spec = str(path_or_spec)
    family, _, rest = spec.partition(":")
    if rest and family in COUNTERS:
        path = Path(rest).expanduser()
    else:
        path = Path(spec).expanduser()
        family = detect_family(path)
    module, func = COUNTERS[family].split(":")
    counter: Callable[[Path, ProblemLog], dict[str, dict[str, int]]] = getattr(importlib.import_module(module), func)
    log = ProblemLog(strict=False)
    try:
        splits = counter(path, log)
    except FerkitError as exc:  # a broken manifest stops reading; report it rather than crash
        splits = {}
        log.messages.append(str(exc))
    return InspectionReport(family, str(path), splits, log.messages)


def format_report(report: InspectionReport) -> str:
    """A plain-text table: one row per split, one column per class, then the problems."""
    classes: list[str] = []
    for counts in report.splits.values():
        classes += [c for c in counts if c not in classes]
    width = max([len(s) for s in report.splits] + [5])
    lines = [f"{report.family} at {report.path}", ""]
    header = " ".join(f"{c:>10}" for c in classes)
    lines.append(f"{'split':<{width}} {header} {'total':>8}")
    for split, counts in report.splits.items():
        row = " ".join(f"{counts.get(c, 0):>10}" for c in classes)
        lines.append(f"{split:<{width}} {row} {sum(counts.values()):>8}")
    lines.append("")
    if report.problems:
        lines.append(f"{len(report.problems)} problem(s):")
        lines += [f"  - {p}" for p in report.problems]
    else:
        lines.append("no problems found")
    return "\n".join(lines)


# --- counters for the foundation's families (their loaders decode, so count file names here) ---

def _folder_counts(folder: Path, log: ProblemLog, keep: Callable[[Path], bool] = lambda p: True) -> dict[str, int]:
    from ferkit.data.folders import scan_class_folders

    try:
        by_class = scan_class_folders(folder, keep=keep, allow_empty=True)
    except DatasetError as exc:
        log.add(str(exc))
        return {}
    log.check_duplicates([p.name for files in by_class.values() for p in files], str(folder))
    return {name: len(files) for name, files in by_class.items()}


def fer2013_counts(path: Path, log: ProblemLog) -> dict[str, dict[str, int]]:
    import csv

    from ferkit.labels import FER2013_LABELS

    if path.is_file():
        counts: dict[str, dict[str, int]] = {}
        with open(path, newline="") as f:
            for row in csv.DictReader(f):
                code = row.get("emotion", "")
                usage = counts.setdefault(row.get("Usage", "?"), {n: 0 for n in FER2013_LABELS})
                if code.isdigit() and int(code) < len(FER2013_LABELS):
                    usage[FER2013_LABELS[int(code)]] += 1
                else:
                    log.add(f"{path}: unknown emotion code {code!r}")
        return counts
    splits = {}
    for usage, sub in (("Training", "train"), ("PublicTest", "test"), ("PrivateTest", "test")):
        if (path / sub).is_dir():
            splits[usage] = _folder_counts(path / sub, log, keep=lambda p, u=usage: p.name.startswith(u + "_"))
        else:
            log.add(f"FER2013 {sub}/ folder missing under {path}")
    return splits


def ckplus_counts(path: Path, log: ProblemLog) -> dict[str, dict[str, int]]:
    from ferkit.data.ckplus import CKPLUS_NAME

    counts = _folder_counts(path, log)
    bad = [p.name for p in path.glob("*/*") if p.is_file() and not CKPLUS_NAME.match(p.stem)]
    if bad:
        log.add(f"{len(bad)} file(s) not named S<subject>_<sequence>_<frame>, e.g. {', '.join(bad[:3])}")
    return {"all": counts}


def imagefolder_counts(path: Path, log: ProblemLog) -> dict[str, dict[str, int]]:
    subs = [s for s in ("train", "val", "test") if (path / s).is_dir()]
    if subs:
        return {s: _folder_counts(path / s, log) for s in subs}
    return {"all": _folder_counts(path, log)}
