"""Data-parallel training over processes started by ``torchrun``: PyTorch's DistributedDataParallel,
gloo on CPU, NCCL on CUDA. The training loop calls these hooks; without a process group each is a
no-op, so a plain ``ferkit train`` behaves exactly as before.

The recipe's ``batch_size`` is the global (effective) batch. With W ranks each rank trains on
``batch_size / W`` samples of every global batch, so a run is the same optimisation problem whatever
W is (same learning rate, same schedule, and the same steps per epoch except with the triplet and pair
samplers, whose last partial batch can cost a step on more ranks), and ``last.pt`` resumes with any W
(a per-batch schedule only with the steps per epoch it was built for: ``resume.check_steps_per_epoch``).
Every rank draws the same sequence of batches from ``(seed, epoch)``; rank r takes batches r, r + W,
r + 2W... For the shuffle sampler, W consecutive per-rank batches are exactly one contiguous slice of
the epoch's permutation, i.e. the global batch of a one-process run with the whole batch. Samplers
with a layout (triplets, pairs, P x K) keep it, since each rank gets whole batches of the builder.

BatchNorm normalises over each rank's shard unless SyncBatchNorm is switched on (CUDA only: PyTorch's
SyncBatchNorm refuses CPU tensors); at the end of each epoch every rank takes rank 0's running statistics.
"""

from __future__ import annotations

import datetime
import math
import os
import sys
from dataclasses import dataclass
from typing import Any, Callable, Iterator

import numpy as np
import torch
import torch.distributed as dist
import torch.nn as nn

from ferkit.errors import ConfigError
from ferkit.models.heads import TrainOutput


@dataclass(frozen=True)
class DistContext:
    """Where this process stands: rank among ``world_size`` processes; ``backend`` None when not distributed."""

    rank: int = 0
    world_size: int = 1
    local_rank: int = 0
    backend: str | None = None

    @property
    def active(self) -> bool:
        return self.backend is not None

    @property
    def is_main(self) -> bool:
        """Rank 0 alone writes checkpoints, logs, plots and prints."""
        return self.rank == 0


def launched_by_torchrun() -> bool:
    """torchrun (and torch.distributed.launch) export RANK and WORLD_SIZE to every process it starts."""
    return "RANK" in os.environ and "WORLD_SIZE" in os.environ


def current() -> DistContext:
    """The context of an initialised process group, else the single-process one."""
    if not (dist.is_available() and dist.is_initialized()):
        return DistContext()
    return DistContext(dist.get_rank(), dist.get_world_size(), int(os.environ.get("LOCAL_RANK", 0)), str(dist.get_backend()))


DEFAULT_TIMEOUT_S = 600.0


def group_timeout() -> datetime.timedelta:
    """How long a rank waits for its peers, at the rendezvous and at every collective: 10 minutes, or
    FERKIT_DIST_TIMEOUT_S seconds (a rank started without its peers used to wait PyTorch's default silently)."""
    raw = os.environ.get("FERKIT_DIST_TIMEOUT_S", "").strip()
    if not raw:
        return datetime.timedelta(seconds=DEFAULT_TIMEOUT_S)
    try:
        seconds = float(raw)
    except ValueError:
        seconds = float("nan")
    if not (math.isfinite(seconds) and seconds > 0):
        raise ConfigError(f"FERKIT_DIST_TIMEOUT_S must be a positive number of seconds, got {raw!r}; unset it for {DEFAULT_TIMEOUT_S:g} s")
    return datetime.timedelta(seconds=seconds)


def rendezvous_address() -> tuple[str, int]:
    """MASTER_ADDR and MASTER_PORT, which torchrun exports; a process given RANK and WORLD_SIZE by hand needs them too."""
    addr, port = os.environ.get("MASTER_ADDR", "").strip(), os.environ.get("MASTER_PORT", "").strip()
    missing = [name for name, value in (("MASTER_ADDR", addr), ("MASTER_PORT", port)) if not value]
    if missing:
        raise ConfigError(f"RANK and WORLD_SIZE are set but {' and '.join(missing)} {'is' if len(missing) == 1 else 'are'} not: launch with "
                          "torchrun --nproc-per-node N (it sets them all), or export MASTER_ADDR=<rank 0's host> and MASTER_PORT=<a free port> "
                          "on every rank; unset RANK and WORLD_SIZE to train in one process")
    if not port.isdigit() or not 0 < int(port) < 65536:
        raise ConfigError(f"MASTER_PORT must be a port number (1-65535), got {port!r}")
    return addr, int(port)


def init_from_env(device: str = "auto", *, log: Callable[[str], None] | None = None) -> DistContext:
    """Join the process group described by torchrun's environment (env:// rendezvous); single process otherwise.

    NCCL when ``device`` resolves to CUDA (each rank on ``cuda:LOCAL_RANK``), gloo on CPU. Every rank says
    where it joins (``log``, default stderr) before it waits for the others, at most ``group_timeout()``.
    """
    from ferkit.devices import resolve_device

    if not launched_by_torchrun() or (dist.is_available() and dist.is_initialized()):
        return current()
    if not dist.is_available():
        raise ConfigError("this PyTorch build has no torch.distributed; run ferkit train without torchrun")
    addr, port = rendezvous_address()
    timeout = group_timeout()
    use_cuda = resolve_device(device).type == "cuda"
    if use_cuda:
        local_rank = int(os.environ.get("LOCAL_RANK", 0))
        if local_rank >= torch.cuda.device_count():
            raise ConfigError(f"LOCAL_RANK {local_rank} but only {torch.cuda.device_count()} CUDA device(s): use --nproc-per-node "
                              f"{torch.cuda.device_count()} or fewer per node")
        torch.cuda.set_device(local_rank)
    (log or _stderr)(f"rank {os.environ['RANK']}: joining {os.environ['WORLD_SIZE']} ranks at {addr}:{port} (waiting up to "
                     f"{timeout.total_seconds():g} s for all of them; FERKIT_DIST_TIMEOUT_S changes it)")
    try:
        dist.init_process_group(backend="nccl" if use_cuda else "gloo", timeout=timeout)
    except ValueError as error:  # e.g. RANK or WORLD_SIZE that is not a number: torch's env:// rendezvous says which
        raise ConfigError(f"cannot join the process group from the environment ({error}); launch with torchrun --nproc-per-node N, "
                          "which sets RANK, WORLD_SIZE, MASTER_ADDR and MASTER_PORT, or unset RANK and WORLD_SIZE to train in one process") from error
    return current()


def _stderr(line: str) -> None:
    print(line, file=sys.stderr, flush=True)


def close() -> None:
    if dist.is_available() and dist.is_initialized():
        dist.destroy_process_group()


def rank_device(ctx: DistContext, device: torch.device) -> torch.device:
    """Each rank of a CUDA run on its own GPU (``cuda:LOCAL_RANK``); CPU ranks share the CPU."""
    if ctx.active and device.type == "cuda":
        return torch.device("cuda", ctx.local_rank)
    return device


def per_rank_batch(ctx: DistContext, batch_size: int) -> int:
    if batch_size % ctx.world_size:
        raise ConfigError(f"batch_size {batch_size} (the global batch) does not split evenly over {ctx.world_size} ranks; "
                          f"use a multiple of {ctx.world_size}, e.g. --set batch_size={batch_size - batch_size % ctx.world_size or ctx.world_size}")
    return batch_size // ctx.world_size


def steps_per_epoch(ctx: DistContext, n_batches: int) -> int:
    """Optimizer steps per epoch: every rank must take the same number, so a remainder of batches is dropped."""
    steps = n_batches // ctx.world_size
    if steps < 1:
        raise ConfigError(f"{n_batches} batch(es) per epoch cannot feed {ctx.world_size} ranks; use fewer ranks or a smaller batch_size")
    return steps


def describe(ctx: DistContext, batch_size: int, lr: float, *, sync_batchnorm: bool) -> str:
    """The line printed with the recipe: effective batch and the learning-rate rule."""
    norm = "SyncBatchNorm over the global batch" if sync_batchnorm else "BatchNorm over each rank's shard"
    return (f"distributed: {ctx.world_size} ranks ({ctx.backend}), effective batch {batch_size} = {ctx.world_size} x "
            f"{batch_size // ctx.world_size} per rank (the recipe's batch_size is the global batch), lr {lr:g} as in the recipe; "
            f"{norm}. To grow the effective batch k-fold, scale lr by k too (linear scaling rule, Goyal et al. 2017; "
            f"keep a warm-up such as onecycle's), e.g. --set batch_size={batch_size * 2} --set lr={lr * 2:g}")


def epoch_seed(seed: int, epoch: int, *stream: int) -> int:
    """An independent seed per (seed, epoch, stream...): streams are the batch order (0) and per-rank draws."""
    return int(np.random.SeedSequence([seed, epoch, *stream]).generate_state(1)[0])


def local_batches(ctx: DistContext, builder: Any, rng: np.random.Generator, gen: torch.Generator, seed: int, epoch: int) -> Iterator[np.ndarray]:
    """This rank's batches of ``epoch``. Distributed runs reseed the augmentation streams (numpy ``rng``,
    torch ``gen`` and the global torch RNG for dropout) from (seed, epoch, rank), so an epoch depends only
    on its number and a resume with another number of ranks needs no saved random state."""
    if not ctx.active:
        return builder.epoch_batches(rng)
    rng.bit_generator.state = np.random.default_rng(epoch_seed(seed, epoch, 1, ctx.rank)).bit_generator.state
    gen.manual_seed(epoch_seed(seed, epoch, 2, ctx.rank))
    torch.manual_seed(epoch_seed(seed, epoch, 3, ctx.rank))
    order = np.random.default_rng(epoch_seed(seed, epoch, 0))  # the same on every rank
    limit = steps_per_epoch(ctx, len(builder)) * ctx.world_size
    return (idx for i, idx in enumerate(builder.epoch_batches(order)) if i < limit and i % ctx.world_size == ctx.rank)


class _ForwardTrain(nn.Module):
    """DDP synchronises what runs inside its ``forward``; the loop needs ``forward_train``, so it runs here.
    Outputs leave as a tuple (DDP walks tuples and dicts to find the tensors, not dataclasses)."""

    def __init__(self, model: nn.Module) -> None:
        super().__init__()
        self.model = model

    def forward(self, x: torch.Tensor, occlusion_masks: torch.Tensor | None = None) -> tuple[torch.Tensor, torch.Tensor, dict[str, torch.Tensor]]:
        out = self.model.forward_train(x, occlusion_masks=occlusion_masks)
        return out.embeddings, out.logits, out.aux_losses


def wrap_model(ctx: DistContext, model: nn.Module, device: torch.device, *, sync_batchnorm: bool = False) -> Callable[..., TrainOutput]:
    """``model.forward_train``, through DistributedDataParallel when distributed.

    ``model`` (on ``device``) is changed in place by SyncBatchNorm, and stays the module whose
    ``state_dict`` is saved: checkpoints never carry DDP's ``module.`` prefix.
    """
    if sync_batchnorm and not ctx.active:
        raise ConfigError("--sync-bn needs a distributed run: launch ferkit train with torchrun --nproc-per-node N")
    if sync_batchnorm and device.type != "cuda":
        raise ConfigError("--sync-bn needs CUDA devices (PyTorch's SyncBatchNorm does not run on CPU); on CPU each rank "
                          "normalises over its own shard, so drop --sync-bn")
    if not ctx.active:
        return model.forward_train
    if sync_batchnorm:
        converted = nn.SyncBatchNorm.convert_sync_batchnorm(model)
        if converted is not model:
            raise ConfigError("SyncBatchNorm: the model itself is a BatchNorm layer; nothing to synchronise")
    # static_graph: the same parameters take part in every step of a run, but not always all of them (a
    # metric-learning loss leaves the softmax head unused); DDP learns which in the first step.
    ddp = nn.parallel.DistributedDataParallel(
        _ForwardTrain(model), device_ids=[device.index] if device.type == "cuda" else None, static_graph=True,
    )

    def forward_train(x: torch.Tensor, *, occlusion_masks: torch.Tensor | None = None) -> TrainOutput:
        return TrainOutput(*ddp(x, occlusion_masks))

    return forward_train


def average_gradients(ctx: DistContext, module: nn.Module) -> None:
    """Average the gradients of parameters outside the DDP model (e.g. the class centres of a centre loss)."""
    if not ctx.active or ctx.world_size == 1:
        return
    for param in module.parameters():
        if param.requires_grad:
            if param.grad is None:  # every rank must join every all-reduce, used or not
                param.grad = torch.zeros_like(param)
            dist.all_reduce(param.grad, op=dist.ReduceOp.SUM)
            param.grad /= ctx.world_size


def mean_over_ranks(ctx: DistContext, value: float, device: torch.device) -> float:
    """The mean of a per-rank scalar; every rank gets the same number (so all stop together on a NaN)."""
    if not ctx.active or ctx.world_size == 1:
        return value
    t = torch.tensor([value], dtype=torch.float64, device=device)
    dist.all_reduce(t, op=dist.ReduceOp.SUM)
    return float(t.item()) / ctx.world_size


def reduce_epoch_stats(ctx: DistContext, sums: dict[str, float], correct: torch.Tensor, seen: int) -> tuple[dict[str, float], torch.Tensor, int]:
    """Epoch totals over all ranks: loss sums averaged (each rank took the same number of steps), counts summed."""
    if not ctx.active or ctx.world_size == 1:
        return sums, correct, seen
    keys = sorted(sums)
    t = torch.tensor([sums[k] for k in keys] + [float(seen), float(correct)], dtype=torch.float64, device=correct.device)
    dist.all_reduce(t, op=dist.ReduceOp.SUM)
    values = t.tolist()
    return {k: v / ctx.world_size for k, v in zip(keys, values)}, torch.tensor(int(values[-1])), int(values[-2])


def shard_slice(ctx: DistContext, n: int) -> slice:
    """This rank's contiguous share of ``n`` items; shares differ by at most one and cover each item once."""
    base, extra = divmod(n, ctx.world_size)
    start = ctx.rank * base + min(ctx.rank, extra)
    return slice(start, start + base + (ctx.rank < extra))


def gather_rows(ctx: DistContext, local: np.ndarray, n: int, device: torch.device) -> np.ndarray:
    """Concatenate every rank's ``shard_slice`` rows in rank order: the ``n`` rows of the whole set, once each.

    Shards differ in length when ``n`` does not divide evenly, so they are padded to the longest for
    ``all_gather`` and the padding is cut off again.
    """
    shards = [shard_slice(DistContext(r, ctx.world_size), n) for r in range(ctx.world_size)]
    sizes = [s.stop - s.start for s in shards]
    longest = max(sizes)
    padded = torch.zeros((longest, *local.shape[1:]), dtype=torch.from_numpy(local[:0]).dtype, device=device)
    padded[: len(local)] = torch.from_numpy(np.ascontiguousarray(local)).to(device)
    parts = [torch.empty_like(padded) for _ in range(ctx.world_size)]
    dist.all_gather(parts, padded)
    return np.concatenate([part[:size].cpu().numpy() for part, size in zip(parts, sizes)])


def predict_sharded(ctx: DistContext, predict: Callable[[np.ndarray], np.ndarray], images: np.ndarray, device: torch.device) -> np.ndarray:
    """``predict(images)`` with each rank scoring its shard; every rank gets all rows, in order."""
    if not ctx.active or ctx.world_size == 1 or len(images) < ctx.world_size:
        return predict(images)  # a set smaller than the number of ranks is scored whole on each
    part = shard_slice(ctx, len(images))
    return gather_rows(ctx, predict(images[part]), len(images), device)


def broadcast_buffers(ctx: DistContext, model: nn.Module) -> None:
    """Give every rank rank 0's buffers (BatchNorm running statistics): DDP broadcasts them at each forward, then each
    rank's last batch updates its own copy, so after an epoch they differ and so would each rank's validation."""
    if not ctx.active or ctx.world_size == 1:
        return
    for buffer in model.buffers():
        if buffer.is_contiguous():
            dist.broadcast(buffer.data, src=0)
        else:  # gloo and NCCL send contiguous tensors only
            staged = buffer.data.contiguous()
            dist.broadcast(staged, src=0)
            buffer.data.copy_(staged)


def from_main(ctx: DistContext, value: Any) -> Any:
    """Rank 0's ``value`` on every rank (a picklable object), so that decisions taken on it (the best epoch, the
    plateau schedule, early stopping) are the same everywhere; other ranks may pass None."""
    if not ctx.active or ctx.world_size == 1:
        return value
    box = [value if ctx.is_main else None]
    dist.broadcast_object_list(box, src=0)
    return box[0]


def barrier(ctx: DistContext) -> None:
    if ctx.active and ctx.world_size > 1:
        dist.barrier()


def summary(ctx: DistContext, batch_size: int, *, sync_batchnorm: bool) -> dict[str, Any]:
    """What a run records about its launch (train_summary.json)."""
    return {"world_size": ctx.world_size, "backend": ctx.backend or "none", "global_batch": batch_size,
            "per_rank_batch": batch_size // ctx.world_size, "sync_batchnorm": sync_batchnorm}
