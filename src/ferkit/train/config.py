"""Recipes: named, versioned, frozen training configurations.

A recipe is data. Every run prints its resolved recipe and writes it next to its checkpoint, and
every figure in the docs names the recipe (``fer2013-ce-modres18-v1``) that produced it. Change a
recipe's behaviour only by adding a new version.
"""

from __future__ import annotations

import dataclasses
import json
import math
import types
import typing
from dataclasses import dataclass, field
from typing import Any

from ferkit.constants import TTA_MODES
from ferkit.errors import ConfigError
from ferkit.train.mixup import check_mixup
from ferkit.train.pairing import check_sampler_for_loss


@dataclass(frozen=True)
class AugmentConfig:
    """Batched, on-device augmentation (see ``augment.py``); every switch can be turned off."""

    hflip: bool = True
    vflip: bool = False
    rotation_deg: float = 10.0
    scale: float = 0.1  # zoom drawn from [1 - scale, 1 + scale]
    translate: float = 0.1  # shift as a fraction of the image size
    brightness: float = 0.2
    contrast: float = 0.2
    erasing_p: float = 0.5  # random erasing (Zhong et al.), paper 000's occlusion
    erasing_area: tuple[float, float] = (0.02, 0.25)
    occlusion_p: float = 0.0  # synthetic occluders from ferkit.occlusion (sunglasses, masks, hands...)
    occlusion_ratio: tuple[float, float] = (0.1, 0.5)


@dataclass(frozen=True)
class Recipe:
    name: str
    version: int = 1
    description: str = ""
    model: str = "modified_resnet18"
    model_kwargs: dict[str, Any] = field(default_factory=dict)
    in_chans: int = 1
    image_size: int = 48
    loss: str = "ce"
    loss_kwargs: dict[str, Any] = field(default_factory=dict)
    sampler: str = "shuffle"  # shuffle | balanced | pk | triplet | pairs
    sampler_kwargs: dict[str, Any] = field(default_factory=dict)
    epochs: int = 30
    batch_size: int = 128
    optimizer: str = "sgd"  # sgd (nesterov) | adam | adamw
    lr: float = 0.1
    momentum: float = 0.9
    weight_decay: float = 5e-4
    schedule: str = "onecycle"  # onecycle | cosine | plateau | step | none
    schedule_kwargs: dict[str, Any] = field(default_factory=dict)
    augment: AugmentConfig = field(default_factory=AugmentConfig)
    mixup: dict[str, Any] = field(default_factory=dict)  # mixup/cutmix (ferkit.train.mixup): {} is off, e.g. { mixup_alpha = 0.2 }
    amp: bool = True  # bf16 autocast on CUDA
    # bf16 autocast on CPUs with native bf16 (AVX512-BF16/AMX), as ``amp`` on CUDA: 1.3-1.6x the fp32 speed and the same
    # accuracy in issue 15's seeded check; fp32 on other CPUs or with FERKIT_CPU_BF16=0 (docs/training_on_cpu.md)
    cpu_amp: bool = True
    seed: int = 0
    protocol: str | None = None  # dataset protocol, e.g. kfold10 / random800 for CK+48
    select_metric: str = "accuracy"  # chosen on the validation split, never on test
    select_ties: str = "first"  # equal validation scores: "first" keeps the earliest epoch, "val_loss" the lower validation loss
    early_stop_patience: int | None = None  # stop after this many epochs without a better select_metric on validation (None: off)
    early_stop_min_epochs: int = 0  # never stop early before this many epochs
    val_tta: str = "none"
    val_classifier: str = "head"  # head | nearest_centroid (for embeddings trained without a softmax head)
    init_weights: str | None = None  # stage-2 transfer: a ferkit checkpoint or backbone weights on disk
    freeze_stages: int = 0  # freeze the stem and this many residual stages (0..4)
    backbone_lr_mult: float = 1.0  # backbone lr = lr * this; head/embedding at lr
    input_transform_lr_mult: float = 1.0  # lr multiplier for the STN's localization network (unstable at the full lr)

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    def to_json(self) -> str:
        return json.dumps(self.to_dict(), indent=2)

    @property
    def tag(self) -> str:
        return f"{self.name}" if self.name.endswith(f"-v{self.version}") else f"{self.name}-v{self.version}"


OPTIMIZERS = ("sgd", "adam", "adamw")
SCHEDULES = ("onecycle", "cosine", "plateau", "step", "none")


MIN_IMAGE_SIZE = 8  # below this the networks' downsampling leaves nothing to pool
SELECT_METRICS = ("accuracy", "balanced_accuracy", "macro_f1")
SELECT_TIES = ("first", "val_loss")
SCHEDULE_OPTIONS = {"onecycle": ("pct_start",), "cosine": ("eta_min",), "step": ("step_epochs", "gamma"), "plateau": ("factor", "patience"), "none": ()}
# Each option's kind and allowed range, checked when the recipe is read: torch raised a bare ValueError or
# TypeError when it built the scheduler, after the run folder was written (and for "step", after an epoch).
SCHEDULE_OPTION_RANGES: dict[str, tuple[type, str, Any]] = {
    "pct_start": (float, "a number in (0, 1): the share of steps spent warming up", lambda v: 0 < v < 1),
    "eta_min": (float, "a number >= 0: the lowest learning rate", lambda v: v >= 0),
    "step_epochs": (int, "an integer >= 1: epochs between learning-rate drops", lambda v: v >= 1),
    "gamma": (float, "a number in (0, 1]: the factor of each drop", lambda v: 0 < v <= 1),
    "factor": (float, "a number in (0, 1): the factor of each drop", lambda v: 0 < v < 1),
    "patience": (int, "an integer >= 0: epochs without improvement before a drop", lambda v: v >= 0),
}


def validate_augment(aug: AugmentConfig) -> None:
    for name in ("rotation_deg", "brightness", "contrast", "erasing_p", "occlusion_p"):
        if getattr(aug, name) < 0:
            raise ConfigError(f"augment.{name} must be >= 0, got {getattr(aug, name)}")
    if not 0 <= aug.scale < 1 or not 0 <= aug.translate < 1:
        raise ConfigError(f"augment.scale and augment.translate must be in [0, 1), got {aug.scale} and {aug.translate}")
    if aug.erasing_p > 1 or aug.occlusion_p > 1:
        raise ConfigError("augment.erasing_p and augment.occlusion_p are probabilities in [0, 1]")
    for name in ("erasing_area", "occlusion_ratio"):
        value = tuple(getattr(aug, name))
        if len(value) != 2 or not 0 < value[0] <= value[1] < 1:
            raise ConfigError(f"augment.{name} must be (low, high) with 0 < low <= high < 1, got {value}")


def validate_recipe(recipe: Recipe) -> Recipe:
    if recipe.optimizer not in OPTIMIZERS:
        raise ConfigError(f"optimizer must be one of {OPTIMIZERS}, got {recipe.optimizer!r}")
    if recipe.schedule not in SCHEDULES:
        raise ConfigError(f"schedule must be one of {SCHEDULES}, got {recipe.schedule!r}")
    if recipe.epochs < 1 or recipe.batch_size < 1 or recipe.lr <= 0:
        raise ConfigError(f"epochs, batch_size and lr must be positive (got {recipe.epochs}, {recipe.batch_size}, {recipe.lr})")
    if recipe.select_metric not in SELECT_METRICS:
        raise ConfigError(f"select_metric must be one of {SELECT_METRICS}, got {recipe.select_metric!r}")
    if recipe.select_ties not in SELECT_TIES:
        raise ConfigError(f"select_ties must be one of {SELECT_TIES}, got {recipe.select_ties!r}")
    if recipe.select_ties == "val_loss" and recipe.val_classifier != "head":
        raise ConfigError("select_ties='val_loss' needs val_classifier='head': a nearest-centroid validation has no loss")
    check_early_stop(recipe)
    if recipe.val_tta not in TTA_MODES:
        raise ConfigError(f"val_tta must be one of {TTA_MODES}, got {recipe.val_tta!r}")
    unknown = set(recipe.schedule_kwargs) - set(SCHEDULE_OPTIONS[recipe.schedule])
    if unknown:
        raise ConfigError(f"schedule_kwargs {sorted(unknown)} are not options of schedule {recipe.schedule!r}; valid: {list(SCHEDULE_OPTIONS[recipe.schedule])}")
    for key, value in recipe.schedule_kwargs.items():
        kind, meaning, ok = SCHEDULE_OPTION_RANGES[key]
        is_number = isinstance(value, (int, float)) and not isinstance(value, bool)
        if not is_number or (kind is int and not isinstance(value, int)) or not math.isfinite(value) or not ok(value):
            raise ConfigError(f"schedule_kwargs.{key} must be {meaning}, got {value!r}")
    check_training_numbers(recipe)
    validate_augment(recipe.augment)
    check_mixup(recipe.mixup, recipe.loss)
    if recipe.val_classifier not in ("head", "nearest_centroid"):
        raise ConfigError(f"val_classifier must be 'head' or 'nearest_centroid', got {recipe.val_classifier!r}")
    if recipe.in_chans not in (1, 3):
        raise ConfigError(f"in_chans must be 1 or 3, got {recipe.in_chans}")
    check_sampler_for_loss(recipe.sampler, recipe.loss)
    return recipe


def check_training_numbers(recipe: Recipe) -> None:
    """Ranges torch would otherwise refuse with a bare ValueError deep in the optimizer, the run seed or the first
    batch (after the run folder was written), or silently ignore."""
    if not 0 <= recipe.momentum < 1:
        raise ConfigError(f"momentum must be in [0, 1), got {recipe.momentum}")
    if recipe.weight_decay < 0:
        raise ConfigError(f"weight_decay must be >= 0, got {recipe.weight_decay}")
    if not 0 <= recipe.seed < 2**32:
        raise ConfigError(f"seed must be an integer in [0, 2**32), got {recipe.seed}")
    if recipe.image_size < MIN_IMAGE_SIZE:
        raise ConfigError(f"image_size must be at least {MIN_IMAGE_SIZE} pixels, got {recipe.image_size}")
    for name in ("backbone_lr_mult", "input_transform_lr_mult"):
        if getattr(recipe, name) < 0:
            raise ConfigError(f"{name} must be >= 0 (0 freezes those weights), got {getattr(recipe, name)}")
    smoothing = recipe.loss_kwargs.get("label_smoothing", 0.0)
    if isinstance(smoothing, bool) or not isinstance(smoothing, (int, float)) or not 0 <= smoothing < 1:
        raise ConfigError(f"loss_kwargs.label_smoothing must be a number in [0, 1) (0.1 is usual), got {smoothing!r}")


def check_early_stop(recipe: Recipe) -> None:
    patience, min_epochs = recipe.early_stop_patience, recipe.early_stop_min_epochs
    if patience is not None and (isinstance(patience, bool) or not isinstance(patience, int) or patience < 1):
        raise ConfigError(f"early_stop_patience must be a positive integer (epochs without a better validation {recipe.select_metric}) "
                          f"or None to train every epoch, got {patience!r}")
    if isinstance(min_epochs, bool) or not isinstance(min_epochs, int) or min_epochs < 0:
        raise ConfigError(f"early_stop_min_epochs must be an integer >= 0 (0: may stop at any epoch), got {min_epochs!r}")


RECIPE_FIELD_TYPES: dict[str, Any] = typing.get_type_hints(Recipe)
AUGMENT_FIELD_TYPES: dict[str, Any] = typing.get_type_hints(AugmentConfig)


def convert_field(value: Any, expected: Any, where: str) -> Any:
    """``value`` as the declared field type ``expected``, else a ConfigError naming ``where``, the type and the value.

    Why: a wrong type caught here is one clear line; caught later it is a TypeError deep in validation or
    training. Ints widen to floats, lists become tuples; a bool is never a number; None only where the
    annotation is Optional (TOML has no null, so recipe files never give one).
    """
    if isinstance(expected, types.UnionType) or typing.get_origin(expected) is typing.Union:
        options = [t for t in typing.get_args(expected) if t is not type(None)]
        if value is None and len(options) < len(typing.get_args(expected)):
            return None
        if len(options) == 1:
            return convert_field(value, options[0], where)
    origin = typing.get_origin(expected)
    if expected is bool:
        if isinstance(value, bool):
            return value
    elif expected is int:
        if isinstance(value, int) and not isinstance(value, bool):
            return value
    elif expected is float:
        if isinstance(value, (int, float)) and not isinstance(value, bool):
            if not math.isfinite(value):  # NaN passed every range check (comparisons with NaN are false) and inf trained NaN weights
                raise ConfigError(f"{where} must be a finite number, got {value!r}")
            return float(value)
    elif expected is str:
        if isinstance(value, str):
            return value
    elif origin is dict:
        if isinstance(value, dict):
            check_finite(value, where)
            return dict(value)
    elif origin is tuple:
        item_types = typing.get_args(expected)
        if isinstance(value, (list, tuple)) and len(value) == len(item_types):
            return tuple(convert_field(v, t, where) for v, t in zip(value, item_types))
    else:  # pragma: no cover - a Recipe field of a type this checker does not know yet
        raise ConfigError(f"{where}: fields of type {expected} cannot be set from data")
    got = "null" if value is None else f"{type(value).__name__} {value!r}"
    raise ConfigError(f"{where} must be {_type_name(expected)}, got {got}")


def check_finite(value: Any, where: str) -> None:
    """No NaN or infinity anywhere in a table (model_kwargs, loss_kwargs...): they pass range checks silently."""
    if isinstance(value, float) and not math.isfinite(value):
        raise ConfigError(f"{where} must hold finite numbers, got {value!r}")
    if isinstance(value, dict):
        for key, item in value.items():
            check_finite(item, f"{where[:-1]}.{key}'" if where.endswith("'") else f"{where}.{key}")
    elif isinstance(value, (list, tuple)):
        for item in value:
            check_finite(item, where)


def _type_name(expected: Any) -> str:
    if typing.get_origin(expected) is tuple:
        return f"a list of {len(typing.get_args(expected))} numbers"
    if typing.get_origin(expected) is dict:
        return "a table ({ key = value, ... })"
    return {bool: "true or false", int: "an integer", float: "a number", str: "a string"}.get(expected, str(expected))


def recipe_from_dict(data: dict[str, Any]) -> Recipe:
    """Rebuild a recipe written by ``to_dict`` (a checkpoint's recipe.json, ``--set`` overrides).

    Unknown keys, a missing name and values of the wrong type are ConfigErrors naming the field.
    """
    data = dict(data)
    aug = data.pop("augment", {}) or {}
    if not isinstance(aug, dict):
        raise ConfigError(f"recipe field 'augment' must be a table of augment fields, got {type(aug).__name__} {aug!r}")
    unknown = set(data) - set(RECIPE_FIELD_TYPES)
    if unknown:
        raise ConfigError(f"unknown recipe field(s) {sorted(unknown)}; valid fields: {sorted(RECIPE_FIELD_TYPES)}")
    if set(aug) - set(AUGMENT_FIELD_TYPES):
        raise ConfigError(f"unknown augment field(s) {sorted(set(aug) - set(AUGMENT_FIELD_TYPES))}; valid: {sorted(AUGMENT_FIELD_TYPES)}")
    if "name" not in data:
        raise ConfigError("recipe field 'name' is missing: a recipe needs its name")
    fields = {key: convert_field(value, RECIPE_FIELD_TYPES[key], f"recipe field {key!r}") for key, value in data.items()}
    augment = {key: convert_field(value, AUGMENT_FIELD_TYPES[key], f"recipe field 'augment.{key}'") for key, value in aug.items()}
    return validate_recipe(Recipe(augment=AugmentConfig(**augment), **fields))


def override(recipe: Recipe, assignments: list[str]) -> Recipe:
    """Apply ``key=value`` overrides (``lr=0.01``, ``augment.erasing_p=0``, ``model_kwargs.dropout=0.2``).

    Values are parsed as JSON when possible (numbers, booleans, lists), else taken as strings.
    """
    data = recipe.to_dict()
    for item in assignments:
        if "=" not in item:
            raise ConfigError(f"override {item!r} must look like key=value (e.g. lr=0.01)")
        key, raw = item.split("=", 1)
        try:
            value = json.loads(raw)
        except json.JSONDecodeError:
            value = raw
        target = data
        parts = key.split(".")
        for part in parts[:-1]:
            if part not in target or not isinstance(target[part], dict):
                raise ConfigError(f"override {key!r}: {part!r} is not a nested recipe field")
            target = target[part]
        if len(parts) == 1 and parts[0] not in target:
            raise ConfigError(f"override {key!r}: unknown recipe field; valid: {sorted(target)}")
        if key in ("name", "version"):  # the tag says which recipe made a run; an overridden run keeps its recipe's tag
            raise ConfigError(f"override {key!r}: a recipe's name and version say which recipe trained a run and cannot be "
                              f"overridden; write a recipe file with its own name (extends = \"{recipe.tag}\") for a variant")
        target[parts[-1]] = value
    return recipe_from_dict(data)
