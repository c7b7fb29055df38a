"""Bulk inference on a Ray cluster with Ray Data (optional extra: ``pip install "ferkit[ray]"``).

Ray Data's ``map_batches`` with a callable class starts a pool of actors; each builds one
``Recognizer`` in its constructor (model and detector loaded once per worker, not once per batch)
and turns batches of file paths into rows, one per face; an input with no face row of its own still gets one row,
``face`` -1: with ``error`` set when it could not be read (or has no face and ``require_face`` is on), with an
empty ``error`` and ``label`` when it was read and holds no face (``require_face=False``). No path is dropped::

    import ray
    from ferkit.ray_data import predict_paths

    ray.init()                                   # or ray.init(address="auto") on a cluster
    rows = predict_paths(paths, model="model.pt", detector="haar", concurrency=8, batch_size=64)
    rows.write_parquet("s3://bucket/fer/")      # or rows.iter_rows(), rows.to_pandas() for small jobs

Paths must be readable from every node (shared filesystem or object store mount). Nothing here is
imported by the rest of ferkit, and this module imports Ray only when ``predict_paths`` is called, so Ray is
needed only by who uses it; without it ``predict_paths`` raises ``ConfigError`` naming the extra.

Ray starts its worker processes at a niceness 15 above the driver's. On a machine whose cores are busy with other
work (a training run), those actors then get almost no CPU and Ray Data waits on their constructors; start Ray with
``RAY_worker_niceness=0`` in the environment to keep them at the driver's priority (see docs/scale.md).
"""

from __future__ import annotations

import importlib
from types import ModuleType
from typing import Any, Iterable

import numpy as np

from ferkit.errors import ConfigError

RAY_EXTRA = "pip install 'ferkit[ray]'"


class RecognizerPredictor:
    """The callable class given to ``Dataset.map_batches``: one Recognizer per Ray worker.

    batch: ``{"path": array of str}`` -> ``{"file", "face", "x", "y", "w", "h", "label", "confidence",
    "prob_<class>"..., "error"}`` columns, one row per face.
    """

    def __init__(self, model: str | None = None, *, detector: str = "haar", tta: str = "flip", device: str = "cpu",
                 largest_only: bool = False, require_face: bool = True) -> None:
        from ferkit.recognizer import Recognizer

        self.recognizer = Recognizer(model, detector=detector, tta=tta, device=device, largest_only=largest_only)
        self.require_face = require_face

    def __call__(self, batch: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
        from ferkit.bulk import FailedInput

        names = self.recognizer.class_names
        columns: dict[str, list[Any]] = {k: [] for k in ("file", "face", "x", "y", "w", "h", "label", "confidence", *[f"prob_{n}" for n in names], "error")}

        def add(file: str, face: int, box: tuple, label: str, confidence: float, probs: list[float], error: str) -> None:
            for key, value in zip(("file", "face", "x", "y", "w", "h", "label", "confidence", "error"), (file, face, *box, label, confidence, error)):
                columns[key].append(value)
            for name, p in zip(names, probs):
                columns[f"prob_{name}"].append(p)

        paths = [str(p) for p in batch["path"]]
        for item in self.recognizer.predict_many(paths, batch_size=max(len(paths), 1), require_face=self.require_face, errors="record"):
            if isinstance(item, FailedInput):
                add(item.source, -1, (0, 0, 0, 0), "", 0.0, [0.0] * len(names), item.error)
                continue
            if not item.faces:  # read, no face (require_face=False): a row says so, the path is not dropped
                add(item.source, -1, (0, 0, 0, 0), "", 0.0, [0.0] * len(names), "")
            for face in item.faces:
                add(item.source, face.face_index, face.box, face.label, face.confidence, [face.probabilities[n] for n in names], "")
        return {key: np.asarray(values) for key, values in columns.items()}


def _import_ray() -> ModuleType:
    """``ray`` with Ray Data, or ConfigError naming the extra (the module is optional)."""
    try:
        importlib.import_module("ray.data")
    except ImportError as error:
        raise ConfigError(f"ferkit.ray_data needs Ray Data ({error}); install the optional extra: {RAY_EXTRA}") from None
    return importlib.import_module("ray")


def predict_paths(paths: Iterable[str], *, model: str | None = None, concurrency: int = 1, batch_size: int = 64,
                  num_cpus: float = 1.0, num_gpus: float = 0.0, **recognizer_options: Any) -> Any:
    """A lazy Ray ``Dataset`` of face rows for image ``paths``; ``concurrency`` actors, each with one Recognizer.

    ``num_cpus`` / ``num_gpus``: what Ray reserves per actor. With ``num_gpus`` > 0 each actor runs on the GPU Ray
    gives it (``device`` defaults to ``"cuda"``: Ray sets the actor's CUDA_VISIBLE_DEVICES, so ``cuda`` is its GPU).
    ``recognizer_options`` go to ``RecognizerPredictor`` (detector, tta, device, largest_only, require_face).
    """
    if concurrency < 1 or batch_size < 1:
        raise ConfigError(f"concurrency and batch_size must be >= 1, got concurrency={concurrency}, batch_size={batch_size}")
    if num_cpus < 0 or num_gpus < 0:
        raise ConfigError(f"num_cpus and num_gpus must be >= 0, got num_cpus={num_cpus}, num_gpus={num_gpus}")
    if num_gpus > 0:
        recognizer_options.setdefault("device", "cuda")
    elif str(recognizer_options.get("device", "cpu")).startswith("cuda"):
        raise ConfigError(f"device={recognizer_options['device']!r} needs num_gpus > 0: without it Ray gives the actors no GPU")
    ray = _import_ray()
    dataset = ray.data.from_items([{"path": str(p)} for p in paths])
    # a fixed-size actor pool; map_batches' `concurrency` argument is deprecated since Ray 2.51
    return dataset.map_batches(RecognizerPredictor, fn_constructor_kwargs={"model": model, **recognizer_options},
                               batch_size=batch_size, compute=ray.data.ActorPoolStrategy(size=concurrency), num_cpus=num_cpus, num_gpus=num_gpus,
                               batch_format="numpy")
