"""Checkpoints carry everything needed to rebuild the model and check it fits the data.

Format ``ferkit-checkpoint-v1``: model state, model name + kwargs, label set, input size and
channels, the full recipe, and (for resumable ``last.pt``) optimizer/scheduler/RNG state.

Shipped weights may be stored smaller (``compress_weights``): fp16, or int8 with one fp32 scale per
output channel for conv/linear weights (``model_scales``; a quarter of fp32, the rest fp16). Read the
weights through ``model_state``, which gives fp32 back whatever the storage.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
import torch.nn as nn

from ferkit.errors import CheckpointError
from ferkit.io_utils import atomic_write

CHECKPOINT_FORMAT = "ferkit-checkpoint-v1"
WEIGHT_STORAGES = ("fp32", "fp16", "int8")
INT8_MIN_VALUES = 1024  # smaller tensors (biases, norms, the STN's last layer) stay fp16


def compress_weights(state: dict[str, torch.Tensor], storage: str) -> tuple[dict[str, torch.Tensor], dict[str, torch.Tensor]]:
    """(weights, scales) to store: fp16 halves the size; int8 quarters the conv/linear weights (symmetric, per output channel)."""
    if storage not in WEIGHT_STORAGES:
        raise CheckpointError(f"weight storage must be one of {WEIGHT_STORAGES}, got {storage!r}")
    weights: dict[str, torch.Tensor] = {}
    scales: dict[str, torch.Tensor] = {}
    for key, value in state.items():
        if not torch.is_floating_point(value) or storage == "fp32":
            weights[key] = value
        elif storage == "int8" and value.dim() >= 2 and value.numel() >= INT8_MIN_VALUES:
            value = value.float()
            scale = value.abs().amax(dim=tuple(range(1, value.dim())), keepdim=True).clamp_min(1e-12) / 127
            weights[key] = torch.round(value / scale).clamp(-127, 127).to(torch.int8)
            scales[key] = scale.flatten()
        else:
            weights[key] = value.half()
    return weights, scales


def model_state(payload: dict[str, Any]) -> dict[str, torch.Tensor]:
    """The checkpoint's weights in fp32, undoing fp16 or int8 storage."""
    scales = payload.get("model_scales") or {}
    state = {}
    for key, value in payload["model"].items():
        if key in scales:
            state[key] = value.float() * scales[key].float().view(-1, *([1] * (value.dim() - 1)))
        else:
            state[key] = value.float() if torch.is_floating_point(value) else value
    return state


def save_checkpoint(path: str | Path, payload: dict[str, Any]) -> Path:
    payload = {"format": CHECKPOINT_FORMAT, **payload}
    return atomic_write(path, lambda tmp: torch.save(payload, tmp))


def load_checkpoint(path: str | Path, map_location: str | torch.device = "cpu") -> dict[str, Any]:
    path = Path(path).expanduser()
    if not path.is_file():
        raise CheckpointError(f"checkpoint not found: {path}")
    try:
        payload = torch.load(path, map_location=map_location, weights_only=False)
    except Exception as exc:
        raise CheckpointError(f"cannot read checkpoint {path}: {type(exc).__name__}: {exc}") from None
    if not isinstance(payload, dict) or payload.get("format") != CHECKPOINT_FORMAT:
        raise CheckpointError(f"{path} is not a ferkit checkpoint (expected format {CHECKPOINT_FORMAT})")
    return payload


@dataclass
class LoadedModel:
    """A model rebuilt from a checkpoint with what is needed to feed it correctly."""

    model: nn.Module
    class_names: tuple[str, ...]
    in_chans: int
    image_size: int
    model_name: str
    recipe: dict[str, Any]
    path: Path
    split: str | None = None  # what it was trained on, e.g. "fold3", "random800", "fer2013"


def load_model(path: str | Path, device: str | torch.device = "cpu") -> LoadedModel:
    """Rebuild the network of a checkpoint in eval mode (fp16 or int8 weights are turned back into fp32)."""
    from ferkit.devices import resolve_device
    from ferkit.models import build_model

    device = resolve_device(device)
    payload = load_checkpoint(path)
    model = build_model(payload["model_name"], num_classes=len(payload["class_names"]), in_chans=payload["in_chans"], **payload["model_kwargs"])
    state = model_state(payload)
    try:
        model.load_state_dict(state)
    except RuntimeError as exc:
        raise CheckpointError(f"{path}: weights do not fit model {payload['model_name']!r}: {str(exc)[:300]}") from None
    model.to(device).eval()
    return LoadedModel(model, tuple(payload["class_names"]), int(payload["in_chans"]), int(payload["image_size"]), payload["model_name"],
                       payload.get("recipe", {}), Path(path), payload.get("split"))
