"""Read a file of initial weights (recipe ``init_weights``) once: a ferkit checkpoint, a plain or wrapped
state_dict (``.pt``/``.pth``), or a ``.safetensors`` file; ``ferkit.train.transfer`` decides what fits the model."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

import torch

from ferkit.artifacts.schema import CHECKPOINT_FORMAT
from ferkit.artifacts.storage import model_state
from ferkit.artifacts.torchfile import read_torch_file
from ferkit.errors import CheckpointError

STATE_DICT_KEYS = ("model", "state_dict", "model_state_dict")  # ferkit, Lightning-style, common training scripts


@dataclass(frozen=True)
class InitWeights:
    """The tensors of an initial-weights file (fp32 where stored as fp16/int8) and, for a ferkit checkpoint, its label set."""

    path: Path
    state: dict[str, torch.Tensor]
    class_names: tuple[str, ...] | None


def _read(path: Path) -> object:
    if path.suffix == ".safetensors":
        from safetensors.torch import load_file

        try:
            return load_file(str(path), device="cpu")
        except Exception as exc:  # safetensors raises its own error types for damaged headers
            raise CheckpointError(f"cannot read safetensors file {path}: {type(exc).__name__}: {exc}") from None
    return read_torch_file(path, "weights file")


def read_init_weights(path: str | Path) -> InitWeights:
    """The tensors of ``path`` keyed as stored (a DataParallel ``module.`` prefix removed)."""
    path = Path(path).expanduser()
    if not path.is_file():
        raise CheckpointError(f"init weights not found: {path}; pass an existing .pt/.pth/.safetensors file")
    payload = _read(path)
    if not isinstance(payload, Mapping):
        raise CheckpointError(f"{path} holds a {type(payload).__name__}, not a state_dict or checkpoint dict; save model.state_dict() instead")
    class_names = None
    if payload.get("format") == CHECKPOINT_FORMAT:
        class_names = tuple(payload["class_names"]) if payload.get("class_names") else None
        payload = {"model": model_state(dict(payload))}  # fp16/int8-stored weights back in fp32
    for key in STATE_DICT_KEYS:
        if isinstance(payload.get(key), Mapping):
            payload = payload[key]
            break
    state = {str(k).removeprefix("module."): v for k, v in payload.items() if isinstance(v, torch.Tensor)}
    if not state:
        raise CheckpointError(f"{path} contains no tensors; expected a state_dict or a ferkit checkpoint with a 'model' entry")
    return InitWeights(path, state, class_names)
