"""``build_model(name, num_classes=..., in_chans=...)``: every model in ferkit, built from a name.

``MODEL_REGISTRY`` is a ``ferkit.registry.Registry``: a duplicate name raises, an unknown name lists
the valid ones, a wrong option is a ``ConfigError`` and a builder's own error keeps its traceback.
"""

from __future__ import annotations

from typing import Any, Callable

import torch.nn as nn

from ferkit.errors import ConfigError
from ferkit.models import fer_resnet, resnet
from ferkit.models.heads import FerNet
from ferkit.registry import Registry

ModelBuilder = Callable[..., nn.Module]
MODEL_REGISTRY: Registry[ModelBuilder] = Registry("model")


def register_model(name: str, **metadata: Any) -> Callable[[ModelBuilder], ModelBuilder]:
    return MODEL_REGISTRY.register(name, **metadata)


def list_models() -> list[str]:
    return MODEL_REGISTRY.names()


def build_model(name: str, *, num_classes: int, in_chans: int = 1, **kwargs: Any) -> nn.Module:
    """Build model ``name``; kwargs are the builder's options (embedding_dim, dropout, pretrained...)."""
    return MODEL_REGISTRY.build(name, num_classes=num_classes, in_chans=in_chans, **kwargs)


def classifier_builder(
    backbone_fn: Callable[..., nn.Module],
    *,
    input_transform: Callable[[int], nn.Module] | None = None,
    backbone_options: tuple[str, ...] = (),
) -> ModelBuilder:
    """A builder with ferkit's common model options around a backbone constructor.

    ``input_transform(in_chans)`` builds a module placed in front of the backbone (e.g. the STN).
    ``backbone_options`` names the extra options passed through to ``backbone_fn`` (e.g. ``width``);
    any other option is refused before anything is built, since the backbones hand their ``**kwargs``
    to timm, where a misspelt option would fail deep inside.
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
        **backbone_kwargs: Any,
    ) -> FerNet:
        """``backbone_kwargs`` go to the backbone constructor (e.g. ``width`` of the FER-native ResNets)."""
        unknown = sorted(set(backbone_kwargs) - set(backbone_options))
        if unknown:
            valid = ["pretrained", "embedding_dim", "normalize_embedding", "dropout", "drop_rate", *backbone_options]
            raise ConfigError(f"bad options: unknown model option(s) {unknown}; valid options: {', '.join(valid)}")
        _check_numbers(num_classes=num_classes, in_chans=in_chans, embedding_dim=embedding_dim, dropout=dropout, drop_rate=drop_rate,
                       **backbone_kwargs)
        if drop_rate:
            backbone_kwargs["drop_rate"] = drop_rate
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


def _check_numbers(*, num_classes: Any, in_chans: Any, embedding_dim: Any, dropout: Any, drop_rate: Any, **backbone: Any) -> None:
    """The numeric model options in range, by name, before anything is built: a negative class count or embedding
    size failed inside torch, dropout=-0.3 silently meant none, channels=(8, 8) silently built a 2-stage ResNet."""
    from ferkit.checks import check_count, check_number

    check_count("num_classes", num_classes, least=1)
    check_count("in_chans", in_chans, least=1)
    check_count("embedding_dim", embedding_dim, least=1, optional=True)
    for name, value in (("dropout", dropout), ("drop_rate", drop_rate), ("drop_path_rate", backbone.get("drop_path_rate", 0.0))):
        check_number(name, value, low=0.0, high=1.0, high_inclusive=False, meaning="a probability")
    if "channels" in backbone:
        channels = backbone["channels"]
        if not isinstance(channels, (list, tuple)) or len(channels) != 4 or not all(isinstance(c, int) and not isinstance(c, bool) and c > 0 for c in channels):
            raise ConfigError(f"channels must be 4 positive ints (one per ResNet stage), got {channels!r}")


# The timm ResNet options a recipe or checkpoint may pass through: ``channels`` (stage widths; tests build tiny
# networks with it) and ``drop_path_rate`` (stochastic depth).
TIMM_RESNET_OPTIONS = ("channels", "drop_path_rate")

register_model("resnet18")(classifier_builder(resnet.resnet18, backbone_options=TIMM_RESNET_OPTIONS))
register_model("modified_resnet18")(classifier_builder(resnet.modified_resnet18, backbone_options=TIMM_RESNET_OPTIONS))
register_model("resnet34")(classifier_builder(resnet.resnet34, backbone_options=TIMM_RESNET_OPTIONS))
register_model("resnet50")(classifier_builder(resnet.resnet50, backbone_options=TIMM_RESNET_OPTIONS))
for _name in ("fer_resnet10_s1", "fer_resnet10_s2", "fer_resnet18_s1", "fer_resnet18_s2"):
    register_model(_name)(classifier_builder(getattr(fer_resnet, _name), backbone_options=("width", "drop_path_rate")))
