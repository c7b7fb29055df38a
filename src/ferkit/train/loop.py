"""The training loop: one function to read top to bottom.

batches -> augment (on device) -> forward -> loss (+ auxiliary losses) -> backward -> step ->
log -> validate -> checkpoint. Recipes differ in data, model, loss and sampler, which are
parameters here; nothing is copied per paper.
"""

from __future__ import annotations

import json
import math
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable

import numpy as np
import torch
import torch.nn.functional as F

from ferkit.artifacts import load_checkpoint, save_checkpoint, to_model_input
from ferkit.data.batching import build_batches
from ferkit.devices import cpu_has_native_bf16, device_description, resolve_device
from ferkit.data.registry import ExperimentSplit
from ferkit.errors import ConfigError, TrainingDivergedError
from ferkit.evaluate.metrics import classification_metrics
from ferkit.evaluate.predict import predict_probabilities
from ferkit.io_utils import atomic_write_json, atomic_write_text
from ferkit.losses import build_loss
from ferkit.losses.distill import Distillation
from ferkit.models import build_model
from ferkit.train import distributed
from ferkit.train.augment import augment_batch_with_mask
from ferkit.train.config import Recipe, validate_recipe


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


def build_optimizer(recipe: Recipe, model: torch.nn.Module, criterion: torch.nn.Module) -> torch.optim.Optimizer:
    if recipe.backbone_lr_mult != 1.0:
        from ferkit.train.transfer import param_groups

        groups: list[dict[str, Any]] = param_groups(model, lr=recipe.lr, backbone_lr_mult=recipe.backbone_lr_mult)
    else:
        groups = [{"params": [p for p in model.parameters() if p.requires_grad]}]
    transform = getattr(model, "input_transform", None)
    if transform is not None and recipe.input_transform_lr_mult != 1.0:  # the STN learns slower than the network it feeds
        own = {id(p) for p in transform.parameters()}
        for group in groups:
            group["params"] = [p for p in group["params"] if id(p) not in own]
        groups.append({"params": [p for p in transform.parameters() if p.requires_grad], "lr": recipe.lr * recipe.input_transform_lr_mult})
    criterion_params = [p for p in criterion.parameters() if p.requires_grad]
    if criterion_params:  # e.g. class centres, with their own learning rate
        groups.append({"params": criterion_params, "lr": getattr(criterion, "param_lr", None) or recipe.lr, "weight_decay": 0.0})
    if recipe.optimizer == "sgd":
        return torch.optim.SGD(groups, lr=recipe.lr, momentum=recipe.momentum, nesterov=recipe.momentum > 0, weight_decay=recipe.weight_decay)
    if recipe.optimizer == "adam":
        return torch.optim.Adam(groups, lr=recipe.lr, weight_decay=recipe.weight_decay)
    return torch.optim.AdamW(groups, lr=recipe.lr, weight_decay=recipe.weight_decay)


def build_scheduler(recipe: Recipe, optimizer: torch.optim.Optimizer, steps_per_epoch: int):
    """Returns (scheduler, per_batch): per-batch schedules step every batch, the others every epoch."""
    kw = dict(recipe.schedule_kwargs)
    total = recipe.epochs * steps_per_epoch
    if recipe.schedule == "onecycle":
        max_lrs = [g["lr"] for g in optimizer.param_groups]
        return torch.optim.lr_scheduler.OneCycleLR(optimizer, max_lr=max_lrs, total_steps=total, pct_start=kw.get("pct_start", 0.2)), True
    if recipe.schedule == "cosine":
        return torch.optim.lr_scheduler.CosineAnnealingLR(optimizer, T_max=total, eta_min=kw.get("eta_min", 0.0)), True
    if recipe.schedule == "step":
        return torch.optim.lr_scheduler.StepLR(optimizer, step_size=kw.get("step_epochs", 10), gamma=kw.get("gamma", 0.1)), False
    if recipe.schedule == "plateau":
        return torch.optim.lr_scheduler.ReduceLROnPlateau(optimizer, mode="max", factor=kw.get("factor", 0.9), patience=kw.get("patience", 5)), False
    return None, False


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


def check_resumable(state: dict[str, Any], recipe: Recipe, split: ExperimentSplit, path: Path) -> None:
    """Refuse to resume a run with another recipe or split. Only ``epochs`` may grow, and only
    where the schedule does not depend on the total number of steps (step, plateau, none)."""
    current = recipe.to_dict()
    defaults = Recipe(name="").to_dict()
    # Fields added to Recipe after a run started are compared at their default value.
    saved = {k: state.get("recipe", {}).get(k, defaults[k]) for k in current}
    if saved.get("epochs") != current["epochs"] and recipe.schedule in ("onecycle", "cosine"):
        raise ConfigError(f"{path} was trained for {saved.get('epochs')} epochs with a {recipe.schedule} schedule over all of them; "
                          f"it cannot be resumed with epochs={current['epochs']} (start a new --out)")
    saved.pop("epochs", None)
    current.pop("epochs")
    saved_json, current_json = json.loads(json.dumps(saved)), json.loads(json.dumps(current))
    if saved_json != current_json:
        changed = sorted(k for k in set(saved_json) | set(current_json) if saved_json.get(k) != current_json.get(k))
        raise ConfigError(f"{path} was trained with a different recipe (fields {changed} differ); resume with the same recipe or use another --out")
    if state.get("split") != split.name or state.get("train_size") != len(split.train):
        raise ConfigError(f"{path} was trained on {state.get('split')} ({state.get('train_size')} images), not {split.name} ({len(split.train)})")


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
) -> TrainResult:
    """Train ``recipe`` on ``split.train``, select on ``split.val`` (last epoch when there is none).

    Writes into ``out_dir``: recipe.json, metrics.jsonl (one row per epoch), last.pt (resumable,
    every epoch), best.pt (the selected model), curves.png. The test split is not touched here.
    Under torchrun every rank calls this; rank 0 alone writes and logs (see ``distributed``).
    """
    from tqdm.auto import tqdm

    recipe = validate_recipe(recipe)
    out = Path(out_dir)
    last_path, best_path, log_path = out / "last.pt", out / "best.pt", out / "metrics.jsonl"
    if last_path.exists() and not resume:
        raise ConfigError(f"{out} already holds a run (last.pt); pass --resume to continue it or choose another --out")
    if recipe.schedule == "plateau" and split.val is None:
        raise ConfigError(f"schedule 'plateau' needs a validation split, and {split.name} has none; use cosine, onecycle or step")
    out.mkdir(parents=True, exist_ok=True)
    ctx = distributed.current()
    if not ctx.is_main:
        log, progress = (lambda _: None), False
    dev = distributed.rank_device(ctx, resolve_device(device))
    log(f"recipe {recipe.tag} on {split.name} ({len(split.train)} train, {len(split.val) if split.val else 0} val) device {device_description(dev)}")
    log(recipe.to_json())
    if ctx.active:
        log(distributed.describe(ctx, recipe.batch_size, recipe.lr, sync_batchnorm=sync_batchnorm))

    torch.manual_seed(recipe.seed)
    rng = np.random.default_rng(recipe.seed)
    gen = torch.Generator(device=dev).manual_seed(recipe.seed)
    train_set = split.train
    num_classes = len(train_set.class_names)
    class_counts = [int(c) for c in np.bincount(train_set.labels, minlength=num_classes)]

    model = build_model(recipe.model, num_classes=num_classes, in_chans=recipe.in_chans, **recipe.model_kwargs)
    if recipe.init_weights:  # two-stage transfer (paper 004): start from stage-1 weights
        from ferkit.train.transfer import load_init_weights

        init_report = load_init_weights(model, recipe.init_weights)
        log(init_report.summary())
        if init_report.class_names != train_set.class_names:
            model.reset_classifier(num_classes)  # the source task's classes are not the target's, even when their number matches
    if recipe.freeze_stages:
        from ferkit.train.transfer import freeze_stages

        freeze_stages(model, recipe.freeze_stages)
    if model_init is not None:
        model_init(model)
    model.to(dev).to(memory_format=torch.channels_last)  # 1.6x faster convolutions on CPU (oneDNN), fine on GPU
    forward_both = distributed.wrap_model(ctx, model, dev, sync_batchnorm=sync_batchnorm)
    criterion = build_loss(recipe.loss, num_classes=num_classes, embedding_dim=getattr(model, "embedding_dim", 0), class_counts=class_counts, **recipe.loss_kwargs).to(dev)
    batches = build_batches(recipe.sampler, train_set.labels, distributed.per_rank_batch(ctx, recipe.batch_size), **recipe.sampler_kwargs)
    steps = distributed.steps_per_epoch(ctx, len(batches))
    optimizer = build_optimizer(recipe, model, criterion)
    scheduler, per_batch = build_scheduler(recipe, optimizer, steps)
    occluder = None
    if recipe.augment.occlusion_p > 0:
        from ferkit.occlusion import RandomOcclusion

        occluder = RandomOcclusion(p=recipe.augment.occlusion_p, ratio_range=recipe.augment.occlusion_ratio)

    teacher = None
    if isinstance(criterion, Distillation):
        from ferkit.train.teacher import build_teacher_signal

        teacher = build_teacher_signal(criterion.teacher, criterion.teacher_mode, train_set.images, train_set.class_names, in_chans=recipe.in_chans,
                                       image_size=recipe.image_size, device=dev, cache_dir=out, log=log)

    aux = getattr(getattr(model, "backbone", None), "auxiliary_losses", None)
    wants_masks = bool(getattr(getattr(model, "backbone", None), "wants_occlusion_masks", False))
    if wants_masks and occluder is None:
        raise ConfigError(f"recipe {recipe.tag}: the model supervises its occlusion map with synthetic occluder masks, so augment.occlusion_p must be > 0")

    # The whole training set lives on the device as uint8: batches are gathered by index there.
    images = torch.from_numpy(train_set.images).to(dev)
    labels = torch.from_numpy(train_set.labels).to(dev)
    soft_targets = None
    if train_set.extra.get("soft_labels") is not None:  # e.g. FER+ "soft" protocol: vote distributions
        if not hasattr(criterion, "soft"):
            raise ConfigError(f"{train_set.name} has soft labels, which loss {recipe.loss!r} cannot use; use loss 'ce' or the dataset's majority protocol")
        soft_targets = torch.as_tensor(np.asarray(train_set.extra["soft_labels"]), dtype=torch.float32, device=dev)
    history: list[dict[str, Any]] = []
    start_epoch, best_val, best_epoch = 0, None, 0
    if resume and last_path.exists():
        state = load_checkpoint(last_path, map_location=dev)
        check_resumable(state, recipe, split, last_path)
        model.load_state_dict(state["model"])
        criterion.load_state_dict(state["criterion"])
        optimizer.load_state_dict(state["optimizer"])
        if scheduler is not None and state.get("scheduler"):
            scheduler.load_state_dict(state["scheduler"])
        rng.bit_generator.state = state["numpy_rng"]
        gen.set_state(state["torch_gen"].cpu())  # Generator.set_state takes a CPU ByteTensor, whatever the device
        if "torch_rng" in state:  # dropout and other global draws continue where they stopped
            torch.set_rng_state(state["torch_rng"].cpu())
            if dev.type == "cuda" and state.get("cuda_rng") is not None and not ctx.active:  # ranks reseed per epoch; GPU counts may differ
                torch.cuda.set_rng_state_all([t.cpu() for t in state["cuda_rng"]])
        start_epoch, best_val, best_epoch, history = state["epoch"], state["best_val"], state["best_epoch"], state["history"]
        log(f"resumed from {last_path} at epoch {start_epoch}")

    if ctx.is_main:
        atomic_write_text(out / "recipe.json", recipe.to_json() + "\n")
    amp = (recipe.amp and dev.type == "cuda") or (recipe.cpu_amp and dev.type == "cpu")
    if amp and dev.type == "cpu" and not cpu_has_native_bf16():
        log("warning: cpu_amp is on but this CPU has no AVX512-BF16/AMX: bf16 is emulated and trains about 10x slower than fp32 here")
    meta = {
        "model_name": recipe.model, "model_kwargs": recipe.model_kwargs, "in_chans": recipe.in_chans,
        "image_size": recipe.image_size, "class_names": list(train_set.class_names), "recipe": recipe.to_dict(),
        "split": split.name, "train_size": len(train_set),
    }
    t0 = time.perf_counter()
    for epoch in range(start_epoch, recipe.epochs):
        model.train()
        criterion.train()
        if recipe.freeze_stages:
            from ferkit.train.transfer import set_frozen_bn_eval

            set_frozen_bn_eval(model)  # frozen stages keep their BatchNorm statistics too
        epoch_t0 = time.perf_counter()
        sums: dict[str, float] = {}
        correct = torch.zeros((), dtype=torch.long, device=dev)  # on the device: no sync per batch
        seen = 0
        epoch_batches = distributed.local_batches(ctx, batches, rng, gen, recipe.seed, epoch)
        bar = tqdm(epoch_batches, total=steps, desc=f"epoch {epoch + 1}/{recipe.epochs}", disable=not progress, leave=False)
        for idx in bar:
            idx_t = torch.from_numpy(idx).to(dev)
            batch_u8 = images[idx_t]
            masks = None
            if occluder is not None:
                occluded, covered = occluder.apply(batch_u8.cpu().numpy(), rng)
                batch_u8 = torch.from_numpy(occluded).to(dev)
                if wants_masks:
                    masks = torch.from_numpy(covered).to(dev)
            x = to_model_input(batch_u8, recipe.in_chans, recipe.image_size)
            if masks is not None and masks.shape[-1] != x.shape[-1]:
                masks = F.interpolate(masks[:, None].float(), size=x.shape[-2:], mode="nearest")[:, 0]
            x, masks = augment_batch_with_mask(x, recipe.augment, gen, masks)
            x = x.contiguous(memory_format=torch.channels_last)
            y = labels[idx_t]
            with torch.autocast(device_type=dev.type, dtype=torch.bfloat16, enabled=amp):
                embeddings, logits = forward_both(x)
            if soft_targets is not None:
                loss, parts = criterion.soft(logits.float(), soft_targets[idx_t])
            elif teacher is not None:
                loss, parts = criterion(embeddings.float(), logits.float(), y, teacher_logits=teacher.logits(idx_t, x))
            else:
                loss, parts = criterion(embeddings.float(), logits.float(), y)
            if aux is not None:
                for name, value in (aux(occlusion_masks=masks) if wants_masks else aux()).items():
                    loss = loss + value
                    parts[name] = float(value.detach())
            loss_value = float(loss.detach())  # the one host sync per batch: divergence check, log and bar
            loss_value = distributed.mean_over_ranks(ctx, loss_value, dev)  # all ranks see one value and stop together
            if not math.isfinite(loss_value):
                raise TrainingDivergedError(
                    f"recipe {recipe.tag}: the training loss became {loss_value} at epoch {epoch + 1} "
                    f"({', '.join(f'{k} {v:.4g}' for k, v in parts.items())}); lower the learning rate or the auxiliary "
                    f"loss weights. {last_path} still holds the last finished epoch"
                )
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            distributed.average_gradients(ctx, criterion)  # e.g. class centres, outside the DDP model
            optimizer.step()
            if scheduler is not None and per_batch:
                scheduler.step()
            for k, v in parts.items():
                sums[k] = sums.get(k, 0.0) + v
            sums["loss"] = sums.get("loss", 0.0) + loss_value
            correct += (logits.argmax(1) == y).sum()
            seen += len(y)
            if progress and bar.n % 20 == 0:
                bar.set_postfix(loss=f"{loss_value:.3f}", acc=f"{int(correct) / max(seen, 1):.3f}")
        sums, correct, seen = distributed.reduce_epoch_stats(ctx, sums, correct, seen)
        correct = int(correct)
        n_batches = max(steps, 1)
        row: dict[str, Any] = {
            "epoch": epoch + 1,
            "train_loss": sums.pop("loss", 0.0) / n_batches,
            **{f"train_{k}": v / n_batches for k, v in sums.items()},
            "train_accuracy": correct / max(seen, 1),
            "lr": optimizer.param_groups[0]["lr"],
            "epoch_time_s": time.perf_counter() - epoch_t0,
            "images_per_s": seen / max(time.perf_counter() - epoch_t0, 1e-9),
        }
        if teacher is not None and epoch == start_epoch:
            row["teacher_time_s"] = teacher.build_seconds  # the teacher's cost, counted once per process
        improved = True
        if split.val is not None:
            if recipe.val_classifier == "nearest_centroid":
                val_pred = nearest_centroid_predictions(model, train_set, split.val.images, recipe, dev, np.random.default_rng(recipe.seed))
            else:
                val_pred = distributed.predict_sharded(ctx, lambda images: predict_probabilities(
                    model, images, in_chans=recipe.in_chans, image_size=recipe.image_size, tta=recipe.val_tta, device=dev), split.val.images, dev).argmax(1)
            val = classification_metrics(split.val.labels, val_pred, split.val.class_names)
            row.update({"val_accuracy": val["accuracy"], "val_macro_f1": val["macro_f1"], "val_balanced_accuracy": val["balanced_accuracy"]})
            score = val[recipe.select_metric]
            improved = best_val is None or score > best_val
            if improved:
                best_val, best_epoch = score, epoch + 1
            if scheduler is not None and recipe.schedule == "plateau":
                scheduler.step(score)
        else:
            best_epoch = epoch + 1  # no validation split: the last epoch is the model (fixed budget)
        if scheduler is not None and not per_batch and recipe.schedule != "plateau":
            scheduler.step()
        history.append(row)
        if ctx.is_main:
            if improved:
                save_checkpoint(best_path, {**meta, "model": model.state_dict(), "epoch": epoch + 1, "val_metric": best_val, "selected_on": "val" if split.val is not None else "last_epoch"})
            save_checkpoint(last_path, {
                **meta, "model": model.state_dict(), "criterion": criterion.state_dict(), "optimizer": optimizer.state_dict(),
                "scheduler": scheduler.state_dict() if scheduler is not None else None, "numpy_rng": rng.bit_generator.state,
                "torch_gen": gen.get_state(), "torch_rng": torch.get_rng_state(),
                "cuda_rng": torch.cuda.get_rng_state_all() if dev.type == "cuda" else None,
                "epoch": epoch + 1, "best_val": best_val, "best_epoch": best_epoch, "history": history,
            })
            # The log is rewritten from the checkpointed history, so a crash never leaves duplicate rows.
            atomic_write_text(log_path, "".join(json.dumps(r) + "\n" for r in history))
        val_text = f" val {row['val_accuracy']:.4f}" if "val_accuracy" in row else ""
        log(f"epoch {epoch + 1}/{recipe.epochs} loss {row['train_loss']:.4f} train_acc {row['train_accuracy']:.4f}{val_text} ({row['epoch_time_s']:.1f}s, {row['images_per_s']:.0f} img/s)")
    wall = time.perf_counter() - t0
    if history and ctx.is_main:
        from ferkit.evaluate.plots import training_curves_plot

        training_curves_plot(history, out / "curves.png", title=f"{recipe.tag} on {split.name}")
    if ctx.is_main:
        atomic_write_json(out / "train_summary.json", {
            "recipe": recipe.tag, "split": split.name, "best_epoch": best_epoch, "best_val": best_val, "select_metric": recipe.select_metric,
            "wall_time_s": wall, "device": device_description(dev), "epochs": recipe.epochs,
            "distributed": distributed.summary(ctx, recipe.batch_size, sync_batchnorm=sync_batchnorm),
        })
    distributed.barrier(ctx)  # the run is complete on disk before any rank returns
    return TrainResult(out, best_path, last_path, history, best_epoch, best_val, wall, device_description(dev), dev)
