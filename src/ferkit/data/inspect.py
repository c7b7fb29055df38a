"""What ``ferkit datasets`` and ``ferkit datasets inspect PATH`` show: the supported layouts, and a
dataset's per-split class counts and problems, read from manifests and file names without decoding.

Loaders and inspection share one reader per family: a ``ProblemLog(strict=True)`` raises the first
problem (loading), a non-strict one collects them all (inspection).
"""

from __future__ import annotations

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


def describe_formats() -> list[dict]:
    """One dict per registered family: name, protocols (first = default), layout, spec, notes."""
    from ferkit.data.registry import DATASETS

    return [{"name": f.name, "protocols": list(f.protocols), "layout": f.layout, "spec": f.spec, "notes": f.notes} for _, f in DATASETS.items()]


def csv_header(path: Path) -> list[str]:
    """The column names of a CSV file's first line (layout detectors read manifests by their header).

    Undecodable bytes are replaced, so a binary file gives an unmatched header instead of an error."""
    with open(path, newline="", errors="replace") as f:
        return [c.strip() for c in f.readline().strip().split(",")]


def inspect_dataset(path_or_spec: str | Path) -> InspectionReport:
    """Recognise the format (or take ``family:path``), count classes per split and list problems."""
    from ferkit.data.registry import DATASETS, detect_family

    spec = str(path_or_spec)
    family, _, rest = spec.partition(":")
    if rest and family in DATASETS:
        path = Path(rest).expanduser()
    else:
        path = Path(spec).expanduser()
        family = detect_family(path)
    log = ProblemLog(strict=False)
    try:
        splits = DATASETS.get(family).counter(path, log)
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
