"""Probability-averaging ensembles of trained ferkit classifiers, stored as one checkpoint.

Averaging the softmax outputs of independently trained networks is the most reliable accuracy gain
on FER2013 for a fixed per-network budget (the best published single models are beaten by their
ensembles). ``forward`` returns ``log(mean softmax)``, so everything that applies a softmax to a
model's output (evaluation, the Recognizer, ONNX export) gets the averaged probabilities unchanged.

``ferkit.artifacts.ensemble_checkpoint(paths)`` combines member checkpoints that share labels and input
format into one checkpoint that ``load_model`` rebuilds like any other model (``model_name="ensemble"``).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import torch
import torch.nn as nn

from ferkit.errors import ConfigError
from ferkit.models.factory import build_model, register_model


class ProbabilityEnsemble(nn.Module):
    """Members' softmax probabilities averaged; the output is their log (valid logits)."""

    def __init__(self, members: Sequence[nn.Module]):
        super().__init__()
        if not members:
            raise ConfigError("an ensemble needs at least one member")
        self.members = nn.ModuleList(members)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        probs = torch.stack([member(x).float().softmax(dim=1) for member in self.members]).mean(dim=0)
        return probs.clamp_min(1e-12).log()

    def forward_embedding(self, x: torch.Tensor) -> torch.Tensor:
        """The members' embeddings side by side (t-SNE and embedding classifiers see every member)."""
        return torch.cat([member.forward_embedding(x) for member in self.members], dim=1)


@register_model("ensemble")
def build_ensemble(*, num_classes: int, in_chans: int = 1, members: Sequence[dict[str, Any]] = ()) -> ProbabilityEnsemble:
    """``members``: one ``{"model_name": ..., "model_kwargs": {...}}`` per member, as in their checkpoints."""
    if not members:
        raise ConfigError("an ensemble needs a non-empty 'members' list of {model_name, model_kwargs}")
    built = []
    for spec in members:
        if "model_name" not in spec:
            raise ConfigError(f"ensemble member {spec!r} has no model_name")
        built.append(build_model(spec["model_name"], num_classes=num_classes, in_chans=in_chans, **spec.get("model_kwargs", {})))
    return ProbabilityEnsemble(built)
