"""``build_model(name, num_classes=..., in_chans=...)``: every model in ferkit, built from a name.

A registry is a plain dict filled by ``register_model``; unknown names list the valid ones.
"""

from __future__ import annotations

from typing import Any, Callable

import torch.nn as nn

from ferkit.errors import ConfigError
from ferkit.models import fer_resnet, resnet
from ferkit.models.heads import FerNet

ModelBuilder = Callable[..., nn.Module]
MODEL_REGISTRY: dict[str, ModelBuilder] = {}


def register_model(name: str) -> Callable[[ModelBuilder], ModelBuilder]:
    def wrap(fn: ModelBuilder) -> ModelBuilder:
        if name in MODEL_REGISTRY:
            raise ValueError(f"model {name!r} registered twice")
        MODEL_REGISTRY[name] = fn
        return fn

    return wrap


def list_models() -> list[str]:
    return sorted(MODEL_REGISTRY)


def build_model(name: str, *, num_classes: int, in_chans: int = 1, **kwargs) -> nn.Module:
    """Build model ``name``; kwargs are the builder's options (embedding_dim, dropout, pretrained...)."""
    if name not in MODEL_REGISTRY:
        raise ConfigError(f"unknown model {name!r}; available models: {', '.join(list_models())}")
    try:
        return MODEL_REGISTRY[name](num_classes=num_classes, in_chans=in_chans, **kwargs)
    except TypeError as exc:
        raise ConfigError(f"bad options for model {name!r}: {exc}") from None


def classifier_builder(backbone_fn: Callable[..., nn.Module], *, input_transform: Callable[[int], nn.Module] | None = None) -> ModelBuilder:
    """A builder with ferkit's common model options around a backbone constructor.

    ``input_transform(in_chans)`` builds a module placed in front of the backbone (e.g. the STN).
    """

    def build(
        *,
        num_classes: int,
        in_chans: int = 1,
        pretrained: bool = False,
        embedding_dim: int | None = None,
        normalize_embedding: bool = False,
        dropout: float = 0.0,
        drop_rate: float = 0.0,
        **backbone_options: Any,
    ) -> FerNet:
        """``backbone_options`` go to the backbone constructor (e.g. ``width`` of the FER-native ResNets)."""
        backbone_kwargs = {"drop_rate": drop_rate} if drop_rate else {}
        backbone_kwargs.update(backbone_options)
        backbone = backbone_fn(in_chans=in_chans, pretrained=pretrained, **backbone_kwargs)
        return FerNet(
            backbone,
            resnet.feature_dim(backbone),
            num_classes,
            embedding_dim=embedding_dim,
            normalize_embedding=normalize_embedding,
            dropout=dropout,
            input_transform=None if input_transform is None else input_transform(in_chans),
        )

    return build


register_model("resnet18")(classifier_builder(resnet.resnet18))
register_model("modified_resnet18")(classifier_builder(resnet.modified_resnet18))
register_model("resnet34")(classifier_builder(resnet.resnet34))
register_model("resnet50")(classifier_builder(resnet.resnet50))
for _name in ("fer_resnet10_s1", "fer_resnet10_s2", "fer_resnet18_s1", "fer_resnet18_s2"):
    register_model(_name)(classifier_builder(getattr(fer_resnet, _name)))
