"""ResNet backbones from timm: the standard ResNet-18/50 and papers 000/001's modified ResNet-18.

Modified ResNet-18 (paper 000, Table 1): one basic block per stage instead of two. At 48x48 input
the 7x7 stride-2 stem gives 24x24, the max-pool + stage 1 give 12x12, then 6, 3 and 2, exactly
the table's output sizes. Backbones return pooled features (``num_classes=0``); heads live in
``heads.py``.
"""

from __future__ import annotations

import torch.nn as nn

from ferkit.errors import WeightsUnavailableError


def _timm_resnet(layers: list[int], block: str, in_chans: int, pretrained: bool, timm_name: str, **kwargs) -> nn.Module:
    import timm
    from timm.models.resnet import BasicBlock, Bottleneck, ResNet

    if pretrained:
        return create_pretrained_timm(timm_name, in_chans=in_chans, **kwargs)
    block_cls = BasicBlock if block == "basic" else Bottleneck
    del timm
    return ResNet(block=block_cls, layers=layers, in_chans=in_chans, num_classes=0, **kwargs)


def create_pretrained_timm(timm_name: str, *, in_chans: int, **kwargs) -> nn.Module:
    """timm ``pretrained=True`` loads from the local Hugging Face cache only; offline misses become a clear error."""
    import os

    import timm

    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    try:
        return timm.create_model(timm_name, pretrained=True, in_chans=in_chans, num_classes=0, **kwargs)
    except Exception as exc:  # hub errors vary by version: all mean "not on disk"
        raise WeightsUnavailableError(
            f"pretrained weights for {timm_name!r} are not on this machine ({type(exc).__name__}). ferkit never downloads at run "
            f"time: place them in the Hugging Face cache (HF_HOME) beforehand, or pass a local file with --init-weights PATH"
        ) from None


def resnet18(in_chans: int = 1, pretrained: bool = False, **kwargs) -> nn.Module:
    return _timm_resnet([2, 2, 2, 2], "basic", in_chans, pretrained, "resnet18.a1_in1k", **kwargs)


def modified_resnet18(in_chans: int = 1, pretrained: bool = False, **kwargs) -> nn.Module:
    if pretrained:
        raise WeightsUnavailableError("the modified ResNet-18 has no public pretrained weights; train it or pass --init-weights")
    return _timm_resnet([1, 1, 1, 1], "basic", in_chans, False, "", **kwargs)


def resnet34(in_chans: int = 1, pretrained: bool = False, **kwargs) -> nn.Module:
    return _timm_resnet([3, 4, 6, 3], "basic", in_chans, pretrained, "resnet34.a1_in1k", **kwargs)


def resnet50(in_chans: int = 1, pretrained: bool = False, **kwargs) -> nn.Module:
    return _timm_resnet([3, 4, 6, 3], "bottleneck", in_chans, pretrained, "resnet50.a1_in1k", **kwargs)


def feature_dim(backbone: nn.Module) -> int:
    return int(getattr(backbone, "num_features"))
