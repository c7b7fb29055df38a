"""``load_any(path)``: whatever model file ferkit wrote, loaded by what it is, not by its name.

The first bytes tell a PyTorch file (zip archive) from an ONNX file (a protobuf starting with 0x08); a
PyTorch file is then read once and dispatched on its format tag (``schema.payload_kind``):

    checkpoint / ensemble -> LoadedModel with the rebuilt network (kind "checkpoint" / "ensemble")
    embedding pipeline    -> LoadedModel with the embedding network and the fitted classifier (kind "pipeline")
    ONNX                  -> LoadedModel around an ONNX Runtime session (kind "onnx", CPU only)

Anything else (a text file, a truncated file, a plain state_dict, another tag) is a CheckpointError that says so.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any, Callable

import torch

from ferkit.artifacts.loaded import LoadedModel, model_from_payload
from ferkit.artifacts.onnx_model import load_onnx
from ferkit.artifacts.pipeline_file import pipeline_from_payload
from ferkit.artifacts.schema import ONNX_FIRST_BYTE, payload_kind
from ferkit.artifacts.torchfile import file_header, is_torch_header, read_torch_file
from ferkit.errors import CheckpointError, ConfigError

PayloadLoader = Callable[[dict[str, Any], Path, torch.device], LoadedModel]
TORCH_LOADERS: dict[str, PayloadLoader] = {
    "checkpoint": model_from_payload,
    "ensemble": model_from_payload,
    "pipeline": pipeline_from_payload,
}


def load_any(path: str | Path, *, device: str | torch.device = "cpu") -> LoadedModel:
    """Load a checkpoint, ensemble checkpoint, embedding pipeline or ONNX file as a ``LoadedModel`` (see ``kind``).

    ``device``: where torch networks go; an ONNX model runs in ONNX Runtime on the CPU, so it needs "cpu".
    Files are trusted as far as an embedding pipeline's pickled classifier goes: load only files you trust.
    """
    from ferkit.devices import resolve_device

    if not isinstance(path, (str, os.PathLike)):
        raise ConfigError(f"a model must be given as a file path (str or os.PathLike), got {type(path).__name__} {path!r}")
    path = Path(path).expanduser()
    device = resolve_device(device)
    header = file_header(path)
    if is_torch_header(header):
        payload = read_torch_file(path, "model file")
        return TORCH_LOADERS[payload_kind(payload, path)](payload, path, device)
    if header.startswith(ONNX_FIRST_BYTE):
        if device.type != "cpu":
            raise ConfigError(f"{path} is an ONNX model, which ferkit runs in ONNX Runtime on the CPU; pass device='cpu' or use a checkpoint")
        return load_onnx(path)
    raise CheckpointError(f"{path} is neither a ferkit checkpoint or pipeline (a PyTorch file) nor an ONNX model: it starts with {header!r}")
