"""One training epoch, top to bottom: batches, forward, loss, backward, step, log row."""

from __future__ import annotations

import math
import time
from typing import Any

import torch

from ferkit.errors import TrainingDivergedError
from ferkit.train import distributed
from ferkit.train.batches import Batch
from ferkit.train.prefetch import prefetched
from ferkit.train.setup import TrainingRun
from ferkit.train.state import TrainState


def train_one_epoch(run: TrainingRun, state: TrainState, epoch: int, *, progress: bool = False, prefetch: bool | None = None) -> dict[str, Any]:
    """Train epoch ``epoch`` (0-based) and return its log row (mean losses, accuracy, lr, speed).

    ``prefetch``: draw the synthetic occluders a few batches ahead on a thread when that leaves every
    batch unchanged (``BatchMaker.can_prefetch``). None = on a GPU only: there the host's drawing bounds
    the step and overlaps the device's work; on the 2-core CPU the thread competes with the training
    threads for the same cores and measured no faster (benchmarks/occluder_prefetch_speed.py)."""
    from tqdm.auto import tqdm

    recipe = run.recipe
    run.model.train()
    run.criterion.train()
    if recipe.freeze_stages:
        from ferkit.train.transfer import set_frozen_bn_eval

        set_frozen_bn_eval(run.model)  # frozen stages keep their BatchNorm statistics too
    started, cpu_started = time.perf_counter(), time.process_time()
    totals = EpochTotals(run.device)
    batches = distributed.local_batches(run.ctx, run.batches, state.rng, state.gen, recipe.seed, epoch)
    if prefetch is None:
        prefetch = run.device.type == "cuda"
    if run.occluder_pool is not None:
        drawn = run.occluder_pool.epoch_batches(batches, epoch)
    elif prefetch and run.make_batch.can_prefetch:
        drawn = prefetched(batches, lambda indices: run.make_batch.draw_occluders(indices, state.rng))
    else:
        drawn = ((indices, None) for indices in batches)
    bar = tqdm(drawn, total=run.steps, desc=f"epoch {epoch + 1}/{recipe.epochs}", disable=not progress, leave=False)
    try:
        for indices, occluders in bar:
            batch = run.make_batch(indices, state.rng, state.gen, occluders=occluders)
            loss, parts, logits = batch_loss(run, batch)
            loss_value = checked_loss_value(run, loss, parts, epoch)
            state.optimizer.zero_grad(set_to_none=True)
            loss.backward()
            distributed.average_gradients(run.ctx, run.criterion)  # e.g. class centres, outside the DDP model
            state.optimizer.step()
            if state.scheduler is not None and run.per_batch:
                state.scheduler.step()
            totals.add(parts, loss_value, logits, batch.y)
            if progress and bar.n % 20 == 0:
                bar.set_postfix(loss=f"{loss_value:.3f}", acc=f"{totals.accuracy():.3f}")
    finally:
        bar.close()
        drawn.close()  # stops the prefetch thread when the epoch ends early (an error)
    return totals.row(run, epoch, lr=state.optimizer.param_groups[0]["lr"], started=started, cpu_started=cpu_started)


def batch_loss(run: TrainingRun, batch: Batch) -> tuple[torch.Tensor, dict[str, float], torch.Tensor]:
    """(loss, its named parts as floats, logits): the criterion's loss plus the model's auxiliary losses."""
    with torch.autocast(device_type=run.device.type, dtype=torch.bfloat16, enabled=run.amp):
        out = run.forward(batch.x, occlusion_masks=batch.occlusion_masks)
    embeddings, logits = out.embeddings.float(), out.logits.float()
    if batch.targets is not None:  # mixup/cutmix: the mixed label distributions
        loss, parts = run.criterion.soft(logits, batch.targets)
    elif run.soft_targets is not None:
        loss, parts = run.criterion.soft(logits, run.soft_targets[batch.index])
    elif run.teacher is not None:
        loss, parts = run.criterion(embeddings, logits, batch.y, teacher_logits=run.teacher.logits(batch.index, batch.x))
    else:
        loss, parts = run.criterion(embeddings, logits, batch.y)
    for name, value in out.aux_losses.items():
        loss = loss + value
        parts[name] = float(value.detach())
    return loss, parts, out.logits


def checked_loss_value(run: TrainingRun, loss: torch.Tensor, parts: dict[str, float], epoch: int) -> float:
    """The loss as a float, the same on every rank; a clear error (and last.pt untouched) when it is not finite."""
    loss_value = float(loss.detach())  # the one host sync per batch: divergence check, log and bar
    loss_value = distributed.mean_over_ranks(run.ctx, loss_value, run.device)  # all ranks see one value and stop together
    if not math.isfinite(loss_value):
        raise TrainingDivergedError(
            f"recipe {run.recipe.tag}: the training loss became {loss_value} at epoch {epoch + 1} "
            f"({', '.join(f'{k} {v:.4g}' for k, v in parts.items())}); lower the learning rate or the auxiliary "
            f"loss weights. {run.last_path} still holds the last finished epoch"
        )
    return loss_value


def check_finite_weights(run: TrainingRun, epoch: int) -> None:
    """Refuse to validate or save a model whose weights overflowed in the epoch's last steps (a learning rate far too
    high can leave every batch's loss finite and the weights at inf/NaN, which best.pt kept before)."""
    tensors = list(run.model.named_parameters()) + [(n, b) for n, b in run.model.named_buffers() if b.is_floating_point()]
    bad = [name for name, tensor in tensors if not bool(torch.isfinite(tensor).all())]
    if bad:
        raise TrainingDivergedError(
            f"recipe {run.recipe.tag}: after epoch {epoch + 1} {len(bad)} weight tensor(s) are not finite (e.g. {bad[0]}); "
            f"lower the learning rate. {run.last_path} still holds the last finished epoch")


class EpochTotals:
    """Sums of the loss parts per batch and correct predictions, kept on the device (no sync per batch)."""

    def __init__(self, device: torch.device) -> None:
        self.sums: dict[str, float] = {}
        self.correct = torch.zeros((), dtype=torch.long, device=device)
        self.seen = 0

    def add(self, parts: dict[str, float], loss_value: float, logits: torch.Tensor, labels: torch.Tensor) -> None:
        for name, value in parts.items():
            self.sums[name] = self.sums.get(name, 0.0) + value
        self.sums["loss"] = self.sums.get("loss", 0.0) + loss_value
        self.correct += (logits.argmax(1) == labels).sum()
        self.seen += len(labels)

    def accuracy(self) -> float:
        return int(self.correct) / max(self.seen, 1)

    def row(self, run: TrainingRun, epoch: int, *, lr: float, started: float, cpu_started: float) -> dict[str, Any]:
        """The epoch's log row, totals over all ranks: mean per step of each loss part. ``cpu_time_s`` is this
        process's CPU time over the epoch, all threads together: unlike the wall time it leaves out time the
        process was paused or waiting for a core, so it states the training cost (core-seconds) on a shared machine."""
        sums, correct, seen = distributed.reduce_epoch_stats(run.ctx, dict(self.sums), self.correct, self.seen)
        steps = max(run.steps, 1)
        elapsed = time.perf_counter() - started
        return {
            "epoch": epoch + 1,
            "train_loss": sums.pop("loss", 0.0) / steps,
            **{f"train_{k}": v / steps for k, v in sums.items()},
            "train_accuracy": int(correct) / max(seen, 1),
            "lr": lr,
            "epoch_time_s": elapsed,
            "cpu_time_s": time.process_time() - cpu_started,
            "images_per_s": seen / max(elapsed, 1e-9),
            "precision": "bf16" if run.amp else "fp32",  # a resumed run may change host, and cpu_amp is fp32 without native bf16
        }
