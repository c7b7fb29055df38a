"""The optimizer and learning-rate schedule a recipe names, with the parameter groups ferkit needs."""

from __future__ import annotations

from typing import Any

import torch

from ferkit.train.config import Recipe

Scheduler = Any  # torch.optim.lr_scheduler.LRScheduler | ReduceLROnPlateau


def build_optimizer(recipe: Recipe, model: torch.nn.Module, criterion: torch.nn.Module) -> torch.optim.Optimizer:
    """SGD (nesterov) / Adam / AdamW over the trainable parameters of ``model`` and ``criterion``."""
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
        group = {"params": criterion_params, "lr": getattr(criterion, "param_lr", None) or recipe.lr, "weight_decay": 0.0}
        if getattr(criterion, "param_lr", None) is not None and recipe.optimizer == "sgd":
            # Class centres move by Wen et al.'s rule, c -= alpha * delta_c: plain SGD steps. The network's Nesterov
            # momentum 0.9 (cycled 0.85-0.95 by one-cycle) made each step about 10 alpha and overshot the class means.
            group.update(momentum=0.0, nesterov=False, plain_steps=True)
        groups.append(group)
    if recipe.optimizer == "sgd":
        return torch.optim.SGD(groups, lr=recipe.lr, momentum=recipe.momentum, nesterov=recipe.momentum > 0, weight_decay=recipe.weight_decay)
    if recipe.optimizer == "adam":
        return torch.optim.Adam(groups, lr=recipe.lr, weight_decay=recipe.weight_decay)
    return torch.optim.AdamW(groups, lr=recipe.lr, weight_decay=recipe.weight_decay)


def build_scheduler(recipe: Recipe, optimizer: torch.optim.Optimizer, steps_per_epoch: int) -> tuple[Scheduler | None, bool]:
    """Returns (scheduler, per_batch): per-batch schedules step every batch, the others every epoch."""
    kw = dict(recipe.schedule_kwargs)
    total = recipe.epochs * steps_per_epoch
    if recipe.schedule == "onecycle":
        max_lrs = [g["lr"] for g in optimizer.param_groups]
        plain = [bool(g.get("plain_steps")) for g in optimizer.param_groups]  # their momentum stays 0 (build_optimizer)
        return torch.optim.lr_scheduler.OneCycleLR(optimizer, max_lr=max_lrs, total_steps=total, pct_start=kw.get("pct_start", 0.2),
                                                   base_momentum=[0.0 if p else 0.85 for p in plain],
                                                   max_momentum=[0.0 if p else 0.95 for p in plain]), True
    if recipe.schedule == "cosine":
        return torch.optim.lr_scheduler.CosineAnnealingLR(optimizer, T_max=total, eta_min=kw.get("eta_min", 0.0)), True
    if recipe.schedule == "step":
        return torch.optim.lr_scheduler.StepLR(optimizer, step_size=kw.get("step_epochs", 10), gamma=kw.get("gamma", 0.1)), False
    if recipe.schedule == "plateau":
        return torch.optim.lr_scheduler.ReduceLROnPlateau(optimizer, mode="max", factor=kw.get("factor", 0.9), patience=kw.get("patience", 5)), False
    return None, False


def step_epoch_scheduler(scheduler: Scheduler | None, recipe: Recipe, per_batch: bool, score: float | None) -> None:
    """End of an epoch: plateau steps on the validation score, step schedules on the epoch count."""
    if scheduler is None or per_batch:
        return
    if recipe.schedule == "plateau":
        if score is not None:
            scheduler.step(score)
    else:
        scheduler.step()
