"""FER2013 in both forms people have: the Kaggle ``fer2013.csv`` and the ImageFolder re-pack.

Splits follow the original ``Usage`` column: Training (28,709), PublicTest (3,589, our validation
split) and PrivateTest (3,589, the test split, scored once). The loaders and ``ferkit datasets
inspect`` read both forms through the same checks (``read_fer2013_csv``, ``scan_fer2013_folder``):
a strict ``ProblemLog`` raises the first problem, naming the file and line.
"""

from __future__ import annotations

import csv
from collections import Counter
from dataclasses import dataclass
from pathlib import Path
from typing import Iterator

import numpy as np

from ferkit.data.cache import cached_arrays, fingerprint
from ferkit.data.dataset import FaceDataset
from ferkit.data.folders import decode_images, require_dir, scan_class_folders, visible_entries
from ferkit.data.image_io import is_image_file
from ferkit.data.inspect import ProblemLog
from ferkit.errors import DatasetError
from ferkit.labels import FER2013_LABELS

FER2013_SPLITS = ("Training", "PublicTest", "PrivateTest")
SPLIT_ALIASES = {
    "training": "Training", "train": "Training",
    "publictest": "PublicTest", "public": "PublicTest", "val": "PublicTest", "valid": "PublicTest", "validation": "PublicTest",
    "privatetest": "PrivateTest", "private": "PrivateTest", "test": "PrivateTest",
}
CSV_COLUMNS = ("emotion", "pixels", "Usage")
PIXEL_COUNT = 48 * 48
# The re-pack's two folders and the Usage values their file-name prefixes may carry.
FOLDER_USAGES: dict[str, tuple[str, ...]] = {"train": ("Training",), "test": ("PublicTest", "PrivateTest")}
FOLDER_LAYOUT = "train/<class>/Training_*.jpg + test/<class>/{PublicTest,PrivateTest}_*.jpg"


def normalise_split(split: str) -> str:
    key = split.replace("_", "").replace("-", "").lower()
    if key not in SPLIT_ALIASES:
        raise DatasetError(f"unknown FER2013 split {split!r}; use one of {', '.join(FER2013_SPLITS)} (or train/val/test)")
    return SPLIT_ALIASES[key]


def fer2013_source(path: str | Path) -> tuple[str, Path]:
    """Which form ``path`` holds, as ("pack" | "csv" | "folder", file or root): the loader and the inspector
    must read a path the same way (a folder holding ``fer2013.csv`` and no ``train/`` is the CSV)."""
    path = Path(path).expanduser()
    if path.is_file():
        return ("pack" if path.suffix == ".npz" else "csv"), path
    root = require_dir(path, "FER2013 root")
    if (root / "fer2013.csv").is_file() and not (root / "train").exists():
        return "csv", root / "fer2013.csv"
    return "folder", root


def load_fer2013(path: str | Path, split: str, *, use_cache: bool = True) -> FaceDataset:
    """Load one FER2013 split from a ``fer2013.csv`` file, an ImageFolder root (``train/``, ``test/``) or a
    Training + PublicTest pack (``.npz``, see ``ferkit.data.fer2013_pack``)."""
    split = normalise_split(split)
    kind, source = fer2013_source(path)
    if kind == "pack":  # a Training + PublicTest pack (benchmarks/pack_fer2013.py)
        from ferkit.data.fer2013_pack import load_fer2013_pack

        return load_fer2013_pack(source, split, use_cache=use_cache)
    if kind == "csv":
        return load_fer2013_csv(source, split)
    return load_fer2013_folder(source, split, use_cache=use_cache)


# --- the ImageFolder re-pack ---------------------------------------------------------------------

def check_fer2013_root(root: Path) -> None:
    """Refuse folders the re-pack does not have (``val/``) and images beside train/ and test/: they would never be read."""
    entries = visible_entries(require_dir(root, "FER2013 root"))
    loose = [p.name for p in entries if p.is_file() and is_image_file(p)]
    if loose:
        raise DatasetError(f"{len(loose)} image file(s) directly in {root}, e.g. {loose[0]}: FER2013 images belong in {FOLDER_LAYOUT}")
    extra = [p.name + "/" for p in entries if p.is_dir() and p.name not in FOLDER_USAGES]
    if extra:
        raise DatasetError(f"{root}: unexpected folder(s) {', '.join(extra)}; the FER2013 re-pack has only train/ and test/ "
                           f"({FOLDER_LAYOUT}): PublicTest, the validation split, lives in test/, told apart by its file-name prefix")


def usage_of_file(path: Path, folder: str) -> str:
    """The Usage a re-pack file's name carries (``PublicTest_123.jpg`` -> PublicTest), which must belong in ``folder``."""
    usage = path.name.split("_", 1)[0] if "_" in path.name else ""
    allowed = FOLDER_USAGES[folder]
    if usage in allowed:
        return usage
    rule = " or ".join(f"{u}_" for u in allowed)
    where = next((f"; {usage} images belong in {f}/" for f, us in FOLDER_USAGES.items() if usage in us), "")
    raise DatasetError(f"{path}: file names in the FER2013 {folder}/ folder must start with {rule} "
                       f"(the original Usage, case included){where}; rename or remove it")


def scan_fer2013_folder(split_dir: Path, log: ProblemLog) -> dict[str, dict[str, list[Path]]]:
    """{usage: {class: sorted image paths}} of ``train/`` or ``test/``, each file's Usage read from its name.

    A class FER2013 lacks, or a file whose name does not carry a Usage of this folder, goes to ``log``
    (loading: raises), never silently left out."""
    folder = split_dir.name
    by_class = scan_class_folders(split_dir, allow_empty=True, log=log)
    unknown = sorted(set(by_class) - set(FER2013_LABELS))
    if unknown:
        log.add(f"{split_dir}: classes {unknown} are not FER2013 classes {list(FER2013_LABELS)}")
    found: dict[str, dict[str, list[Path]]] = {usage: {} for usage in FOLDER_USAGES[folder]}
    for name in FER2013_LABELS:
        for path in by_class.get(name, []):
            try:
                usage = usage_of_file(path, folder)
            except DatasetError as exc:
                log.add(str(exc))
                continue
            found[usage].setdefault(name, []).append(path)
    return found


def fer2013_folder_files(root: Path, split: str) -> tuple[list[Path], list[int]]:
    """Image paths of one split of the ImageFolder re-pack and their label indices, in class order."""
    check_fer2013_root(root)
    sub = "train" if split == "Training" else "test"
    split_dir = require_dir(root / sub, f"FER2013 {sub}/ folder")
    by_class = scan_fer2013_folder(split_dir, ProblemLog(strict=True))[split]
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


# --- the Kaggle CSV ------------------------------------------------------------------------------

@dataclass(frozen=True)
class Fer2013Row:
    """One well-formed CSV row. ``index`` counts data rows from 0 (the row ids FER+ aligns on);
    ``pixels`` is (48, 48) uint8, or None for a Usage whose pixels were not asked for."""

    index: int
    usage: str
    label: int
    pixels: np.ndarray | None


def read_fer2013_csv(csv_path: Path, log: ProblemLog, *, pixels_for: tuple[str, ...] = FER2013_SPLITS) -> Iterator[Fer2013Row]:
    """The rows of a Kaggle ``fer2013.csv`` in file order; a malformed row goes to ``log`` (strict: raises,
    naming its line), so no row is skipped unseen. A file that cannot be read as such a CSV (not UTF-8, no
    ``emotion,pixels,Usage`` header) raises. Every row's Usage and emotion are checked; its pixels only
    for the Usage values in ``pixels_for`` (parsing them is most of the cost)."""
    try:
        with open(csv_path, newline="", encoding="utf-8-sig") as f:  # -sig: a byte-order mark is not part of 'emotion'
            reader = csv.reader(f)
            header = next(reader, [])
            columns = check_csv_header(csv_path, header)
            index = 0
            for fields in reader:
                if not fields:  # a blank line holds no row (csv.DictReader skipped them too)
                    continue
                try:
                    row: Fer2013Row | None = parse_csv_row(fields, columns, len(header), index, f"{csv_path} line {reader.line_num}", pixels_for)
                except DatasetError as exc:
                    row, problem = None, str(exc)
                index += 1
                if row is None:
                    log.add(problem)
                else:
                    yield row
    except UnicodeDecodeError as exc:
        raise DatasetError(f"{csv_path}: not UTF-8 text (byte 0x{exc.object[exc.start]:02x} cannot be decoded); re-save it as UTF-8") from None
    except csv.Error as exc:
        raise DatasetError(f"{csv_path}: not a readable CSV file ({exc})") from None


def check_csv_header(csv_path: Path, header: list[str]) -> dict[str, int]:
    """{column: position} of ``emotion``, ``pixels`` and ``Usage`` (other columns may follow); a missing one raises,
    naming near misses such as ``' pixels'`` (a space after the comma) or ``'usage'``."""
    if not header:
        raise DatasetError(f"{csv_path} is empty; a FER2013 CSV starts with the header line {','.join(CSV_COLUMNS)}")
    missing = [c for c in CSV_COLUMNS if c not in header]
    if missing:
        near = [h for h in header if h not in CSV_COLUMNS and h.strip().lower() in {m.lower() for m in missing}]
        hint = f" (the header has {', '.join(map(repr, near))}: names must match exactly, without spaces)" if near else ""
        raise DatasetError(f"{csv_path}: missing column(s) {missing}{hint}; expected header {','.join(CSV_COLUMNS)}")
    return {c: header.index(c) for c in CSV_COLUMNS}


def parse_csv_row(fields: list[str], columns: dict[str, int], n_columns: int, index: int, where: str,
                  pixels_for: tuple[str, ...]) -> Fer2013Row:
    """One checked row; anything malformed raises DatasetError starting with ``where`` (file and line)."""
    if len(fields) != n_columns:
        raise DatasetError(f"{where}: {len(fields)} field(s) where the header has {n_columns}; a comma is missing or extra")
    usage = parse_usage(fields[columns["Usage"]], where)
    label = parse_emotion(fields[columns["emotion"]], where)
    pixels = parse_pixels(fields[columns["pixels"]], where) if usage in pixels_for else None
    return Fer2013Row(index, usage, label, pixels)


def parse_usage(value: str, where: str) -> str:
    """The Usage value, case and surrounding spaces aside (``privatetest``, ``PrivateTest `` -> PrivateTest)."""
    for usage in FER2013_SPLITS:
        if value.strip().lower() == usage.lower():
            return usage
    raise DatasetError(f"{where}: Usage {value!r} is not one of {', '.join(FER2013_SPLITS)}")


def parse_emotion(value: str, where: str) -> int:
    try:
        label = int(value)
    except ValueError:
        raise DatasetError(f"{where}: emotion {value!r} is not an integer 0..6") from None
    if not 0 <= label < len(FER2013_LABELS):
        raise DatasetError(f"{where}: emotion {label} outside 0..6")
    return label


def parse_pixels(value: str, where: str) -> np.ndarray:
    """(48, 48) uint8 from the ``pixels`` field: 2304 space-separated integers 0..255; the error names the bad value."""
    tokens = value.split()
    if len(tokens) != PIXEL_COUNT:
        raise DatasetError(f"{where}: expected {PIXEL_COUNT} pixel values (48x48), got {len(tokens)}")
    try:
        pixels = np.array(tokens, dtype=np.int64)
    except ValueError:
        position, token = next((i, t) for i, t in enumerate(tokens) if not _is_integer(t))
        raise DatasetError(f"{where}: pixel value {token!r} (value {position + 1} of {PIXEL_COUNT}) is not an integer; "
                           f"pixels must be space-separated integers 0..255") from None
    outside = np.flatnonzero((pixels < 0) | (pixels > 255))
    if outside.size:
        more = f", and {outside.size - 1} more" if outside.size > 1 else ""
        raise DatasetError(f"{where}: pixel value {pixels[outside[0]]} (value {outside[0] + 1} of {PIXEL_COUNT}) is outside 0..255{more}")
    return pixels.astype(np.uint8).reshape(48, 48)


def _is_integer(token: str) -> bool:
    try:
        int(token)
    except ValueError:
        return False
    return True


def load_fer2013_csv(csv_path: Path, split: str) -> FaceDataset:
    """Kaggle CSV: ``emotion,pixels,Usage``; ``pixels`` holds 2304 space-separated values 0..255."""
    split = normalise_split(split)
    images: list[np.ndarray] = []
    labels: list[int] = []
    ids: list[str] = []
    held: Counter[str] = Counter()
    for row in read_fer2013_csv(csv_path, ProblemLog(strict=True), pixels_for=(split,)):
        held[row.usage] += 1
        if row.usage == split:
            assert row.pixels is not None  # parsed for this Usage (pixels_for)
            images.append(row.pixels)
            labels.append(row.label)
            ids.append(f"{split}_{row.index}")
    if not images:
        found = ", ".join(f"{n} {usage}" for usage, n in held.items()) or "no data rows"
        raise DatasetError(f"{csv_path}: no rows with Usage {split} (found {found}); the official protocol needs Training, PublicTest and PrivateTest rows")
    return FaceDataset(np.stack(images), np.asarray(labels, np.int64), FER2013_LABELS, tuple(ids), None, f"fer2013/{split}")
