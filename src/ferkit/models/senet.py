"""Squeeze-and-excitation ResNets from timm: paper 004's SENet backbone family.

timm builds SE-ResNets as its ``ResNet`` with ``block_args=dict(attn_layer="se")`` (see
``timm.models.resnet.seresnet18/seresnet50``); we mirror those definitions so the state-dict keys
are timm's and ImageNet or converted VGGFace2 weights load by name (``ferkit.train.transfer``).
``modified_seresnet18`` is the SE version of paper 000's one-block-per-stage ResNet-18. Backbones
return pooled features (``num_classes=0``); ``FerNet`` adds embedding and head.
"""

from __future__ import annotations


import torch.nn as nn

from ferkit.errors import WeightsUnavailableError
from ferkit.models.factory import TIMM_RESNET_OPTIONS, classifier_builder, register_model
from ferkit.models.resnet import create_pretrained_timm

SE_BLOCK_ARGS = {"attn_layer": "se"}


def _timm_seresnet(layers: tuple[int, ...], block: str, in_chans: int, **kwargs) -> nn.Module:
    from timm.models.resnet import BasicBlock, Bottleneck, ResNet

    block_cls = BasicBlock if block == "basic" else Bottleneck
    return ResNet(block=block_cls, layers=layers, in_chans=in_chans, num_classes=0, block_args=dict(SE_BLOCK_ARGS), **kwargs)


def seresnet18(in_chans: int = 1, pretrained: bool = False, **kwargs) -> nn.Module:
    if pretrained:
        # timm 1.0 lists only 'seresnet18.untrained'
        raise WeightsUnavailableError("timm has no pretrained SE-ResNet-18 weights; use seresnet50 with pretrained=True, or pass --init-weights PATH")
    return _timm_seresnet((2, 2, 2, 2), "basic", in_chans, **kwargs)


def seresnet50(in_chans: int = 1, pretrained: bool = False, **kwargs) -> nn.Module:
    if pretrained:
        return create_pretrained_timm("seresnet50.a1_in1k", in_chans=in_chans, **kwargs)
    return _timm_seresnet((3, 4, 6, 3), "bottleneck", in_chans, **kwargs)


def modified_seresnet18(in_chans: int = 1, pretrained: bool = False, **kwargs) -> nn.Module:
    if pretrained:
        raise WeightsUnavailableError("the modified SE-ResNet-18 has no public pretrained weights; train it or pass --init-weights PATH")
    return _timm_seresnet((1, 1, 1, 1), "basic", in_chans, **kwargs)


register_model("seresnet18")(classifier_builder(seresnet18, backbone_options=TIMM_RESNET_OPTIONS))
register_model("seresnet50")(classifier_builder(seresnet50, backbone_options=TIMM_RESNET_OPTIONS))
register_model("modified_seresnet18")(classifier_builder(modified_seresnet18, backbone_options=TIMM_RESNET_OPTIONS))
