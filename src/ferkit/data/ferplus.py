"""FER+ (Barsoum et al. 2016): ten crowd votes per FER2013 image, in ``fer2013new.csv``.

``fer2013new.csv`` (``Usage,Image name,neutral,happiness,surprise,sadness,anger,disgust,fear,
contempt,unknown,NF``) is aligned row by row with the original ``fer2013.csv``, which holds the
pixels; both must be in the dataset folder (or pass ``fer2013_csv``). Labels follow the FER+
authors' ``_process_data`` (FERPlus/src/ferplus.py):

- votes of 1 are removed as outliers;
- ``majority``: the class with more than half of the remaining votes, else the row is dropped;
- ``soft`` (their "crossentropy"/"probability" processing): the top classes are taken, largest
  first, until they hold 75% of the votes (at most 3; all ties at once); if they hold no more
  than half of the votes, or more than 3 tie, the row is dropped;
- rows whose winner is ``unknown`` or ``NF`` (not a face), and rows with no image name, are dropped;
  the kept distribution is renormalised over the 8 emotions.

Splits: Training / PublicTest (validation) / PrivateTest (test). Validation and test always use
majority labels, as the authors evaluate.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from ferkit.data.dataset import FaceDataset
from ferkit.data.folders import manifest_rows
from ferkit.data.fer2013 import load_fer2013_csv, normalise_split
from ferkit.data.inspect import ProblemLog, csv_header
from ferkit.data.registry import ExperimentSplit, register_dataset
from ferkit.errors import ConfigError, DatasetError

FERPLUS_LABELS: tuple[str, ...] = ("neutral", "happiness", "surprise", "sadness", "anger", "disgust", "fear", "contempt")
VOTE_COLUMNS: tuple[str, ...] = (*FERPLUS_LABELS, "unknown", "NF")
CSV_COLUMNS: tuple[str, ...] = ("Usage", "Image name", *VOTE_COLUMNS)
FERPLUS_MODES = ("majority", "soft")


def ferplus_targets(votes: np.ndarray, mode: str) -> tuple[np.ndarray, np.ndarray]:
    """votes (N, 10) counts -> (keep (N,) bool, targets (N, 8) float32 rows summing to 1 where kept)."""
    if mode not in FERPLUS_MODES:
        raise ConfigError(f"FER+ mode must be one of {', '.join(FERPLUS_MODES)}, got {mode!r}")
    keep = np.zeros(len(votes), bool)
    targets = np.zeros((len(votes), len(FERPLUS_LABELS)), np.float32)
    for i, row in enumerate(np.asarray(votes, np.float64)):
        emotion = _process_votes(row, mode)
        if emotion is not None and int(np.argmax(emotion)) < len(FERPLUS_LABELS):
            kept = emotion[: len(FERPLUS_LABELS)]
            keep[i] = True
            targets[i] = kept / kept.sum()
    return keep, targets


def _process_votes(raw: np.ndarray, mode: str) -> np.ndarray | None:
    """One row of the authors' ``_process_data``; None means "forced to unknown" (dropped)."""
    raw = np.where(raw <= 1.0, 0.0, raw)  # outlier removal: single votes
    total = raw.sum()
    if total <= 0:
        return None
    emotion = np.zeros_like(raw)
    if mode == "majority":
        if raw.max() > 0.5 * total:
            emotion[int(np.argmax(raw))] = raw.max()
            return emotion
        return None
    taken, count = 0.0, 0
    while taken < 0.75 * total and count < 3:
        peak = raw.max()
        for i in np.flatnonzero(raw == peak):
            emotion[i], raw[i] = peak, 0.0
            taken += peak
            count += 1
            if i >= len(FERPLUS_LABELS):  # unknown/NF tied for the peak ends the search
                if emotion.sum() > peak:  # an emotion came first: drop the unknown/NF votes
                    emotion[i] = 0.0
                    count -= 1
                if emotion.sum() <= 0.5 * total or count > 3:
                    return None
                return emotion
    if emotion.sum() <= 0.5 * total or count > 3:
        return None
    return emotion


def read_ferplus_votes(csv_path: Path, log: ProblemLog | None = None) -> tuple[list[str], list[str], np.ndarray]:
    """(usage per row, image name per row, votes (N, 10) int) of ``fer2013new.csv``, every row kept for alignment."""
    log = log or ProblemLog(strict=True)
    if not csv_path.is_file():
        raise DatasetError(f"FER+ vote file not found: {csv_path} (fer2013new.csv from github.com/microsoft/FERPlus)")
    usages, names, votes = [], [], []
    reader = manifest_rows(csv_path)
    missing = [c for c in CSV_COLUMNS if c not in (reader.fieldnames or [])]
    if missing:
        raise DatasetError(f"{csv_path}: missing column(s) {missing}; expected header {','.join(CSV_COLUMNS)}")
    seen: set[str] = set()
    for line_no, row in enumerate(reader, start=2):
        try:
            counts = [int(float(row[c])) for c in VOTE_COLUMNS]
        except (TypeError, ValueError, OverflowError):  # a vote of "inf" raised OverflowError from int()
            log.add(f"{csv_path} line {line_no}: vote counts must be integers")
            counts = [0] * len(VOTE_COLUMNS)
        name = (row["Image name"] or "").strip()
        if name and name in seen:
            log.add(f"{csv_path} line {line_no}: duplicate id {name!r}")
        seen.add(name)
        try:  # "training" or "Training " name the split as the FER2013 loader reads it; "Validation" is no split
            usage = normalise_split((row["Usage"] or "").strip())
        except DatasetError as exc:  # reported before as "not aligned row by row", far from the cause
            log.add(f"{csv_path} line {line_no}: {exc}")
            usage = ""
        usages.append(usage)
        names.append(name)
        votes.append(counts)
    return usages, names, np.asarray(votes, np.int64).reshape(-1, len(VOTE_COLUMNS))


def find_csvs(root: Path, fer2013_csv: str | Path | None) -> tuple[Path, Path]:
    votes = root if root.is_file() else root / "fer2013new.csv"
    folder = votes.parent
    if fer2013_csv is not None:
        pixels = Path(fer2013_csv).expanduser()
    else:
        candidates = [folder / "fer2013.csv", folder.parent / "fer2013.csv", folder / "fer2013" / "fer2013.csv"]
        pixels = next((c for c in candidates if c.is_file()), candidates[0])
    if not pixels.is_file():
        raise DatasetError(f"FER+ needs the original fer2013.csv for the pixels: not found at {pixels} (put it beside fer2013new.csv)")
    return votes, pixels


def load_ferplus(root: str | Path, split: str, *, mode: str = "majority", fer2013_csv: str | Path | None = None) -> FaceDataset:
    """One FER+ split (Training/PublicTest/PrivateTest or train/val/test), 8 classes, 48x48.

    In ``soft`` mode ``extra["soft_labels"]`` is an (N, 8) float32 array (rows sum to 1) and
    ``labels`` is its argmax.
    """
    split = normalise_split(split)
    votes_csv, pixels_csv = find_csvs(Path(root).expanduser(), fer2013_csv)
    usages, names, votes = read_ferplus_votes(votes_csv)
    rows = np.flatnonzero(np.asarray(usages) == split)
    base = load_fer2013_csv(pixels_csv, split)
    base_rows = np.asarray([int(i.rsplit("_", 1)[1]) for i in base.ids])
    if len(base_rows) != len(rows) or not np.array_equal(base_rows, rows):
        raise DatasetError(f"{votes_csv} and {pixels_csv} are not aligned row by row for {split} (use the original, unsorted fer2013.csv)")
    keep, targets = ferplus_targets(votes[rows], mode)
    keep &= np.asarray([bool(names[r]) for r in rows], bool)
    extra = {"soft_labels": targets[keep]} if mode == "soft" else {}
    return FaceDataset(
        base.images[keep], targets[keep].argmax(1).astype(np.int64), FERPLUS_LABELS,
        tuple(names[r] for r in rows[keep]), None, f"ferplus-{mode}/{split}", extra,
    )


def ferplus_counts(root: str | Path, log: ProblemLog) -> dict[str, dict[str, int]]:
    """Majority-label counts per Usage from the vote file alone; dropped rows are counted as ``dropped``."""
    votes_csv = Path(root).expanduser()
    votes_csv = votes_csv if votes_csv.is_file() else votes_csv / "fer2013new.csv"
    usages, names, votes = read_ferplus_votes(votes_csv, log)
    keep, targets = ferplus_targets(votes, "majority")
    counts: dict[str, dict[str, int]] = {}
    for usage, name, kept, target in zip(usages, names, keep, targets):
        if not usage:  # a Usage that names no split: a problem in the log already
            continue
        c = counts.setdefault(usage, {**{n: 0 for n in FERPLUS_LABELS}, "dropped": 0})
        c[FERPLUS_LABELS[int(target.argmax())] if kept and name else "dropped"] += 1
    return counts


def looks_like_ferplus(path: Path) -> bool:
    """The FER+ vote file ``fer2013new.csv``, or a folder holding it."""
    if path.is_file():
        header = csv_header(path) if path.suffix.lower() == ".csv" else []
        return "NF" in header and "Image name" in header
    return path.is_dir() and any(p.name.lower() == "fer2013new.csv" for p in path.iterdir())


@register_dataset(
    "ferplus", FERPLUS_MODES,
    layout="fer2013new.csv (Usage,Image name,neutral,...,contempt,unknown,NF) beside the original fer2013.csv", spec="ferplus:/data/FERPlus",
    notes="8 classes; majority or soft (extra['soft_labels'], (N, 8)) training labels; val/test use majority labels",
    counter=ferplus_counts, detect=looks_like_ferplus, train_only=lambda path, protocol, seed: load_ferplus(path, "Training", mode=protocol),
)
def _ferplus_splits(path: Path, protocol: str, seed: int) -> list[ExperimentSplit]:
    """Training in the chosen label mode; PublicTest (val) and PrivateTest (test) with majority labels."""
    return [ExperimentSplit(
        f"ferplus-{protocol}",
        load_ferplus(path, "Training", mode=protocol),
        load_ferplus(path, "PublicTest", mode="majority"),
        load_ferplus(path, "PrivateTest", mode="majority"),
    )]
