"""Write and read ``ferkit-embedding-pipeline`` files: an embedding network plus a fitted scikit-learn classifier.

The classifier is stored as a pickled byte string and unpickled here: load only pipeline files you trust.
``ferkit.classifiers.EmbeddingPipeline`` is the predictor built from what ``load_pipeline`` returns.
"""

from __future__ import annotations

import io
import pickle
from pathlib import Path
from typing import Any, Sequence

import torch
import torch.nn as nn

from ferkit.artifacts.loaded import LoadedModel, build_network
from ferkit.artifacts.schema import PIPELINE_FORMAT, PIPELINE_VERSION, payload_kind, require_format
from ferkit.artifacts.torchfile import read_torch_file, write_torch_file
from ferkit.errors import CheckpointError


def save_pipeline(path: str | Path, model: nn.Module, classifier: Any, *, model_name: str, model_kwargs: dict[str, Any],
                  class_names: Sequence[str], image_size: int, in_chans: int, classifier_name: str = "") -> Path:
    """One file, written atomically: weights, model name/kwargs, label set, input format and the pickled classifier."""
    import sklearn

    payload = {
        "format": PIPELINE_FORMAT,
        "version": PIPELINE_VERSION,
        "model_name": model_name,
        "model_kwargs": dict(model_kwargs),
        "state_dict": {k: v.detach().cpu() for k, v in model.state_dict().items()},
        "class_names": list(class_names),
        "image_size": int(image_size),
        "in_chans": int(in_chans),
        "classifier_name": classifier_name,
        "classifier_pickle": pickle.dumps(classifier, protocol=pickle.HIGHEST_PROTOCOL),
        "sklearn_version": sklearn.__version__,
    }
    return write_torch_file(path, payload)


def pipeline_from_payload(payload: dict[str, Any], path: str | Path, device: torch.device) -> LoadedModel:
    """A pipeline payload (``schema.payload_kind`` passed) as a LoadedModel of kind "pipeline" with its classifier."""
    model = build_network(payload["model_name"], {}, payload["state_dict"], path, **payload["model_kwargs"])
    try:
        classifier = pickle.load(io.BytesIO(payload["classifier_pickle"]))
    except Exception as exc:  # unpickling runs the classifier's own code: any error means "cannot use this file"
        raise CheckpointError(
            f"{path}: cannot unpickle the classifier ({type(exc).__name__}: {str(exc)[:200]}); it was saved with scikit-learn {payload.get('sklearn_version')}"
        ) from None
    model.to(device).eval()
    in_chans = int(payload.get("in_chans", payload["model_kwargs"].get("in_chans", 1)))
    return LoadedModel(model, tuple(payload["class_names"]), in_chans, int(payload["image_size"]), payload["model_name"],
                       {"classifier": payload.get("classifier_name", "")}, Path(path), None, "pipeline", dict(payload["model_kwargs"]),
                       classifier, payload.get("classifier_name", ""))


def load_pipeline(path: str | Path, device: str | torch.device = "cpu") -> LoadedModel:
    """Read an embedding pipeline file; CheckpointError when ``path`` is something else."""
    from ferkit.devices import resolve_device

    payload = read_torch_file(path, "embedding pipeline")
    require_format(payload, path, PIPELINE_FORMAT)
    payload_kind(payload, path)  # version and fields
    return pipeline_from_payload(payload, path, resolve_device(device))
