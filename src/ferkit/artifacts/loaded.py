"""``LoadedModel``: a network rebuilt from a file, with what is needed to feed it (labels, input format)."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch
import torch.nn as nn

from ferkit.artifacts.checkpoint import load_checkpoint
from ferkit.artifacts.schema import TRAINING_RECORD
from ferkit.artifacts.storage import model_state
from ferkit.errors import CheckpointError, FerkitError


@dataclass
class LoadedModel:
    """A model rebuilt from a checkpoint, ensemble, embedding pipeline or ONNX file (``kind``), in eval mode.

    ``model`` maps (B, in_chans, image_size, image_size) float in [-1, 1] (``preprocess.to_model_input``) to
    logits; for a pipeline it is the embedding network and ``classifier`` the fitted scikit-learn estimator.
    ``trained_on``: the training set's ``train_size`` and ``data_fingerprint`` as the file recorded them (older
    files: fewer or none), so that evaluation can tell the data it was trained on from other data.
    """

    model: nn.Module
    class_names: tuple[str, ...]
    in_chans: int
    image_size: int
    model_name: str
    recipe: dict[str, Any]
    path: Path
    split: str | None = None  # what it was trained on, e.g. "fold3", "random800", "fer2013"
    kind: str = "checkpoint"  # one of schema.ARTIFACT_KINDS
    model_kwargs: dict[str, Any] = field(default_factory=dict)
    classifier: Any = None
    classifier_name: str = ""
    trained_on: dict[str, Any] = field(default_factory=dict)


def build_network(model_name: str, model_kwargs: dict[str, Any], state: dict[str, torch.Tensor], path: str | Path, **build_kwargs: Any) -> nn.Module:
    """The registered model ``model_name`` with ``state`` loaded; CheckpointError when they do not fit."""
    from ferkit.models import build_model

    try:
        model = build_model(model_name, **build_kwargs, **model_kwargs)
    except FerkitError as exc:  # an unknown model name or option: the file was written by another ferkit
        raise CheckpointError(f"{path}: cannot rebuild model {model_name!r}: {exc}") from None
    try:
        model.load_state_dict(state)
    except RuntimeError as exc:
        raise CheckpointError(f"{path}: weights do not fit model {model_name!r}: {str(exc)[:300]}") from None
    return model


def model_from_payload(payload: dict[str, Any], path: str | Path, device: torch.device) -> LoadedModel:
    """A checkpoint payload (``schema.check_checkpoint_payload`` passed) rebuilt in eval mode on ``device``."""
    model = build_network(payload["model_name"], payload["model_kwargs"], model_state(payload), path,
                          num_classes=len(payload["class_names"]), in_chans=payload["in_chans"])
    model.to(device).eval()
    kind = "ensemble" if payload["model_name"] == "ensemble" else "checkpoint"
    return LoadedModel(model, tuple(payload["class_names"]), int(payload["in_chans"]), int(payload["image_size"]), payload["model_name"],
                       payload.get("recipe") or {}, Path(path), payload.get("split"), kind, dict(payload["model_kwargs"]),
                       trained_on={key: payload[key] for key in TRAINING_RECORD if payload.get(key) is not None})


def load_model(path: str | Path, device: str | torch.device = "cpu") -> LoadedModel:
    """Rebuild the network of a checkpoint or ensemble checkpoint in eval mode (fp16/int8 weights back in fp32)."""
    from ferkit.devices import resolve_device

    device = resolve_device(device)
    return model_from_payload(load_checkpoint(path), path, device)
