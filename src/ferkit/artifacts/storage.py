"""Smaller weight storage for shipped models: fp16, or int8 with one fp32 scale per output channel.

``compress_weights`` turns a state_dict into (weights, scales) to store; ``model_state`` turns a checkpoint's
stored weights back into fp32 whatever the storage, so every reader goes through it.
"""

from __future__ import annotations

from typing import Any

import torch

from ferkit.errors import CheckpointError

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
