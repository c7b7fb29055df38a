"""Atomic writes, so that an interrupted run never leaves a half-written result behind."""

from __future__ import annotations

import json
import os
import shutil
import tempfile
from pathlib import Path
from typing import Any, Callable

from ferkit.errors import OutputError


def is_special_file(path: str | os.PathLike) -> bool:
    """A device, pipe or socket (``/dev/null``, ``/dev/stdout``, a FIFO): written into, never renamed over."""
    target = Path(path)
    return target.exists() and not target.is_file() and not target.is_dir()


def opencv_path(path: str | os.PathLike, what: str, error: type[Exception]) -> str:
    """``path`` as the string OpenCV's file functions take. They take UTF-8 only: a Linux file name holding other bytes
    (another locale's, kept by Python as surrogates) crashed the whole process inside OpenCV (segmentation fault),
    so such a name is ``error`` naming the file instead."""
    text = os.fspath(path)
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        raise error(f"cannot open {what} {printable_path(text)}: OpenCV reads only file names in UTF-8; rename the file") from None
    return text


def printable_path(text: str) -> str:
    """``text`` (a file name as Python holds it) as valid UTF-8 text: bytes of a name that are not UTF-8 (another
    locale's, kept by Python as lone surrogates) become ``\\xNN`` escapes, as ``bytes.decode(errors="backslashreplace")``
    writes them. Outputs hold this form, since a lone surrogate is not text that a CSV reader or a strict JSON parser
    accepts. A UTF-8 name is returned unchanged."""
    try:
        raw = text.encode("utf-8", "surrogateescape")
    except UnicodeEncodeError:  # a surrogate no file system decoding makes (Windows' unpaired UTF-16 halves)
        return text.encode("utf-8", "backslashreplace").decode("utf-8")
    return raw.decode("utf-8", "backslashreplace")


def copy_into(source: Path, target: Path) -> None:
    with open(source, "rb") as src, open(target, "wb") as out:
        shutil.copyfileobj(src, out)


def atomic_write(path: str | os.PathLike, write: Callable[[Path], None]) -> Path:
    """Call ``write(tmp_path)`` then rename the temporary file onto ``path`` (same directory, same filesystem).
    A special file (``/dev/null``, a FIFO) gets the bytes written into it instead: renaming over it would
    replace the device with a regular file. ``~`` is expanded (it named a literal ``./~/`` folder before)."""
    target = Path(path).expanduser()
    if is_special_file(target):
        with tempfile.TemporaryDirectory() as tmp_dir:
            tmp = Path(tmp_dir) / target.name
            write(tmp)
            copy_into(tmp, target)
        return target
    if target.is_dir():
        raise OutputError(f"{target} is a folder; give a file name to write")
    tmp = temporary_file_for(target)
    try:
        write(tmp)
        os.replace(tmp, target)
    except OSError as exc:
        raise OutputError(f"cannot write {target}: {exc.strerror or exc}") from None
    finally:
        if tmp.exists():
            tmp.unlink()
    return target


def temporary_file_for(target: Path, suffix: str = ".tmp") -> Path:
    """A new empty file beside ``target`` (its folder created when missing) whose bytes are renamed onto ``target``
    once complete; in the system's temporary folder when ``target`` is a special file (copied into, never renamed
    over). It has the permissions of any new file (0o666 less the umask): mkstemp's 0600 would be kept by the rename,
    leaving results that other users cannot read."""
    try:
        target.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp_name = tempfile.mkstemp(prefix=f".{target.name[:48]}.", suffix=suffix,  # a 240-character name fits, its temporary must too
                                        dir=None if is_special_file(target) else target.parent)
    except OSError as exc:
        raise OutputError(f"cannot write {target}: {exc.strerror or exc}") from None
    os.close(fd)
    umask = os.umask(0)
    os.umask(umask)
    os.chmod(tmp_name, 0o666 & ~umask)
    return Path(tmp_name)


def _nearest_existing(path: Path) -> Path:
    """``path`` or its closest ancestor that exists (the folder a new file or folder would be created in)."""
    path = Path(os.path.abspath(path))
    while not path.exists() and path != path.parent:
        path = path.parent
    return path


def _probe_folder(folder: Path, target: Path) -> None:
    """Create and delete a file in ``folder``: the one check that permissions, read-only mounts and pseudo-filesystems
    (/proc) all answer truthfully."""
    if not folder.is_dir():
        raise OutputError(f"cannot write {target}: {folder} is a file, not a folder")
    try:
        with tempfile.TemporaryFile(dir=folder):
            pass
    except OSError as exc:  # /proc answers "No such file or directory": the reason is the folder, whatever errno says
        raise OutputError(f"cannot write {target}: the folder {folder} does not accept new files "
                          f"({exc.strerror or exc}); write somewhere else") from None


def check_writable_file(path: str | os.PathLike) -> None:
    """Refuse, before any work, a file output that could not be written at the end: a folder in its place, a file
    where a parent folder should be, no permission. Missing parent folders are fine (they are created); ``-`` and
    special files (``/dev/null``) are fine."""
    target = Path(path)
    if str(path) == "-" or is_special_file(target):
        return
    if target.is_dir():
        raise OutputError(f"{target} is a folder; give a file name to write")
    if target.exists() and not os.access(target, os.W_OK):
        raise OutputError(f"cannot write {target}: permission denied")
    _probe_folder(_nearest_existing(target.parent), target)


def check_writable_folder(path: str | os.PathLike) -> None:
    """Refuse, before any work, an output folder that is a file or cannot be created or written into."""
    target = Path(path)
    if target.exists() and not target.is_dir():
        raise OutputError(f"{target} exists and is not a folder; give a folder for the outputs")
    _probe_folder(_nearest_existing(target), target)


def atomic_write_text(path: str | os.PathLike, text: str) -> Path:
    return atomic_write(path, lambda tmp: tmp.write_text(text))


def atomic_write_json(path: str | os.PathLike, data: Any) -> Path:
    """Write JSON with sorted-free, indented output; numpy scalars are converted."""
    return atomic_write_text(path, json.dumps(data, indent=2, default=_json_default) + "\n")


def _json_default(obj: Any) -> Any:
    import numpy as np

    if isinstance(obj, np.generic):
        return obj.item()
    if isinstance(obj, np.ndarray):
        return obj.tolist()
    if isinstance(obj, Path):
        return str(obj)
    raise TypeError(f"cannot serialise {type(obj).__name__} to JSON")


def atomic_write_png(path: str | os.PathLike, image: "np.ndarray") -> Path:  # noqa: F821
    """Encode an OpenCV image (BGR or gray uint8) as PNG and write it atomically."""
    import cv2

    ok, data = cv2.imencode(".png", image)
    if not ok:
        raise OSError(f"could not encode {path} as PNG")
    return atomic_write(path, lambda tmp: tmp.write_bytes(data.tobytes()))
