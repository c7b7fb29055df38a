"""Validation after each epoch and model selection on it (never on the test split)."""

from __future__ import annotations

from typing import Any

import numpy as np
import torch

from ferkit.evaluate.metrics import classification_metrics
from ferkit.evaluate.predict import predict_probabilities
from ferkit.train import distributed
from ferkit.train.config import Recipe
from ferkit.train.setup import TrainingRun
from ferkit.train.state import TrainState


def nearest_centroid_predictions(model: torch.nn.Module, train_set, images: np.ndarray, recipe: Recipe, dev: torch.device, rng: np.random.Generator) -> np.ndarray:
    """Validation for metric-learning runs: nearest class centre of (up to 8000) training embeddings, cosine distance."""
    from ferkit.evaluate.predict import predict_embeddings

    sample = np.sort(rng.choice(len(train_set), size=min(8000, len(train_set)), replace=False))
    kwargs = {"in_chans": recipe.in_chans, "image_size": recipe.image_size, "device": dev}
    train_emb = torch.nn.functional.normalize(torch.from_numpy(predict_embeddings(model, train_set.images[sample], **kwargs)), dim=1)
    labels = torch.from_numpy(train_set.labels[sample])
    centres = torch.stack([train_emb[labels == c].mean(0) if (labels == c).any() else torch.zeros(train_emb.shape[1]) for c in range(len(train_set.class_names))])
    val_emb = torch.nn.functional.normalize(torch.from_numpy(predict_embeddings(model, images, **kwargs)), dim=1)
    return (val_emb @ torch.nn.functional.normalize(centres, dim=1).T).argmax(1).numpy()


def validation_metrics(run: TrainingRun) -> dict[str, Any] | None:
    """Metrics of the current model on ``split.val`` (None without a validation split); every rank gets rank 0's, so
    that model selection, the plateau schedule and early stopping decide the same on every rank.

    With the softmax head they include ``loss``: the mean negative log-probability of the true class (finer than
    accuracy, which on a validation split of a few subjects ties between many epochs)."""
    recipe, val = run.recipe, run.split.val
    if val is None:
        return None
    if recipe.val_classifier == "nearest_centroid":  # computed by rank 0 alone: the other ranks would only repeat it
        metrics = None
        if run.ctx.is_main:
            predicted = nearest_centroid_predictions(run.model, run.split.train, val.images, recipe, run.device, np.random.default_rng(recipe.seed))
            metrics = classification_metrics(val.labels, predicted, val.class_names)
        return distributed.from_main(run.ctx, metrics)

    def predict(images: np.ndarray) -> np.ndarray:
        return predict_probabilities(run.model, images, in_chans=recipe.in_chans, image_size=recipe.image_size, tta=recipe.val_tta, device=run.device)

    probabilities = distributed.predict_sharded(run.ctx, predict, val.images, run.device)
    metrics = classification_metrics(val.labels, probabilities.argmax(1), val.class_names)
    true_class = probabilities[np.arange(len(val.labels)), np.asarray(val.labels)]
    # Gathered rows are the same on every rank, except a set smaller than the number of ranks, which each scores whole.
    return distributed.from_main(run.ctx, {**metrics, "loss": float(-np.log(np.clip(true_class, 1e-12, None)).mean())})


def better(row: dict[str, Any], best: dict[str, Any] | None, metric: str, ties: str) -> bool:
    """Whether epoch ``row`` beats the best epoch so far (``best``, None before the first) on ``metric``, both
    validation rows: strictly higher, or, with ``ties`` "val_loss", equal with a lower validation loss."""
    if best is None or best.get(metric) is None:
        return True
    if row[metric] != best[metric]:
        return row[metric] > best[metric]
    return ties == "val_loss" and row.get("val_loss") is not None and best.get("val_loss") is not None and row["val_loss"] < best["val_loss"]


def select(state: TrainState, row: dict[str, Any], metrics: dict[str, Any] | None, recipe: Recipe, epoch: int) -> tuple[bool, float | None]:
    """Record ``metrics`` in ``row`` and keep the best epoch (``recipe.select_metric``, ties by
    ``recipe.select_ties``); returns (improved, score).

    Without a validation split the last epoch is the model (a fixed budget), so every epoch "improves".
    """
    if metrics is None:
        state.best_epoch = epoch + 1
        return True, None
    row.update({"val_accuracy": metrics["accuracy"], "val_macro_f1": metrics["macro_f1"], "val_balanced_accuracy": metrics["balanced_accuracy"]})
    if "loss" in metrics:
        row["val_loss"] = metrics["loss"]
    metric = f"val_{recipe.select_metric}"
    best_row = None
    if state.best_val is not None:
        best_row = next((r for r in state.history if r.get("epoch") == state.best_epoch and metric in r), None)
        best_row = best_row or {metric: state.best_val}  # a history without the best epoch's row: compare on the score alone
    improved = better(row, best_row, metric, recipe.select_ties)
    if improved:
        state.best_val, state.best_epoch = row[metric], epoch + 1
    return improved, row[metric]
