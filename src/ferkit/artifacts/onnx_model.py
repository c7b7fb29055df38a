"""Read ONNX models written by ``ferkit export``: an ONNX Runtime session behind a torch-model call.

The graph takes (B, C, S, S) float32 input as ``preprocess.to_model_input`` makes it and returns class
probabilities; ferkit's metadata (class_names, in_chans, image_size, and ``training``: what the checkpoint
recorded of its split and training set) travels in the file.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.nn as nn

from ferkit.artifacts.loaded import LoadedModel
from ferkit.artifacts.schema import TRAINING_RECORD
from ferkit.errors import CheckpointError


class OnnxClassifier(nn.Module):
    """ONNX Runtime session behind the same call as a torch model: (B, C, S, S) -> probabilities.

    ``forward`` returns log-probabilities so ``softmax(forward(x))`` equals the exported
    probabilities and it can stand in for a torch model in ``predict_probabilities``.
    """

    def __init__(self, path: str | Path | bytes, *, threads: int | None = None) -> None:
        super().__init__()
        import onnxruntime as ort

        if not isinstance(path, bytes):
            path = Path(path)
            if not path.is_file():
                raise CheckpointError(f"ONNX model not found: {path}")
        options = ort.SessionOptions()
        if threads:
            options.intra_op_num_threads = threads
        # Idle worker threads sleep instead of spinning: on a CPU shared with other work (a training run, the
        # video decoder thread) spinning steals the cores the other threads need.
        options.add_session_config_entry("session.intra_op.allow_spinning", "0")
        try:
            self.session = ort.InferenceSession(path if isinstance(path, bytes) else str(path), options, providers=["CPUExecutionProvider"])
        except Exception as exc:  # onnxruntime raises its own exception types for damaged or foreign files
            raise CheckpointError(f"cannot load ONNX model {'<in memory>' if isinstance(path, bytes) else path}: {exc}") from None
        meta = self.session.get_modelmeta().custom_metadata_map
        if not meta.get("class_names"):
            raise CheckpointError(f"{path} has no ferkit metadata (class_names); export it with `ferkit export` so labels are known")
        self.class_names = tuple(meta["class_names"].split(","))
        try:
            self.in_chans = int(meta.get("in_chans", 1))
            self.image_size = int(meta.get("image_size", 48))
        except ValueError:
            raise CheckpointError(f"{path}: its metadata in_chans={meta.get('in_chans')!r}, image_size={meta.get('image_size')!r} "
                                  "are not numbers; export it with `ferkit export`") from None
        self.path = path

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        probs = self.session.run(None, {"input": x.detach().cpu().float().numpy()})[0]
        return torch.from_numpy(np.log(np.clip(probs, 1e-12, None)))

    def probabilities(self, x: np.ndarray) -> np.ndarray:
        """(B, C, S, S) float32 normalised input -> (B, classes) probabilities, without a torch round trip."""
        return self.session.run(None, {"input": np.ascontiguousarray(x, dtype=np.float32)})[0]


TRAINING_KEY = "training"  # metadata key: JSON of what the exported checkpoint recorded of its training
RECIPE_KEYS = ("name", "version", "protocol", "seed")  # what evaluation needs to rebuild the split and name the model
FINGERPRINT_KEYS = ("class_names", "samples", "images")  # the data fingerprint less its per-image means (kB per thousand images)


def training_metadata(loaded: LoadedModel) -> str:
    """The ``training`` metadata of an export of ``loaded``: its split, recipe protocol and seed, and training-set
    record, so that ``ferkit evaluate`` of the ONNX file scores the fold a checkpoint would and refuses other data."""
    fingerprint = loaded.trained_on.get("data_fingerprint") or {}
    record = {
        "split": loaded.split,
        "recipe": {key: loaded.recipe[key] for key in RECIPE_KEYS if key in loaded.recipe},
        "train_size": loaded.trained_on.get("train_size"),
        "data_fingerprint": {key: fingerprint[key] for key in FINGERPRINT_KEYS if key in fingerprint} or None,
    }
    return json.dumps(record)


def _read_training(metadata: dict[str, str], path: str | Path) -> dict[str, Any]:
    """The ``training`` record of an export ({} for files exported before it was written)."""
    text = metadata.get(TRAINING_KEY)
    if not text:
        return {}
    try:
        record = json.loads(text)
    except ValueError:
        record = None
    if not isinstance(record, dict) or not isinstance(record.get("recipe") or {}, dict):
        raise CheckpointError(f"{path}: its {TRAINING_KEY!r} metadata is not the JSON object `ferkit export` writes; export it again")
    return record


def load_onnx(path: str | Path, *, threads: int | None = None) -> LoadedModel:
    """An ONNX model wrapped like a checkpoint, for the Recognizer and ``evaluate_model`` (split and training record
    as the exported checkpoint had them)."""
    model = OnnxClassifier(path, threads=threads)
    record = _read_training(model.session.get_modelmeta().custom_metadata_map, path)
    trained_on = {key: record[key] for key in TRAINING_RECORD if record.get(key) is not None}
    return LoadedModel(model, model.class_names, model.in_chans, model.image_size, "onnx", record.get("recipe") or {}, Path(path),
                       record.get("split"), kind="onnx", trained_on=trained_on)
