"""Write and read ``ferkit-checkpoint-v1`` files (single networks and ensembles; see ``schema``)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import torch

from ferkit.artifacts.schema import CHECKPOINT_FORMAT, check_checkpoint_payload, require_format
from ferkit.artifacts.torchfile import read_torch_file, write_torch_file


def save_checkpoint(path: str | Path, payload: dict[str, Any]) -> Path:
    """Write ``payload`` (model state + model name/kwargs, labels, input format, anything else) with the format tag.

    The payload's own keys are kept as they are: a resumable ``last.pt`` carries the training loop's state."""
    check_checkpoint_payload(payload, path)
    tagged = {"format": CHECKPOINT_FORMAT, **{key: value for key, value in payload.items() if key != "format"}}
    return write_torch_file(path, tagged)


def load_checkpoint(path: str | Path, map_location: str | torch.device = "cpu") -> dict[str, Any]:
    """The payload of a checkpoint or ensemble checkpoint; CheckpointError for anything else (``load_any`` reads every kind)."""
    payload = read_torch_file(path, "checkpoint", map_location=map_location)
    require_format(payload, path, CHECKPOINT_FORMAT)
    check_checkpoint_payload(payload, path)
    return payload
