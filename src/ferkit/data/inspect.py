"""What ``ferkit datasets`` and ``ferkit datasets inspect PATH`` show: the supported layouts, and a
dataset's per-split class counts and problems, read from manifests and file names without decoding.

Loaders and inspection share one reader per family: a ``ProblemLog(strict=True)`` raises the first
problem (loading), a non-strict one collects them all (inspection).
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

from ferkit.errors import DatasetError, FerkitError


@dataclass
class ProblemLog:
    """Problems found while reading a dataset: raised as DatasetError when strict, else collected."""

    strict: bool = False
    messages: list[str] = field(default_factory=list)

    def add(self, message: str) -> None:
        if self.strict:
            raise DatasetError(message) from None  # raised from a reader's except block: the message says it all
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
    with open(path, newline="", encoding="utf-8-sig", errors="replace") as f:
        return [c.strip() for c in f.readline().strip().split(",")]


def inspect_dataset(path_or_spec: str | Path) -> InspectionReport:
    """Recognise the format (or take ``family:path``), count classes per split and list problems."""
    from ferkit.data.registry import DATASETS, parse_spec

    family, path = parse_spec(str(path_or_spec))  # as training reads it: a misspelt family is named, not "path not found"
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
# Each counter reads through its loader's own checks (a non-strict log collects what loading raises).

MAX_ROW_PROBLEMS = 20  # a CSV with one bad column value in every row would otherwise list thousands of lines


def _folder_counts(folder: Path, log: ProblemLog) -> dict[str, int]:
    """Class counts of one image folder, with its loader's checks (``scan_class_folders``, problems collected and
    the other classes still counted); no duplicate-name check: an image folder's ids are ``class/name``, so one
    name in two class folders is two images."""
    from ferkit.data.folders import scan_class_folders

    try:
        by_class = scan_class_folders(folder, log=log)
    except DatasetError as exc:  # the folder itself unreadable (a broken link at its top)
        log.add(str(exc))
        return {}
    return {name: len(files) for name, files in by_class.items()}


def fer2013_counts(path: Path, log: ProblemLog) -> dict[str, dict[str, int]]:
    """Per-Usage class counts of any FER2013 form, resolved as ``load_fer2013`` resolves it."""
    from ferkit.data.fer2013 import fer2013_source

    kind, source = fer2013_source(path)
    if kind == "pack":
        from ferkit.data.fer2013_pack import pack_info
        from ferkit.labels import FER2013_LABELS

        return {split: dict(zip(FER2013_LABELS, info["class_counts"])) for split, info in pack_info(source)["splits"].items()}
    if kind == "csv":
        return _fer2013_csv_counts(source, log)
    return _fer2013_folder_counts(source, log)


def _fer2013_csv_counts(csv_path: Path, log: ProblemLog) -> dict[str, dict[str, int]]:
    from ferkit.data.fer2013 import FER2013_SPLITS, read_fer2013_csv
    from ferkit.labels import FER2013_LABELS

    counts = {usage: dict.fromkeys(FER2013_LABELS, 0) for usage in FER2013_SPLITS}
    rows_log = ProblemLog(strict=False)
    for row in read_fer2013_csv(csv_path, rows_log):  # a header it cannot read raises: inspect_dataset reports it
        counts[row.usage][FER2013_LABELS[row.label]] += 1
    for message in rows_log.messages[:MAX_ROW_PROBLEMS]:
        log.add(message)
    if len(rows_log.messages) > MAX_ROW_PROBLEMS:
        log.add(f"{csv_path}: {len(rows_log.messages) - MAX_ROW_PROBLEMS} more malformed row(s) not listed")
    for usage, by_class in counts.items():
        if not sum(by_class.values()):
            log.add(f"{csv_path}: no rows with Usage {usage}")
    return counts


def _fer2013_folder_counts(root: Path, log: ProblemLog) -> dict[str, dict[str, int]]:
    """Each of train/ and test/ scanned once (test/ holds two Usages), with the loader's checks."""
    from ferkit.data.fer2013 import FOLDER_USAGES, check_fer2013_root, scan_fer2013_folder
    from ferkit.labels import FER2013_LABELS

    try:
        check_fer2013_root(root)
    except DatasetError as exc:
        log.add(str(exc))
    splits: dict[str, dict[str, int]] = {}
    for sub, usages in FOLDER_USAGES.items():
        if not (root / sub).is_dir():
            log.add(f"FER2013 {sub}/ folder missing under {root}")
            continue
        try:
            found = scan_fer2013_folder(root / sub, log)
        except DatasetError as exc:
            log.add(str(exc))
            continue
        log.check_duplicates([p.name for by_class in found.values() for files in by_class.values() for p in files], str(root / sub))
        for usage in usages:
            splits[usage] = {name: len(found[usage].get(name, [])) for name in FER2013_LABELS}
    return splits


def ckplus_counts(path: Path, log: ProblemLog) -> dict[str, dict[str, int]]:
    from ferkit.data.ckplus import scan_ckplus

    try:
        by_class = scan_ckplus(path, log)
    except DatasetError as exc:
        log.add(str(exc))
        return {"all": {}}
    return {"all": {name: len(files) for name, files in by_class.items()}}


def imagefolder_counts(path: Path, log: ProblemLog) -> dict[str, dict[str, int]]:
    """Counts per split folder (or ``all``), with the loader's layout and class-set checks."""
    from ferkit.data.imagefolder import SPLIT_NAMES, check_classes_of_split, split_folders

    try:
        folders = split_folders(path)
    except DatasetError as exc:
        log.add(str(exc))
        folders = {}
        for folder in sorted(p for p in path.iterdir() if p.is_dir() and p.name.lower() in SPLIT_NAMES):
            folders.setdefault(SPLIT_NAMES[folder.name.lower()], folder)  # counted once per split even when named twice
    if not folders:
        return {"all": _folder_counts(path, log)}
    counts = {name: _folder_counts(folder, log) for name, folder in folders.items()}
    for name in ("val", "test"):
        if counts.get(name) and counts.get("train"):
            try:
                check_classes_of_split(folders[name], counts[name], tuple(counts["train"]))
            except DatasetError as exc:
                log.add(str(exc))
    return counts
