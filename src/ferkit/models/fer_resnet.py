"""FER-native ResNets: a 3x3 stem at stride 1 or 2 and no max-pool, for 48x48 faces.

The ImageNet stem (7x7 stride-2 conv + max-pool) shrinks a 48x48 face to 12x12 before the first
residual stage, and the last stage sees 2x2 maps. The strongest single FER2013 networks keep 48x48
or 24x24 maps in their first stages, as CIFAR ResNets do at 32 px. These backbones are ferkit's own
(the paper's Table 1 network stays ``modified_resnet18``): timm's ``ResNet`` with its stem swapped.

Feature-map sizes at 48x48 input, stages 1-4:
- stride 1: 48, 24, 12, 6 (about 13x the compute of the modified ResNet-18 at width 64);
- stride 2: 24, 12, 6, 3.

``width`` is the number of channels of stage 1 (doubled at each later stage); ``layers`` the
basic blocks per stage: [1, 1, 1, 1] ("resnet10") or [2, 2, 2, 2] ("resnet18").
"""

from __future__ import annotations

import torch.nn as nn

from ferkit.errors import ConfigError, WeightsUnavailableError

STEM_STRIDES = (1, 2)


def fer_resnet(layers: list[int], *, stem_stride: int, width: int = 64, in_chans: int = 1, pretrained: bool = False, **kwargs) -> nn.Module:
    """A timm basic-block ResNet with a 3x3 stem at ``stem_stride`` and no max-pool; returns pooled features."""
    from timm.models.resnet import BasicBlock, ResNet

    if pretrained:
        raise WeightsUnavailableError("FER-native ResNets have no public pretrained weights; train one or pass --init-weights")
    if stem_stride not in STEM_STRIDES:
        raise ConfigError(f"stem_stride must be one of {STEM_STRIDES}, got {stem_stride}")
    if width < 8 or width % 8:
        raise ConfigError(f"width must be a positive multiple of 8 (channels of stage 1), got {width}")
    channels = (width, width * 2, width * 4, width * 8)
    # timm sizes stage 1's input as 64 channels unless the stem is "deep" (then 2 x stem_width); the
    # deep stem is built only to get that width and is replaced below.
    model = ResNet(block=BasicBlock, layers=layers, channels=channels, in_chans=in_chans, num_classes=0,
                   stem_type="deep", stem_width=width // 2, **kwargs)
    model.conv1 = nn.Conv2d(in_chans, width, kernel_size=3, stride=stem_stride, padding=1, bias=False)
    model.bn1 = nn.BatchNorm2d(width)
    model.maxpool = nn.Identity()
    model.init_weights()  # re-initialise the swapped stem the way timm initialises the rest
    return model


def fer_resnet10_s1(in_chans: int = 1, pretrained: bool = False, **kwargs) -> nn.Module:
    return fer_resnet([1, 1, 1, 1], stem_stride=1, in_chans=in_chans, pretrained=pretrained, **kwargs)


def fer_resnet10_s2(in_chans: int = 1, pretrained: bool = False, **kwargs) -> nn.Module:
    return fer_resnet([1, 1, 1, 1], stem_stride=2, in_chans=in_chans, pretrained=pretrained, **kwargs)


def fer_resnet18_s1(in_chans: int = 1, pretrained: bool = False, **kwargs) -> nn.Module:
    return fer_resnet([2, 2, 2, 2], stem_stride=1, in_chans=in_chans, pretrained=pretrained, **kwargs)


def fer_resnet18_s2(in_chans: int = 1, pretrained: bool = False, **kwargs) -> nn.Module:
    return fer_resnet([2, 2, 2, 2], stem_stride=2, in_chans=in_chans, pretrained=pretrained, **kwargs)
