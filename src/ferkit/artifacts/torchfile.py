"""The one place ferkit calls ``torch.save`` and ``torch.load``: atomic writes, safe reads, clear errors.

Files are read with ``weights_only=True`` (tensors, numbers, strings, lists, dicts, and numpy arrays and
scalars, which rebuild data only): opening a checkpoint cannot run code stored in it. Every file ferkit
writes (checkpoints with their optimizer and RNG state, ensembles, embedding pipelines, cached teacher
logits) holds only such values; an embedding pipeline's scikit-learn classifier is a pickled byte string,
unpickled separately (``pipeline_file``).
"""

from __future__ import annotations

import os
import pickle
import zipfile
from pathlib import Path
from typing import Any

import torch

from ferkit.artifacts.schema import ONNX_FIRST_BYTE, TORCHSCRIPT_SOURCE
from ferkit.errors import CheckpointError, ConfigError
from ferkit.io_utils import atomic_write

# torch.save writes a zip archive; files written with _use_new_zipfile_serialization=False are a bare pickle (protocol 2).
TORCH_MAGICS = (b"PK\x03\x04", b"\x80\x02")
HEADER_BYTES = 8


def _numpy_globals() -> list[Any]:
    """What numpy arrays and scalars need to unpickle, under numpy 2's names and the numpy 1 names older files use."""
    import numpy as np

    try:
        from numpy._core import multiarray
    except ImportError:  # numpy < 2
        from numpy.core import multiarray
    dtype_classes = [getattr(np.dtypes, name) for name in getattr(np.dtypes, "__all__", ())]  # e.g. UInt32DType (numpy >= 1.25)
    return [np.dtype, np.ndarray, multiarray.scalar, multiarray._reconstruct, *dtype_classes,
            (multiarray.scalar, "numpy.core.multiarray.scalar"), (multiarray._reconstruct, "numpy.core.multiarray._reconstruct")]


def as_path(path: object, what: str) -> Path:
    """``path`` as a Path with ``~`` expanded; a ConfigError (not a TypeError from pathlib) for None or a number."""
    if not isinstance(path, (str, os.PathLike)):
        raise ConfigError(f"a {what} path must be a str or Path, got {type(path).__name__} {path!r}")
    return Path(path).expanduser()


def file_header(path: str | Path, what: str = "model file") -> bytes:
    """The first bytes of ``path``, which tell a torch file from an ONNX one; CheckpointError when it is missing."""
    path = as_path(path, what)
    if path.is_dir():
        raise CheckpointError(f"{path} is a folder, not a {what}")
    if not path.is_file():
        raise CheckpointError(f"{what} not found: {path}")
    with path.open("rb") as handle:
        return handle.read(HEADER_BYTES)


def is_torch_header(header: bytes) -> bool:
    return header.startswith(TORCH_MAGICS)


def read_torch_file(path: str | Path, what: str = "checkpoint", *, map_location: str | torch.device = "cpu") -> Any:
    """The object stored by ``write_torch_file`` (or any ``torch.save``) at ``path``, read once and safely."""
    path = as_path(path, what)
    header = file_header(path, what)
    check_not_an_export(path, header, what)
    if not is_torch_header(header):
        raise CheckpointError(f"cannot read {what} {path}: not a PyTorch file (it starts with {header!r})")
    try:
        with torch.serialization.safe_globals(_numpy_globals()):
            return torch.load(path, map_location=map_location, weights_only=True)
    except pickle.UnpicklingError:  # weights_only refused a type: not a file ferkit wrote
        raise CheckpointError(f"{path} holds Python objects other than tensors and plain values ({_unsafe_globals(path)}); "
                              f"ferkit files never do, so it was not written by ferkit") from None
    except Exception as exc:  # a truncated or damaged archive: torch raises RuntimeError, EOFError, OSError...
        raise CheckpointError(f"cannot read {what} {path}: the file is damaged or truncated ({type(exc).__name__}: {str(exc)[:200]})") from None


def check_not_an_export(path: Path, header: bytes, what: str) -> None:
    """Refuse an ONNX or TorchScript export of ``ferkit export`` by name, saying what to pass instead: ONNX read as
    a torch file was "not a PyTorch file", and TorchScript "damaged or truncated" behind a torch warning."""
    if looks_like_onnx(header):
        raise CheckpointError(f"{path} is an ONNX model (as `ferkit export` writes), not a PyTorch {what}: pass the PyTorch checkpoint "
                              "(.pt) it was exported from")
    source = torchscript_source(path) if header.startswith(TORCH_MAGICS[0]) else None
    if source is not None:
        exported_from = f" ({source})" if source else ""
        raise CheckpointError(f"{path} is a TorchScript export (`ferkit export --format torchscript`), which ferkit writes for other runtimes "
                              f"and cannot load back as a {what}: pass the checkpoint it was exported from{exported_from}, or, to predict "
                              "or evaluate, an ONNX export of that checkpoint (`ferkit export --format onnx`)")


def looks_like_onnx(header: bytes) -> bool:
    """An ONNX ModelProto: field 1 (ir_version) first, a small varint (ONNX has had IR versions 1 to about 11)."""
    return header.startswith(ONNX_FIRST_BYTE) and len(header) > 1 and 1 <= header[1] <= 32


def torchscript_source(path: Path) -> str | None:
    """For a TorchScript archive (``torch.jit.save``, told by its top-level ``constants.pkl``): the checkpoint ferkit
    exported it from, "" when it records none; None for any other file (a damaged zip included: torch.load says so)."""
    try:
        with zipfile.ZipFile(path) as archive:
            names = archive.namelist()
            if not any(name.count("/") == 1 and name.endswith("/constants.pkl") for name in names):
                return None
            source = next((name for name in names if name.endswith(f"/extra/{TORCHSCRIPT_SOURCE}")), None)
            return archive.read(source).decode("utf-8", "replace") if source else ""
    except (zipfile.BadZipFile, OSError, ValueError, EOFError):
        return None


def _unsafe_globals(path: Path) -> str:
    try:
        names = torch.serialization.get_unsafe_globals_in_checkpoint(path)
    except Exception:  # a bare-pickle file, which this function cannot list
        return "types other than tensors and plain values"
    return ", ".join(names[:5]) or "unknown types"


def write_torch_file(path: str | Path, obj: Any) -> Path:
    """``torch.save`` through a temporary file and a rename, so a crash never leaves half a file.

    The temporary file is read back as ``read_torch_file`` reads (``weights_only``, memory-mapped, so no second
    copy in memory) before the rename: a payload holding another Python object (a ``Path`` in a recipe) would
    otherwise replace a good file with one ferkit refuses to open."""
    path = Path(path).expanduser()

    def save_and_check(tmp: Path) -> None:
        torch.save(obj, tmp)
        try:
            with torch.serialization.safe_globals(_numpy_globals()):
                torch.load(tmp, map_location="cpu", weights_only=True, mmap=True)
        except pickle.UnpicklingError:
            raise CheckpointError(f"not writing {path}: it would hold Python objects other than tensors and plain values "
                                  f"({_unsafe_globals(tmp)}), which ferkit refuses to open; convert them (e.g. str(path))") from None

    return atomic_write(path, save_and_check)
