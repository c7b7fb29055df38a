"""ferkit's own shipped default model (trained by a committed recipe; see docs/model_card.md)."""

from __future__ import annotations

from pathlib import Path

from ferkit.errors import CheckpointError

DEFAULT_MODEL_FILE = "ferkit-default.pt"


def default_model_path() -> Path:
    path = Path(__file__).resolve().parent / DEFAULT_MODEL_FILE
    if not path.is_file():
        raise CheckpointError(f"the default model {path} is missing from this installation; reinstall ferkit or pass a checkpoint path")
    return path
