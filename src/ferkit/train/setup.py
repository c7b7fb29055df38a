"""What a run builds once before its first epoch: the model (with transfer), criterion, batches,
teacher, and the train state around them. Everything an epoch needs is in ``TrainingRun``."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Callable

import numpy as np
import torch

from ferkit.data.batching import BATCH_BUILDERS, BatchBuilder, build_batches
from ferkit.data.registry import ExperimentSplit
from ferkit.devices import cpu_bf16_switched_off, cpu_has_native_bf16
from ferkit.errors import ConfigError
from ferkit.losses import build_loss
from ferkit.losses.distill import Distillation
from ferkit.models import FerNet, build_model
from ferkit.models.heads import TrainOutput
from ferkit.train import distributed
from ferkit.train.batches import BatchMaker
from ferkit.train.config import Recipe
from ferkit.train.mixup import mixup_enabled
from ferkit.train.occluder_pool import OccluderPool
from ferkit.train.optim import build_optimizer, build_scheduler
from ferkit.train.state import TrainState

if TYPE_CHECKING:
    from ferkit.train.teacher import TeacherSignal

Log = Callable[[str], None]


@dataclass
class TrainingRun:
    """The fixed parts of a run. ``forward`` is the model's ``forward_train`` (through DDP when
    distributed); ``steps`` optimizer steps per epoch; ``per_batch``: the schedule steps every batch."""

    recipe: Recipe
    split: ExperimentSplit
    ctx: distributed.DistContext
    device: torch.device
    model: FerNet
    forward: Callable[..., TrainOutput]
    criterion: torch.nn.Module
    batches: BatchBuilder
    steps: int
    per_batch: bool
    make_batch: BatchMaker
    teacher: TeacherSignal | None = None  # distillation only
    soft_targets: torch.Tensor | None = None  # (N, C) vote distributions, e.g. FER+ "soft"
    amp: bool = False
    last_path: Path = Path("last.pt")
    occluder_pool: OccluderPool | None = None  # occluders drawn in worker processes (``occluder_workers``)

    def close(self) -> None:
        """End what the run started outside this process (the occluder workers)."""
        if self.occluder_pool is not None:
            self.occluder_pool.close()


def prepare_model(recipe: Recipe, class_names: tuple[str, ...], device: torch.device, *, log: Log,
                  model_init: Callable[[torch.nn.Module], None] | None = None) -> FerNet:
    """The recipe's network on ``device`` (channels_last), after transfer (init weights, frozen stages)."""
    model = build_model(recipe.model, num_classes=len(class_names), in_chans=recipe.in_chans, **recipe.model_kwargs)
    if not isinstance(model, FerNet):
        raise ConfigError(f"model {recipe.model!r} is not trainable by ferkit train (it has no forward_train); train its members instead")
    if recipe.init_weights:  # two-stage transfer (paper 004): start from stage-1 weights
        from ferkit.train.transfer import load_init_weights

        report = load_init_weights(model, recipe.init_weights)
        log(report.summary())
        if report.class_names != tuple(class_names):
            model.reset_classifier(len(class_names))  # the source task's classes are not the target's, even when their number matches
    if recipe.freeze_stages:
        from ferkit.train.transfer import freeze_stages

        freeze_stages(model, recipe.freeze_stages)
    if model_init is not None:
        model_init(model)
    return model.to(device).to(memory_format=torch.channels_last)  # 1.6x faster convolutions on CPU (oneDNN), fine on GPU


def build_run(recipe: Recipe, split: ExperimentSplit, out: Path, device: torch.device, ctx: distributed.DistContext, *, log: Log,
              model_init: Callable[[torch.nn.Module], None] | None = None, sync_batchnorm: bool = False,
              occluder_workers: int = 0) -> tuple[TrainingRun, TrainState]:
    """Seed, then build in a fixed order (the order decides which random numbers each part draws).

    ``occluder_workers`` > 0 draws the synthetic occluders in that many processes (``ferkit.train.occluder_pool``):
    for a GPU host whose one drawing thread would bound the run; a different random stream from the default 0."""
    torch.manual_seed(recipe.seed)
    rng = np.random.default_rng(recipe.seed)
    gen = torch.Generator(device=device).manual_seed(recipe.seed)
    train_set = split.train
    num_classes = len(train_set.class_names)
    model = prepare_model(recipe, train_set.class_names, device, log=log, model_init=model_init)
    forward = distributed.wrap_model(ctx, model, device, sync_batchnorm=sync_batchnorm)
    class_counts = [int(c) for c in np.bincount(train_set.labels, minlength=num_classes)]
    criterion = build_loss(recipe.loss, num_classes=num_classes, embedding_dim=model.embedding_dim, class_counts=class_counts, **recipe.loss_kwargs).to(device)
    batches = build_batches(recipe.sampler, train_set.labels, distributed.per_rank_batch(ctx, recipe.batch_size), **recipe.sampler_kwargs)
    steps = distributed.steps_per_epoch(ctx, len(batches))
    check_global_batch(recipe, batches, ctx)
    optimizer = build_optimizer(recipe, model, criterion)
    scheduler, per_batch = build_scheduler(recipe, optimizer, steps)
    teacher = _teacher(criterion, recipe, split, device, out, ctx, log)
    make_batch = BatchMaker(recipe, train_set, device, needs_occlusion_masks=model.needs_occlusion_masks)
    run = TrainingRun(
        recipe, split, ctx, device, model, forward, criterion, batches, steps, per_batch,
        make_batch=make_batch,
        teacher=teacher, soft_targets=_soft_targets(recipe, split, criterion, device), amp=_use_amp(recipe, device, log),
        last_path=out / "last.pt", occluder_pool=_occluder_pool(make_batch, occluder_workers, recipe, ctx, device, log),
    )
    return run, TrainState(model, criterion, optimizer, scheduler, rng, gen, steps_per_epoch=steps)


def check_global_batch(recipe: Recipe, batches: BatchBuilder, ctx: distributed.DistContext) -> None:
    """Refuse a distributed run whose row batches would not add up to the recipe's batch_size: P x K batches hold
    ``per-rank batch // K * K`` rows, so 112 with K=16 on 2 ranks trained 2 x 48 = 96 while the run reported 112."""
    rows = getattr(batches, "batch_size", None)
    if ctx.world_size == 1 or rows is None or BATCH_BUILDERS.metadata(recipe.sampler).get("batch_layout", "rows") != "rows":
        return
    if rows * ctx.world_size == recipe.batch_size:
        return
    per_class = recipe.sampler_kwargs.get("samples_per_class")
    unit = ctx.world_size * per_class if per_class else ctx.world_size
    raise ConfigError(
        f"recipe {recipe.tag}: sampler {recipe.sampler!r} makes batches of {rows} rows from each rank's "
        f"{recipe.batch_size // ctx.world_size}, so {ctx.world_size} ranks would train a global batch of {rows * ctx.world_size}, "
        f"not batch_size {recipe.batch_size}; the global batch must be a multiple of W x samples_per_class = {unit} "
        f"(P x K batches are built, and triplets mined, within each rank's batch), e.g. --set batch_size={max(unit, recipe.batch_size // unit * unit)}")


def _occluder_pool(make_batch: BatchMaker, workers: int, recipe: Recipe, ctx: distributed.DistContext, device: torch.device,
                   log: Log) -> OccluderPool | None:
    if workers < 0:
        raise ConfigError(f"occluder workers must be >= 0 (0 draws in the training process), got {workers}")
    if workers == 0:
        if make_batch.occluder is not None and device.type == "cuda":
            log("note: the synthetic occluders are drawn on one host thread, which bounds a GPU run at about 1,000 images/s; "
                "--occluder-workers N draws them in N processes")
        return None
    if make_batch.occluder is None:
        log(f"note: recipe {recipe.tag} draws no occluders (augment.occlusion_p = 0): no occluder workers started")
        return None
    log(f"occluders: drawn in {workers} worker processes, each batch from its own (seed, epoch, rank, batch) generator")
    return OccluderPool(make_batch.occluder, tuple(make_batch.images.shape[1:]), workers, seed=recipe.seed, rank=ctx.rank)


def _teacher(criterion: torch.nn.Module, recipe: Recipe, split: ExperimentSplit, device: torch.device, out: Path,
             ctx: distributed.DistContext, log: Log) -> TeacherSignal | None:
    """The distillation teacher's signal. Distributed and cached: rank 0 scores the training set and writes the cache,
    the other ranks read it after a barrier (one scoring instead of W, and no W processes writing one file)."""
    if not isinstance(criterion, Distillation):
        return None
    from ferkit.train.teacher import build_teacher_signal

    train_set = split.train

    def build() -> TeacherSignal:
        return build_teacher_signal(criterion.teacher, criterion.teacher_mode, train_set.images, train_set.class_names, in_chans=recipe.in_chans,
                                    image_size=recipe.image_size, device=device, cache_dir=out, log=log)

    if not ctx.active or ctx.world_size == 1 or criterion.teacher_mode != "cached":
        return build()
    signal = build() if ctx.is_main else None
    distributed.barrier(ctx)
    return signal if signal is not None else build()


def _soft_targets(recipe: Recipe, split: ExperimentSplit, criterion: torch.nn.Module, device: torch.device) -> torch.Tensor | None:
    soft = split.train.extra.get("soft_labels")
    if soft is None:
        return None
    if mixup_enabled(recipe.mixup):
        raise ConfigError(f"{split.train.name} has soft labels, and mixup/cutmix would need to mix them too, which ferkit does not do; "
                          "leave mixup empty or use the dataset's majority protocol")
    if not hasattr(criterion, "soft"):
        raise ConfigError(f"{split.train.name} has soft labels, which loss {recipe.loss!r} cannot use; use loss 'ce' or the dataset's majority protocol")
    return torch.as_tensor(np.asarray(soft), dtype=torch.float32, device=device)


def _use_amp(recipe: Recipe, device: torch.device, log: Log) -> bool:
    """bf16 autocast: on CUDA with ``amp``, on CPU with ``cpu_amp`` where the CPU computes bf16 natively.

    Where it does not (AVX2 hosts), bf16 would be emulated at about a tenth of fp32's speed, so such a CPU trains
    in fp32 and says so: a long run started on an AVX512-BF16 host can resume on whatever host the next session gets."""
    if device.type == "cuda":
        return recipe.amp
    if not (recipe.cpu_amp and device.type == "cpu"):
        return False
    if not cpu_has_native_bf16():
        why = "FERKIT_CPU_BF16=0" if cpu_bf16_switched_off() else \
            "this CPU has no native bf16 (AVX512-BF16/AMX), where bf16 would be emulated about 10x slower"
        log(f"note: training in fp32 ({why})")
        return False
    return True

