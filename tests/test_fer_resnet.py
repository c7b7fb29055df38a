"""FER-native ResNets: 3x3 stem at stride 1 or 2, no max-pool, depth and width options."""

import pytest
import torch

from ferkit.errors import ConfigError, WeightsUnavailableError
from ferkit.models import build_model


def stage_sizes(model: torch.nn.Module, size: int = 48) -> tuple[list[int], list[int]]:
    trunk = model.backbone
    x = trunk.maxpool(trunk.act1(trunk.bn1(trunk.conv1(torch.randn(1, 1, size, size)))))
    sizes, widths = [], []
    for stage in (trunk.layer1, trunk.layer2, trunk.layer3, trunk.layer4):
        x = stage(x)
        sizes.append(x.shape[-1])
        widths.append(x.shape[1])
    return sizes, widths


@pytest.mark.parametrize("name,maps,blocks", [
    ("fer_resnet10_s1", [48, 24, 12, 6], 1), ("fer_resnet10_s2", [24, 12, 6, 3], 1),
    ("fer_resnet18_s1", [48, 24, 12, 6], 2), ("fer_resnet18_s2", [24, 12, 6, 3], 2),
])
def test_stem_keeps_resolution_and_depth_is_as_named(name, maps, blocks):
    model = build_model(name, num_classes=7, width=16).eval()
    sizes, widths = stage_sizes(model)
    assert sizes == maps and widths == [16, 32, 64, 128]
    assert all(len(stage) == blocks for stage in (model.backbone.layer1, model.backbone.layer4))
    assert isinstance(model.backbone.maxpool, torch.nn.Identity)
    assert model.backbone.conv1.kernel_size == (3, 3)
    emb, logits = model.forward_both(torch.randn(2, 1, 48, 48))
    assert emb.shape == (2, 128) and logits.shape == (2, 7)


def test_default_width_is_64_and_gradients_reach_the_stem():
    model = build_model("fer_resnet10_s2", num_classes=7, in_chans=3)
    assert model.backbone.conv1.weight.shape == (64, 3, 3, 3)
    model(torch.randn(2, 3, 48, 48)).sum().backward()
    assert model.backbone.conv1.weight.grad.abs().sum() > 0


def test_bad_options_are_clear_errors():
    with pytest.raises(ConfigError, match="width"):
        build_model("fer_resnet10_s2", num_classes=7, width=12)
    with pytest.raises(WeightsUnavailableError, match="no public pretrained"):
        build_model("fer_resnet18_s1", num_classes=7, pretrained=True)
    with pytest.raises(ConfigError, match="bad options"):
        build_model("fer_resnet10_s1", num_classes=7, depth=3)
