"""What a run prints and writes besides checkpoints: the start lines, one line and one metrics.jsonl row
per epoch, and at the end curves.png and train_summary.json. Rank 0 alone writes (see ``distributed``)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any, Callable

import torch

from ferkit.data.registry import ExperimentSplit
from ferkit.devices import device_description
from ferkit.io_utils import atomic_write_json, atomic_write_text
from ferkit.train import distributed
from ferkit.train.config import Recipe
from ferkit.train.setup import TrainingRun
from ferkit.train.state import TrainState


def start_lines(recipe: Recipe, split: ExperimentSplit, device: torch.device, ctx: distributed.DistContext, *, sync_batchnorm: bool) -> list[str]:
    """The run's header: what trains on what, the resolved recipe, and the distributed set-up."""
    val_size = len(split.val) if split.val else 0
    lines = [f"recipe {recipe.tag} on {split.name} ({len(split.train)} train, {val_size} val) device {device_description(device)}", recipe.to_json()]
    if ctx.active:
        lines.append(distributed.describe(ctx, recipe.batch_size, recipe.lr, sync_batchnorm=sync_batchnorm))
    return lines


def epoch_line(row: dict[str, Any], epochs: int) -> str:
    val_text = f" val {row['val_accuracy']:.4f}" if "val_accuracy" in row else ""
    return (f"epoch {row['epoch']}/{epochs} loss {row['train_loss']:.4f} train_acc {row['train_accuracy']:.4f}{val_text} "
            f"({row['epoch_time_s']:.1f}s, {row['images_per_s']:.0f} img/s)")


def write_metrics_log(path: Path, history: list[dict[str, Any]]) -> None:
    """The log is rewritten from the checkpointed history, so a crash never leaves duplicate rows."""
    atomic_write_text(path, "".join(json.dumps(r) + "\n" for r in history))


def write_run_end(run: TrainingRun, state: TrainState, out: Path, wall_s: float, *, sync_batchnorm: bool) -> None:
    """curves.png and train_summary.json (rank 0)."""
    recipe = run.recipe
    if state.history:
        from ferkit.evaluate.plots import training_curves_plot

        training_curves_plot(state.history, out / "curves.png", title=f"{recipe.tag} on {run.split.name}")
    atomic_write_json(out / "train_summary.json", {
        "recipe": recipe.tag, "split": run.split.name, "best_epoch": state.best_epoch, "best_val": state.best_val,
        "select_metric": recipe.select_metric, "wall_time_s": wall_s, "device": device_description(run.device), "epochs": recipe.epochs,
        "epochs_trained": state.epoch, "stopped_early": state.history[-1].get("stopped_early") if state.history else None,
        "distributed": distributed.summary(run.ctx, recipe.batch_size, sync_batchnorm=sync_batchnorm),
    })


def quiet_unless_main(ctx: distributed.DistContext, log: Callable[[str], None], progress: bool) -> tuple[Callable[[str], None], bool]:
    """Ranks other than 0 neither log nor show a progress bar."""
    return (log, progress) if ctx.is_main else ((lambda _: None), False)
