"""Scanning ``<root>/<class>/<files>`` trees and decoding them, shared by every folder-based loader."""

from __future__ import annotations

import csv
import io
import os
from pathlib import Path

from typing import TYPE_CHECKING

import numpy as np

from ferkit.data.image_io import is_image_file, read_gray
from ferkit.errors import DatasetError
from ferkit.labels import canonical_label

if TYPE_CHECKING:
    from ferkit.data.inspect import ProblemLog


def require_dir(path: str | Path, what: str) -> Path:
    path = Path(path).expanduser()
    if not path.exists():
        raise DatasetError(f"{what} not found: {path} (check the path; ferkit never downloads datasets)")
    if not path.is_dir():
        raise DatasetError(f"{what} must be a directory: {path}")
    return path


def read_manifest_text(path: Path) -> str:
    """A label file or CSV manifest as text: UTF-8, a byte-order mark dropped (Excel writes one; it made the first
    column's name "\ufeffpath", reported as a missing column). Other encodings are a DatasetError naming the line
    (a UnicodeDecodeError traceback before)."""
    data = path.read_bytes()
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        line = data[: exc.start].count(b"\n") + 1
        raise DatasetError(f"{path} line {line}: not UTF-8 text (byte 0x{data[exc.start]:02x}); re-save the file as UTF-8") from None


def manifest_rows(path: Path) -> "csv.DictReader":
    """A CSV manifest's rows (``read_manifest_text``), each a dict keyed by the header's column names."""
    return csv.DictReader(io.StringIO(read_manifest_text(path), newline=""))


def visible_entries(folder: Path) -> list[Path]:
    """The sorted entries of ``folder`` except hidden ones (.DS_Store, ._* copies): those are system files, not data.

    A broken link raises, naming it: its target cannot be read, and skipping it would lose the image it stood for."""
    entries = sorted(p for p in folder.iterdir() if not p.name.startswith("."))
    for entry in entries:
        if entry.is_symlink() and not entry.exists():
            raise DatasetError(f"broken link: {entry} points to {os.readlink(entry)}, which does not exist (fix or remove the link)")
    return entries


def scan_class_folders(root: Path, *, allow_empty: bool = False, log: ProblemLog | None = None) -> dict[str, list[Path]]:
    """Return {canonical class name: sorted image paths} for the class folders under ``root``.

    Problems: no class folders, images loose in ``root``, an empty class folder, an unknown class name, two
    folders of one class, or anything in a class folder that is not an image file (a sub-folder, a broken link,
    a text file), each named, so a broken tree fails before any decoding and no image is left out without a word.
    Without ``log`` (loading) the first problem raises DatasetError. With a non-strict ``log`` (``datasets
    inspect``) every problem is collected and the other classes are still counted: one bad folder no longer
    blanks the whole split's counts (a class folder with a bad entry is counted by its image files).
    """
    from ferkit.data.inspect import ProblemLog

    log = log if log is not None else ProblemLog(strict=True)
    entries = visible_entries(root)
    loose = [p for p in entries if p.is_file() and is_image_file(p)]
    if loose:
        log.add(f"{len(loose)} image file(s) directly in {root}, e.g. {loose[0].name}: images belong in class "
                f"folders ({root}/<class>/<image files>); move them into one")
    class_dirs = [p for p in entries if p.is_dir()]
    if not class_dirs:
        log.add(f"no class folders under {root}: expected {root}/<class>/<image files>")
    found: dict[str, list[Path]] = {}
    for class_dir in class_dirs:
        try:
            name = canonical_label(class_dir.name)
        except Exception as exc:
            log.add(f"{class_dir}: {exc}")
            continue
        files = class_folder_images(class_dir, log)
        if not files and not allow_empty:
            log.add(f"empty class folder: {class_dir}")
        if name in found:
            log.add(f"two folders under {root} map to class {name!r}")
            continue
        found[name] = files
    return found


def class_folder_images(class_dir: Path, log: ProblemLog | None = None) -> list[Path]:
    """The image files of one class folder, sorted; anything else in it is a problem naming it (raised without
    ``log``; with a non-strict one, collected and left out of the list)."""
    from ferkit.data.inspect import ProblemLog

    log = log if log is not None else ProblemLog(strict=True)
    try:
        entries = visible_entries(class_dir)
    except DatasetError as exc:  # a broken link: named, and the folder's other files still listed
        log.add(str(exc))
        entries = sorted(p for p in class_dir.iterdir() if not p.name.startswith(".") and p.exists())
    files = []
    for entry in entries:
        if entry.is_dir():
            log.add(f"folder inside a class folder: {entry} (a class folder holds image files only; "
                    f"move its images up into {class_dir.name}/ or move the folder out of the dataset)")
        elif not entry.is_file():
            log.add(f"not a regular file: {entry} (remove it from the class folder)")
        elif not is_image_file(entry):
            log.add(f"not an image file: {entry} (remove it or move it out of the class folder)")
        else:
            files.append(entry)
    return files


def decode_images(paths: list[Path], size: tuple[int, int] | None, *, require_size: bool, desc: str) -> np.ndarray:
    """Decode image files into one (N, H, W) uint8 array, with a progress bar for long lists."""
    from tqdm.auto import tqdm

    if not paths:
        h, w = size or (48, 48)
        return np.zeros((0, h, w), np.uint8)
    first = read_gray(paths[0], size, require_size=require_size)
    out = np.empty((len(paths), *first.shape), np.uint8)
    out[0] = first
    target = size or first.shape
    for i, path in enumerate(tqdm(paths[1:], desc=desc, disable=len(paths) < 2000, leave=False), start=1):
        image = read_gray(path, target, require_size=require_size or size is None)
        out[i] = image
    return out

