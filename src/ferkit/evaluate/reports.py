"""Scoring a checkpoint on a dataset split: metrics JSON, confusion-matrix PNG, label mapping."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import numpy as np

from ferkit.artifacts.loaded import LoadedModel
from ferkit.data.dataset import FaceDataset
from ferkit.evaluate.metrics import mapped_metrics
from ferkit.evaluate.plots import confusion_matrix_plot
from ferkit.evaluate.predict import predict_probabilities
from ferkit.io_utils import atomic_write_json
from ferkit.labels import map_labels


def result_tag(dataset_name: str) -> str:
    """The file-name stem of a dataset's results: ``fer2013/PrivateTest`` -> ``fer2013_PrivateTest``; the ``:`` of an
    image folder's name (``imagefolder:test``) becomes ``_`` too, as a ``:`` is not allowed in Windows file names."""
    return dataset_name.replace("/", "_").replace(":", "_")


def result_files(out_dir: str | Path, tag: str) -> tuple[Path, Path]:
    """The metrics JSON and confusion-matrix PNG ``evaluate_model`` writes for ``tag`` in ``out_dir``."""
    out = Path(out_dir)
    return out / f"{tag}.json", out / f"{tag}_confusion.png"


def evaluate_model(
    loaded: LoadedModel,
    dataset: FaceDataset,
    *,
    tta: str = "none",
    device: str = "cpu",
    out_dir: str | Path | None = None,
    tag: str | None = None,
    probabilities: np.ndarray | None = None,
    occlusion: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """Score ``loaded`` on ``dataset``; classes the model lacks are reported as unmapped, not guessed.

    With ``out_dir``, writes ``<tag>.json`` and ``<tag>_confusion.png`` there (atomically; ``result_files``), replacing
    earlier ones: callers that must not (``ferkit evaluate`` without --overwrite) check first. ``probabilities``
    (N, classes), when the caller already predicted them (to keep them, e.g. for an ensemble of runs), are
    scored instead of predicting again. ``occlusion`` (``OcclusionInfo.summary()`` of an occluded copy) is recorded
    in the result, so that a result file says which faces were covered and how.
    """
    mapping = map_labels(dataset.class_names, loaded.class_names)
    t0 = time.perf_counter()
    if probabilities is None:
        probs = predict_probabilities(loaded.model, dataset.images, in_chans=loaded.in_chans, image_size=loaded.image_size, tta=tta, device=device)
    else:
        probs = np.asarray(probabilities)
        if probs.shape != (len(dataset), len(loaded.class_names)):
            raise ValueError(f"probabilities of shape {probs.shape} for {len(dataset)} images and {len(loaded.class_names)} classes")
    seconds = time.perf_counter() - t0
    result = mapped_metrics(dataset.labels, probs, mapping)
    result.update({
        "dataset": dataset.name, "checkpoint": str(loaded.path), "model": loaded.model_name, "tta": tta,
        "recipe": loaded.recipe.get("name"), "recipe_version": loaded.recipe.get("version"),
        "inference_seconds": seconds if probabilities is None else None, "device": str(device),
    })
    if occlusion is not None:
        result["occlusion"] = occlusion
    if out_dir is not None:
        json_path, png_path = result_files(out_dir, tag or result_tag(dataset.name))
        atomic_write_json(json_path, result)
        confusion_matrix_plot(result["confusion_matrix"], result["class_names"], png_path,
                              title=f"{loaded.recipe.get('name', loaded.model_name)} on {dataset.name} (tta={tta}) acc={result['accuracy']:.4f}")
    return result
