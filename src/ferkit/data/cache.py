"""A decoded-array cache, so FER2013's 35,887 JPEGs are decoded once, not on every run.

Entries live under ``$FERKIT_CACHE_DIR`` (default ``~/.cache/ferkit``) keyed by a hash of the
source files' paths, sizes and modification times: editing the data invalidates the entry.
"""

from __future__ import annotations

import hashlib
import os
import zipfile
from pathlib import Path
from typing import Callable

import numpy as np

from ferkit.io_utils import atomic_write


def cache_dir() -> Path:
    return Path(os.environ.get("FERKIT_CACHE_DIR", Path.home() / ".cache" / "ferkit")).expanduser()


def fingerprint(paths: list[Path], extra: str = "") -> str:
    """Hash of the file list with sizes and mtimes: cheap (stat only) and changes when any file does."""
    h = hashlib.sha1(extra.encode())
    for p in paths:
        st = p.stat()
        h.update(f"{p}\0{st.st_size}\0{st.st_mtime_ns}\n".encode())
    return h.hexdigest()[:20]


def cached_arrays(key: str, build: Callable[[], dict[str, np.ndarray]], *, enabled: bool = True) -> dict[str, np.ndarray]:
    """Load arrays saved under ``key``, or build and save them (atomically)."""
    if not enabled:
        return build()
    path = cache_dir() / f"{key}.npz"
    if path.exists():
        try:
            with np.load(path, allow_pickle=False) as z:
                return {k: z[k] for k in z.files}
        # numpy raises EOFError for an empty file and BadZipFile for a truncated one, ValueError for other bytes
        except (OSError, ValueError, EOFError, zipfile.BadZipFile):
            path.unlink(missing_ok=True)  # a corrupt entry is rebuilt, never trusted
    arrays = build()
    try:
        atomic_write(path, lambda tmp: _save_npz(tmp, arrays))
    except OSError:
        pass  # a read-only home must not stop training; the cache is an optimisation
    return arrays


def _save_npz(tmp: Path, arrays: dict[str, np.ndarray]) -> None:
    with open(tmp, "wb") as f:
        np.savez(f, **arrays)
