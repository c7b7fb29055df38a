"""Probability-averaging ensembles of trained ferkit classifiers, stored as one checkpoint.

Averaging the softmax outputs of independently trained networks is the most reliable accuracy gain
on FER2013 for a fixed per-network budget (the best published single models are beaten by their
ensembles). ``forward`` returns ``log(mean softmax)``, so everything that applies a softmax to a
model's output (evaluation, the Recognizer, ONNX export) gets the averaged probabilities unchanged.

``ensemble_checkpoint(paths)`` combines member checkpoints that share labels and input format into
a payload that ``load_model`` rebuilds like any other model (``model_name="ensemble"``).
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

import torch
import torch.nn as nn

from ferkit.errors import CheckpointError, ConfigError
from ferkit.models.factory import build_model, register_model

MEMBER_FIELDS = ("model_name", "model_kwargs")


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


def _as_key(value: Any) -> Any:
    return tuple(value) if isinstance(value, list | tuple) else value


def ensemble_checkpoint(paths: Sequence[str | Path], *, storage: str = "fp32") -> dict[str, Any]:
    """One checkpoint payload from member checkpoints; refuses members whose labels or input format differ.

    ``storage``: fp32, fp16 or int8 weights (see ``ferkit.train.checkpoint.compress_weights``).
    """
    from ferkit.train.checkpoint import compress_weights, load_checkpoint, model_state

    if len(paths) < 2:
        raise ConfigError(f"an ensemble needs at least two member checkpoints, got {len(paths)}")
    payloads = [load_checkpoint(path) for path in paths]
    first = payloads[0]
    for path, payload in zip(paths[1:], payloads[1:]):
        for key in ("class_names", "in_chans", "image_size"):
            if _as_key(payload[key]) != _as_key(first[key]):
                raise CheckpointError(f"{path}: {key} {payload[key]} differs from {paths[0]}'s {first[key]}; ensemble members must agree")
    state: dict[str, torch.Tensor] = {}
    for index, payload in enumerate(payloads):
        if payload["model_name"] == "ensemble":
            raise CheckpointError(f"{paths[index]} is already an ensemble; list its members instead")
        for key, value in model_state(payload).items():
            state[f"members.{index}.{key}"] = value
    weights, scales = compress_weights(state, storage)
    members_meta = [
        {
            "source_checkpoint": str(path),
            "recipe": (payload.get("recipe") or {}).get("name", ""),
            "recipe_version": (payload.get("recipe") or {}).get("version"),
            "seed": (payload.get("recipe") or {}).get("seed"),
            "epochs": (payload.get("recipe") or {}).get("epochs"),
            "epoch": payload.get("epoch"),
            "val_metric": payload.get("val_metric"),
        }
        for path, payload in zip(paths, payloads)
    ]
    tags = [f"{m['recipe']}-v{m['recipe_version']}" if m["recipe_version"] else m["recipe"] or "model" for m in members_meta]
    return {
        "model_name": "ensemble",
        "model_kwargs": {"members": [{field: payload[field] for field in MEMBER_FIELDS} for payload in payloads]},
        "in_chans": first["in_chans"],
        "image_size": first["image_size"],
        "class_names": list(first["class_names"]),
        "recipe": {"name": "ensemble(" + " + ".join(tags) + ")"},
        "split": first.get("split"),
        "train_size": first.get("train_size"),
        "selected_on": first.get("selected_on"),
        "members": members_meta,
        "model": weights,
        **({"model_scales": scales} if scales else {}),
    }


def member_checkpoint(path: str | Path, index: int) -> dict[str, Any]:
    """The payload of member ``index`` of an ensemble checkpoint, as a stand-alone single-network checkpoint.

    Why: one network is about a third of an ensemble's cost; this lets a shipped ensemble be benchmarked (or
    shipped) member by member without the member's original run directory. Weights stay as stored.
    """
    from ferkit.train.checkpoint import load_checkpoint

    payload = load_checkpoint(path)
    if payload["model_name"] != "ensemble":
        raise CheckpointError(f"{path} is a single {payload['model_name']!r} network, not an ensemble")
    members = payload["model_kwargs"]["members"]
    if not 0 <= index < len(members):
        raise ConfigError(f"member index must be in 0..{len(members) - 1} for {path}, got {index}")
    prefix = f"members.{index}."
    meta = (payload.get("members") or [{}] * len(members))[index]
    single = {key: value for key, value in payload.items() if key not in ("format", "model", "model_scales", "model_kwargs", "model_name", "members", "recipe")}
    single.update({
        "model_name": members[index]["model_name"],
        "model_kwargs": members[index].get("model_kwargs", {}),
        "recipe": {"name": meta.get("recipe") or f"member {index}", "version": meta.get("recipe_version"), "seed": meta.get("seed")},
        "member_of": str(path),
        "model": {key[len(prefix):]: value for key, value in payload["model"].items() if key.startswith(prefix)},
    })
    scales = {key[len(prefix):]: value for key, value in (payload.get("model_scales") or {}).items() if key.startswith(prefix)}
    if scales:
        single["model_scales"] = scales
    return single
