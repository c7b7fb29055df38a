"""``build_loss(name, **options)``: training criteria built from a name.

``class_counts`` (training-set label counts) is passed to every builder so that class-weighted
losses can derive their weights; builders that do not need it ignore it.
"""

from __future__ import annotations

from typing import Callable

from ferkit.errors import ConfigError
from ferkit.losses.base import Criterion
from ferkit.losses.classification import CrossEntropy

LossBuilder = Callable[..., Criterion]
LOSS_REGISTRY: dict[str, LossBuilder] = {}


def register_loss(name: str) -> Callable[[LossBuilder], LossBuilder]:
    def wrap(fn: LossBuilder) -> LossBuilder:
        LOSS_REGISTRY[name] = fn
        return fn

    return wrap


def build_loss(name: str, *, num_classes: int, embedding_dim: int, class_counts: list[int], **options) -> Criterion:
    if name not in LOSS_REGISTRY:
        raise ConfigError(f"unknown loss {name!r}; available losses: {', '.join(sorted(LOSS_REGISTRY))}")
    try:
        return LOSS_REGISTRY[name](num_classes=num_classes, embedding_dim=embedding_dim, class_counts=class_counts, **options)
    except TypeError as exc:
        raise ConfigError(f"bad options for loss {name!r}: {exc}") from None


@register_loss("ce")
def _ce(*, num_classes: int, embedding_dim: int, class_counts: list[int], label_smoothing: float = 0.0) -> Criterion:
    return CrossEntropy(label_smoothing=label_smoothing)


@register_loss("distill")
def _distill(*, num_classes: int, embedding_dim: int, class_counts: list[int], **options) -> Criterion:
    from ferkit.losses.distill import Distillation

    return Distillation(**options)
