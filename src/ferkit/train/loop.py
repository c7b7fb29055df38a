"""The training loop: one function to read top to bottom (``train``).

build the run (model, criterion, batches, optimizer) -> [resume] -> per epoch: ``train_one_epoch``
(batches -> occlude + augment on device -> ``forward_train`` -> loss + auxiliary losses -> backward
-> step) -> validate -> select -> checkpoint -> log. Recipes differ in data, model, loss and
sampler, which are parameters here; nothing is copied per paper. The pieces live in ``setup``,
``batches``, ``epoch``, ``validate``, ``state`` and ``report``.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable

import numpy as np
import torch

from ferkit.data.registry import ExperimentSplit
from ferkit.devices import device_description, resolve_device
from ferkit.errors import ConfigError
from ferkit.io_utils import atomic_write_text, check_writable_folder
from ferkit.train import distributed
from ferkit.artifacts import load_checkpoint, save_checkpoint
from ferkit.train.config import Recipe, validate_recipe
from ferkit.train.early_stop import early_stop, stop_line
from ferkit.train.epoch import check_finite_weights, train_one_epoch
from ferkit.train.optim import step_epoch_scheduler
from ferkit.train.report import epoch_line, quiet_unless_main, start_lines, write_metrics_log, write_run_end
from ferkit.train.resume import (RunLock, check_epochs_grow, check_resumable, check_run_dir, check_steps_per_epoch, created_folder,
                                 sweep_temporaries)
from ferkit.train.setup import TrainingRun, build_run
from ferkit.train.state import TrainState, checkpoint_payload, run_meta
from ferkit.train.validate import select, validation_metrics


@dataclass
class TrainResult:
    out_dir: Path
    best_path: Path
    last_path: Path
    history: list[dict[str, Any]]
    best_epoch: int
    best_val: float | None
    wall_time_s: float
    device: str  # human-readable, e.g. "NVIDIA H100 80GB HBM3" or "cpu (x86_64, 2 threads)"
    torch_device: torch.device
    epochs_trained: int = 0  # fewer than recipe.epochs when the run stopped early
    stopped_early: dict[str, Any] | None = None  # early_stop's record, None when the run trained every epoch


def train(
    recipe: Recipe,
    split: ExperimentSplit,
    out_dir: str | Path,
    *,
    device: str = "auto",
    resume: bool = False,
    progress: bool = True,
    log: Callable[[str], None] = print,
    model_init: Callable[[torch.nn.Module], None] | None = None,
    sync_batchnorm: bool = False,
    occluder_workers: int = 0,
) -> TrainResult:
    """Train ``recipe`` on ``split.train``, select on ``split.val`` (last epoch when there is none).

    Writes into ``out_dir``: recipe.json, metrics.jsonl (one row per epoch), last.pt (resumable,
    every epoch), best.pt (the selected model), curves.png. The test split is not touched here.
    Under torchrun every rank calls this; rank 0 alone writes and logs (see ``distributed``).
    ``occluder_workers`` > 0 draws the synthetic occluders in that many processes (see ``build_run``).
    """
    recipe = validate_recipe(recipe)
    out = Path(out_dir)
    check_output(out, recipe, split, resume=resume)
    ctx = distributed.current()
    log, progress = quiet_unless_main(ctx, log, progress)
    dev = distributed.rank_device(ctx, resolve_device(device))
    for line in start_lines(recipe, split, dev, ctx, sync_batchnorm=sync_batchnorm):
        log(line)
    lock = RunLock(out)
    with created_folder(out):  # a run refused while it is built (e.g. a missing init_weights file) leaves no empty --out
        if ctx.is_main:
            lock.acquire()
        try:
            check_run_dir(out, resume=resume)  # again under the lock: another process may have written here since check_output
            if ctx.is_main:
                sweep_temporaries(out)
            run, state = build_run(recipe, split, out, dev, ctx, log=log, model_init=model_init, sync_batchnorm=sync_batchnorm,
                                   occluder_workers=occluder_workers)
        except BaseException:
            lock.release()
            raise
    try:
        if resume and run.last_path.exists():
            resume_state(run, state, log)
        if ctx.is_main:
            atomic_write_text(out / "recipe.json", recipe.to_json() + "\n")
            if state.history:  # resumed: a kill between last.pt and the log left the log an epoch behind (or missing)
                write_metrics_log(out / "metrics.jsonl", state.history)
        meta, start_epoch, started = run_meta(recipe, split), state.epoch, time.perf_counter()
        stop = early_stop(state.history, recipe)  # a resumed run that already stopped early is finished
        if stop is not None:
            log(stop_line(stop, recipe.epochs))
        for epoch in range(start_epoch, recipe.epochs if stop is None else start_epoch):
            teacher_seconds = run.teacher.forward_seconds if run.teacher is not None else 0.0
            row = train_one_epoch(run, state, epoch, progress=progress)
            distributed.broadcast_buffers(ctx, run.model)  # rank 0's BatchNorm statistics: validated, saved, and trained on next
            check_finite_weights(run, epoch)
            if run.teacher is not None and epoch == start_epoch:
                row["teacher_time_s"] = run.teacher.build_seconds  # the teacher's cost, counted once per process
            if run.teacher is not None and run.teacher.mode == "online":  # part of epoch_time_s, split out for per-minute comparisons
                row["teacher_forward_s"] = run.teacher.forward_seconds - teacher_seconds
            improved, score = select(state, row, validation_metrics(run), recipe, epoch)
            step_epoch_scheduler(state.scheduler, recipe, run.per_batch, score)
            stop = end_epoch(run, state, row, out, meta, improved=improved, log=log)
            if stop is not None:
                break
        wall = time.perf_counter() - started
        if ctx.is_main:
            write_run_end(run, state, out, wall, sync_batchnorm=sync_batchnorm)
        distributed.barrier(ctx)  # the run is complete on disk before any rank returns
        return TrainResult(out, out / "best.pt", run.last_path, state.history, state.best_epoch, state.best_val, wall, device_description(dev), dev,
                           epochs_trained=state.epoch, stopped_early=stop)
    finally:
        run.close()  # the occluder workers, if any
        lock.release()


ANNEALED_OVER_EPOCHS = ("onecycle", "cosine")  # schedules whose learning rate reaches its floor only at the last epoch


def check_output(out: Path, recipe: Recipe, split: ExperimentSplit, *, resume: bool) -> None:
    """Refuse, before any work, to overwrite a run, to plateau or stop early without a validation split, or to stop a
    schedule early that anneals over all epochs."""
    check_writable_folder(out)
    check_run_dir(out, resume=resume)
    if resume and (out / "last.pt").exists():
        check_epochs_grow(out, recipe)
    present = sorted({split.train.class_names[i] for i in np.unique(split.train.labels)})
    if len(present) < 2:  # trained to "loss 0.0000, test accuracy 1.0000" on a one-class folder before
        raise ConfigError(f"{split.name}: the training data holds {len(present)} class{'' if len(present) == 1 else 'es'} "
                          f"({', '.join(present) or 'no images'}); an expression classifier needs images of at least 2 classes")
    if recipe.schedule == "plateau" and split.val is None:
        raise ConfigError(f"schedule 'plateau' needs a validation split, and {split.name} has none; use cosine, onecycle or step")
    if recipe.early_stop_patience is not None and split.val is None:
        raise ConfigError(f"early_stop_patience={recipe.early_stop_patience} watches the validation split, and {split.name} has none; "
                          "set early_stop_patience=null to train every epoch, or use a protocol with validation data (never the test split)")
    if recipe.early_stop_patience is not None and recipe.schedule in ANNEALED_OVER_EPOCHS:
        # Measured on CK+ 10-fold (ckplus-ce-modres18-occ-v2-fer2013init-es): one-cycle over 100 epochs stopped every
        # fold at epoch 20-36, near the peak learning rate, on a best validation epoch as early as 6.
        raise ConfigError(f"early_stop_patience={recipe.early_stop_patience} with schedule {recipe.schedule!r}: that schedule anneals the "
                          f"learning rate over all {recipe.epochs} epochs, so an early stop lands at a high learning rate before the "
                          "network has converged; use schedule 'plateau', 'step' or 'none' with early stopping, or set "
                          "early_stop_patience=null and choose the epoch count on validation data")


def end_epoch(run: TrainingRun, state: TrainState, row: dict[str, Any], out: Path, meta: dict[str, Any], *, improved: bool,
              log: Callable[[str], None]) -> dict[str, Any] | None:
    """Record the finished epoch, decide on early stopping, checkpoint and log; returns the stop or None."""
    state.history.append(row)
    state.epoch = row["epoch"]
    stop = early_stop(state.history, run.recipe)
    if stop is not None:
        row["stopped_early"] = stop  # in metrics.jsonl and last.pt, so the record survives a resume
    if run.ctx.is_main:
        save_epoch(out, meta, state, improved=improved, selected_on="val" if run.split.val is not None else "last_epoch")
    log(epoch_line(row, run.recipe.epochs))
    if stop is not None:
        log(stop_line(stop, run.recipe.epochs))
    return stop


def save_epoch(out: Path, meta: dict[str, Any], state: TrainState, *, improved: bool, selected_on: str) -> None:
    """best.pt when the epoch improved, last.pt always, then the metrics log from the saved history.

    In this order on purpose: killed between best.pt and last.pt, a resumed run trains that epoch again and rewrites
    best.pt, and a first epoch killed there leaves no epoch rows, so it may start again (``resume.run_results``)."""
    if improved:
        save_checkpoint(out / "best.pt", checkpoint_payload("best", meta, state, selected_on=selected_on))
    save_checkpoint(out / "last.pt", checkpoint_payload("last", meta, state))
    write_metrics_log(out / "metrics.jsonl", state.history)


def resume_state(run: TrainingRun, state: TrainState, log: Callable[[str], None]) -> None:
    """Continue from ``last.pt``: same recipe and split, then every part of the state as it was saved."""
    saved = load_checkpoint(run.last_path, map_location=run.device)
    check_resumable(saved, run.recipe, run.split, run.last_path)
    check_steps_per_epoch(saved, run.steps, run.recipe, run.per_batch, run.last_path)
    state.load_state_dict(saved, restore_cuda_rng=not run.ctx.active, log=log)  # ranks reseed per epoch; GPU counts may differ
    log(f"resumed from {run.last_path} at epoch {state.epoch}")
