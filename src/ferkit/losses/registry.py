"""``build_loss(name, **options)``: training criteria built from a name.

``class_counts`` (training-set label counts) is passed to every builder so that class-weighted
losses can derive their weights; builders that do not need it ignore it.
"""

from __future__ import annotations

from typing import Any, Callable

from ferkit.losses.base import Criterion
from ferkit.losses.classification import CrossEntropy
from ferkit.registry import Registry

LossBuilder = Callable[..., Criterion]
LOSS_REGISTRY: Registry[LossBuilder] = Registry("loss", plural="losses")


def register_loss(name: str, *, batch_layout: str = "rows", **metadata: Any) -> Callable[[LossBuilder], LossBuilder]:
    """``batch_layout``: the batch arrangement the loss reads (see ``ferkit.train.pairing``): ``rows``
    (any rows), or ``pairs`` / ``triplets`` when it pairs row i with rows further down the batch."""
    return LOSS_REGISTRY.register(name, batch_layout=batch_layout, **metadata)


def build_loss(name: str, *, num_classes: int, embedding_dim: int, class_counts: list[int], **options: Any) -> Criterion:
    return LOSS_REGISTRY.build(name, num_classes=num_classes, embedding_dim=embedding_dim, class_counts=class_counts, **options)


@register_loss("ce")
def _ce(*, num_classes: int, embedding_dim: int, class_counts: list[int], label_smoothing: float = 0.0) -> Criterion:
    return CrossEntropy(label_smoothing=label_smoothing)


@register_loss("distill")
def _distill(
    *, num_classes: int, embedding_dim: int, class_counts: list[int], teacher: str | None = None, teacher_mode: str = "cached",
    temperature: float = 4.0, alpha: float = 0.5, label_smoothing: float = 0.0,
) -> Criterion:
    from ferkit.losses.distill import Distillation

    return Distillation(teacher=teacher, teacher_mode=teacher_mode, temperature=temperature, alpha=alpha, label_smoothing=label_smoothing)
