"""The file formats ferkit writes, told apart by their format tag, and the checks of their required fields.

- ``ferkit-checkpoint-v1``: one network or a probability ensemble (``model_name == "ensemble"``): ``model``
  (a state_dict, maybe fp16/int8, see ``storage``), ``model_name``, ``model_kwargs``, ``class_names``,
  ``in_chans``, ``image_size``; usually also ``recipe``, ``split``, ``train_size``, ``epoch``, ``val_metric``;
  a resumable ``last.pt`` adds optimizer, scheduler, criterion and RNG state and the metric history.
- ``ferkit-embedding-pipeline`` (``version`` 1): an embedding network plus a fitted scikit-learn classifier.
- ONNX files written by ``ferkit export`` (no tag: told apart by their first byte; see ``load_any``).
- TorchScript archives written by ``ferkit export --format torchscript``, for other runtimes: ferkit never reads
  them back; ``torchfile`` recognises one (its ``constants.pkl``) to say so, naming the checkpoint recorded in
  its extra file ``TORCHSCRIPT_SOURCE``.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from ferkit.errors import CheckpointError

CHECKPOINT_TAG_PREFIX = "ferkit-checkpoint-v"
CHECKPOINT_VERSION = 1  # a new version gets a new tag, so that older ferkit versions refuse the file instead of misreading it
CHECKPOINT_FORMAT = f"{CHECKPOINT_TAG_PREFIX}{CHECKPOINT_VERSION}"  # "ferkit-checkpoint-v1"
PIPELINE_FORMAT = "ferkit-embedding-pipeline"
PIPELINE_VERSION = 1
FORMAT_NAMES = {CHECKPOINT_FORMAT: "checkpoint", PIPELINE_FORMAT: "embedding pipeline"}
ARTIFACT_KINDS = ("checkpoint", "ensemble", "pipeline", "onnx")
CHECKPOINT_KEYS = ("model", "model_name", "model_kwargs", "class_names", "in_chans", "image_size")
TRAINING_RECORD = ("train_size", "data_fingerprint")  # what a checkpoint records of its training set (older ones: either may be missing)
PIPELINE_KEYS = ("model_name", "model_kwargs", "state_dict", "class_names", "image_size", "classifier_pickle")
# Every serialised ONNX ModelProto starts with field 1 (ir_version) as a varint: the byte 0x08.
ONNX_FIRST_BYTE = b"\x08"
TORCHSCRIPT_SOURCE = "source_checkpoint"  # extra file of a TorchScript export: the checkpoint it was exported from


def _missing(payload: dict[str, Any], keys: tuple[str, ...]) -> list[str]:
    return [key for key in keys if key not in payload]


def check_checkpoint_payload(payload: dict[str, Any], path: str | Path) -> None:
    """Raise CheckpointError unless ``payload`` has every field a checkpoint needs to rebuild its model."""
    missing = _missing(payload, CHECKPOINT_KEYS)
    if missing:
        raise CheckpointError(f"{path}: checkpoint lacks {missing}; a ferkit checkpoint needs {list(CHECKPOINT_KEYS)}")
    wrong = [f"{key}={payload[key]!r}" for key in ("in_chans", "image_size")
             if isinstance(payload[key], bool) or not isinstance(payload[key], int) or payload[key] < 1]
    if not isinstance(payload["model_name"], str):
        wrong.append(f"model_name={payload['model_name']!r}")
    if not isinstance(payload["model_kwargs"], dict):
        wrong.append(f"model_kwargs of type {type(payload['model_kwargs']).__name__}")
    names = payload["class_names"]
    if not isinstance(names, (list, tuple)) or not names or not all(isinstance(name, str) for name in names):
        wrong.append(f"class_names={names!r}")
    if wrong:
        raise CheckpointError(f"{path}: checkpoint fields of the wrong type or range: {', '.join(wrong)} (in_chans and image_size are "
                              "positive ints, model_name a str, model_kwargs a dict, class_names a non-empty list of str)")


def _describe_tag(tag: Any) -> str:
    if tag is None:
        return "it has no format tag (plain state_dicts are initial weights, recipe init_weights, not models)"
    if isinstance(tag, str) and tag.startswith(CHECKPOINT_TAG_PREFIX):
        return f"it has checkpoint format {tag!r}; this ferkit reads {CHECKPOINT_FORMAT!r} (written by another ferkit version?)"
    return f"it has format tag {tag!r}"


def require_format(payload: Any, path: str | Path, tag: str) -> None:
    """Raise CheckpointError unless ``payload`` carries format ``tag``; the message says what the file is instead."""
    found = payload.get("format") if isinstance(payload, dict) else None
    if found == tag:
        return
    expected = FORMAT_NAMES[tag]
    if found in FORMAT_NAMES:
        raise CheckpointError(f"{path} is not a ferkit {expected}: it is a ferkit {FORMAT_NAMES[found]}; read it with ferkit.artifacts.load_any")
    what = _describe_tag(found) if isinstance(payload, dict) else f"it holds a {type(payload).__name__}"
    raise CheckpointError(f"{path} is not a ferkit {expected} (expected format {tag!r}): {what}")


def payload_kind(payload: Any, path: str | Path) -> str:
    """"checkpoint", "ensemble" or "pipeline" from the format tag of a torch file's payload (fields checked too)."""
    if not isinstance(payload, dict):
        raise CheckpointError(f"{path} holds a {type(payload).__name__}, not a ferkit checkpoint or pipeline")
    tag = payload.get("format")
    if tag == CHECKPOINT_FORMAT:
        check_checkpoint_payload(payload, path)
        return "ensemble" if payload["model_name"] == "ensemble" else "checkpoint"
    if tag == PIPELINE_FORMAT:
        if payload.get("version") != PIPELINE_VERSION:
            raise CheckpointError(f"{path} has embedding-pipeline version {payload.get('version')!r}; this ferkit reads version {PIPELINE_VERSION}")
        missing = _missing(payload, PIPELINE_KEYS)
        if missing:
            raise CheckpointError(f"{path}: embedding pipeline lacks {missing}")
        return "pipeline"
    known = ", ".join(repr(t) for t in FORMAT_NAMES)
    raise CheckpointError(f"{path} is not a ferkit model file (known formats: {known}): {_describe_tag(tag)}")
