"""Atomic writes, so that an interrupted run never leaves a half-written result behind."""

from __future__ import annotations

import json
import os
import shutil
import tempfile
from pathlib import Path
from typing import Any, Callable


def is_special_file(path: str | os.PathLike) -> bool:
    """A device, pipe or socket (``/dev/null``, ``/dev/stdout``, a FIFO): written into, never renamed over."""
    target = Path(path)
    return target.exists() and not target.is_file() and not target.is_dir()


def copy_into(source: Path, target: Path) -> None:
    with open(source, "rb") as src, open(target, "wb") as out:
        shutil.copyfileobj(src, out)


def atomic_write(path: str | os.PathLike, write: Callable[[Path], None]) -> Path:
    """Call ``write(tmp_path)`` then rename the temporary file onto ``path`` (same directory, same filesystem).
    A special file (``/dev/null``, a FIFO) gets the bytes written into it instead: renaming over it would
    replace the device with a regular file."""
    target = Path(path)
    if is_special_file(target):
        with tempfile.TemporaryDirectory() as tmp_dir:
            tmp = Path(tmp_dir) / target.name
            write(tmp)
            copy_into(tmp, target)
        return target
    target.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp_name = tempfile.mkstemp(prefix=f".{target.name}.", suffix=".tmp", dir=target.parent)
    os.close(fd)
    tmp = Path(tmp_name)
    umask = os.umask(0)
    os.umask(umask)
    os.chmod(tmp, 0o666 & ~umask)  # mkstemp creates 0600; results should get the usual permissions
    try:
        write(tmp)
        os.replace(tmp, target)
    finally:
        if tmp.exists():
            tmp.unlink()
    return target


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
