"""Transfer learning: init-weight loading (ferkit checkpoints, plain backbones, channel adaptation), freezing, param groups."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from safetensors.torch import save_file
from timm.models.resnet import BasicBlock, ResNet

from ferkit.errors import CheckpointError, ConfigError
from ferkit.models import build_model
from ferkit.train.transfer import freeze_stages, load_init_weights, param_groups, set_frozen_bn_eval


def _model(num_classes: int = 7, in_chans: int = 1, seed: int = 0, **kwargs) -> torch.nn.Module:
    torch.manual_seed(seed)
    return build_model("modified_resnet18", num_classes=num_classes, in_chans=in_chans, **kwargs)


def _timm_backbone(in_chans: int, seed: int) -> ResNet:
    """A plain timm ResNet with an ImageNet-style 10-class ``fc`` head, as a downloaded .pth would hold."""
    torch.manual_seed(seed)
    model = ResNet(block=BasicBlock, layers=[1, 1, 1, 1], in_chans=in_chans, num_classes=10)
    for module in model.modules():  # non-trivial BN stats and gammas so that outputs can be compared
        if isinstance(module, torch.nn.BatchNorm2d):
            module.weight.data.uniform_(0.5, 1.5)
            module.running_mean.uniform_(-0.1, 0.1)
            module.running_var.uniform_(0.5, 1.5)
    return model.eval()


def test_ferkit_checkpoint_loads_everything(tmp_path):
    source = _model(seed=1, embedding_dim=16)
    path = tmp_path / "best.pt"
    payload = {
        "format": "ferkit-checkpoint-v1",
        "model": source.state_dict(),
        "model_name": "modified_resnet18",
        "model_kwargs": {"embedding_dim": 16},
        "class_names": ["angry", "disgust", "fear", "happy", "sad", "surprise", "neutral"],
        "rng": {"numpy": np.random.get_state()},  # not loadable with weights_only=True
    }
    torch.save(payload, path)
    target = _model(seed=2, embedding_dim=16)
    report = load_init_weights(target, path, strict=True)
    assert report.skipped == {} and report.missing == [] and report.adapted == {}
    assert len(report.loaded) == len(source.state_dict())
    for key, value in source.state_dict().items():
        assert torch.equal(target.state_dict()[key], value), key


def test_checkpoint_with_another_label_set_skips_the_head(tmp_path):
    path = tmp_path / "ck.pt"
    source = _model(num_classes=8, seed=1)
    torch.save({"model": source.state_dict()}, path)
    target = _model(num_classes=7, seed=2)
    head_before = target.head.weight.detach().clone()
    report = load_init_weights(target, path)
    assert set(report.skipped) == {"head.weight", "head.bias"} and "shape" in report.skipped["head.weight"]
    assert set(report.missing) == {"head.weight", "head.bias"}
    assert torch.equal(target.head.weight, head_before)
    assert torch.equal(target.backbone.layer4[0].conv2.weight, source.backbone.layer4[0].conv2.weight)
    with pytest.raises(CheckpointError, match="strict"):
        load_init_weights(_model(num_classes=7), path, strict=True)


@pytest.mark.parametrize("suffix", [".pth", ".safetensors"])
def test_rgb_backbone_into_gray_model_sums_first_conv(tmp_path, suffix):
    rgb = _timm_backbone(in_chans=3, seed=3)
    path = tmp_path / f"backbone{suffix}"
    if suffix == ".safetensors":
        save_file({k: v.contiguous() for k, v in rgb.state_dict().items()}, str(path))
    else:
        torch.save(rgb.state_dict(), path)
    gray = _model(in_chans=1, seed=4).eval()
    report = load_init_weights(gray, path)
    assert report.adapted == {"backbone.conv1.weight": "summed 3 input channels into 1"}
    assert set(report.skipped) == {"fc.weight", "fc.bias"}
    assert set(report.missing) == {"head.weight", "head.bias"}
    assert torch.allclose(gray.backbone.conv1.weight, rgb.conv1.weight.sum(dim=1, keepdim=True))
    # a gray image gives the features the RGB network gives to the same image in all three channels
    x = torch.randn(2, 1, 48, 48)
    with torch.no_grad():
        assert torch.allclose(gray.forward_features(x), rgb.forward_features(x.repeat(1, 3, 1, 1)).mean((2, 3)), atol=1e-5)


def test_gray_weights_into_rgb_model_spread_first_conv(tmp_path):
    path = tmp_path / "gray.pt"
    gray = _timm_backbone(in_chans=1, seed=5)
    torch.save({"state_dict": {f"module.{k}": v for k, v in gray.state_dict().items()}}, path)  # DataParallel-style
    rgb = _model(in_chans=3, seed=6)
    report = load_init_weights(rgb, path)
    assert report.adapted == {"backbone.conv1.weight": "spread 1 input channel over 3"}
    assert torch.allclose(rgb.backbone.conv1.weight, gray.conv1.weight.repeat(1, 3, 1, 1) / 3)


def test_error_cases(tmp_path):
    model = _model()
    with pytest.raises(CheckpointError, match="not found"):
        load_init_weights(model, tmp_path / "missing.pt")
    garbage = tmp_path / "garbage.pt"
    garbage.write_bytes(b"this is not a checkpoint")
    with pytest.raises(CheckpointError, match="cannot read"):
        load_init_weights(model, garbage)
    bad_safetensors = tmp_path / "bad.safetensors"
    bad_safetensors.write_bytes(b"\x00\x01")
    with pytest.raises(CheckpointError, match="cannot read safetensors"):
        load_init_weights(model, bad_safetensors)
    unrelated = tmp_path / "unrelated.pt"
    torch.save({"encoder.weight": torch.zeros(3, 3)}, unrelated)
    with pytest.raises(CheckpointError, match="nothing in .* matches"):
        load_init_weights(model, unrelated)
    not_a_dict = tmp_path / "list.pt"
    torch.save([torch.zeros(2)], not_a_dict)
    with pytest.raises(CheckpointError, match="not a state_dict"):
        load_init_weights(model, not_a_dict)
    no_tensors = tmp_path / "meta.pt"
    torch.save({"model_name": "x"}, no_tensors)
    with pytest.raises(CheckpointError, match="no tensors"):
        load_init_weights(model, no_tensors)


def test_freeze_keeps_frozen_weights_and_bn_stats_fixed():
    torch.manual_seed(0)
    model = _model(embedding_dim=16)
    assert freeze_stages(model, 2) == ["conv1", "bn1", "layer1", "layer2"]
    model.train()
    set_frozen_bn_eval(model)
    assert not model.backbone.bn1.training and not model.backbone.layer2[0].bn1.training
    assert model.backbone.layer3[0].bn1.training
    before = {k: v.clone() for k, v in model.state_dict().items()}
    optimizer = torch.optim.SGD(param_groups(model, lr=0.1, backbone_lr_mult=0.1), lr=0.1)
    loss = torch.nn.functional.cross_entropy(model(torch.randn(4, 1, 48, 48)), torch.tensor([0, 1, 2, 3]))
    loss.backward()
    optimizer.step()
    after = model.state_dict()
    frozen_prefixes = ("backbone.conv1.", "backbone.bn1.", "backbone.layer1.", "backbone.layer2.")
    for key in before:
        if key.startswith(frozen_prefixes):
            assert torch.equal(before[key], after[key]), key
    # (timm zero-initialises each block's last BN gamma, so inside a residual branch only that gamma moves at step 1)
    unfrozen = ("backbone.layer3.0.downsample.0.weight", "backbone.layer3.0.bn2.weight", "backbone.layer3.0.bn1.running_mean", "embedding.weight", "head.weight")
    for key in unfrozen:
        assert not torch.equal(before[key], after[key]), key
    with pytest.raises(ConfigError, match="num_stages"):
        freeze_stages(model, 5)
    with pytest.raises(ConfigError, match="timm ResNet"):
        freeze_stages(torch.nn.Linear(2, 2), 1)


def test_param_groups_learning_rates_and_membership():
    model = _model(embedding_dim=16)
    groups = param_groups(model, lr=0.01, backbone_lr_mult=0.1)
    assert [g["name"] for g in groups] == ["backbone", "head"]
    assert groups[0]["lr"] == pytest.approx(0.001) and groups[1]["lr"] == 0.01
    assert len(groups[1]["params"]) == 4  # embedding + head weight and bias
    assert sum(len(g["params"]) for g in groups) == len(list(model.parameters()))
    freeze_stages(model, 4)
    frozen_groups = param_groups(model, lr=0.01, backbone_lr_mult=0.1)
    trainable = [p for p in model.parameters() if p.requires_grad]
    assert {id(p) for g in frozen_groups for p in g["params"]} == {id(p) for p in trainable}
    assert [g["name"] for g in frozen_groups] == ["head"]  # the whole backbone is frozen: no empty group
    with pytest.raises(ConfigError, match="lr"):
        param_groups(model, lr=0.0, backbone_lr_mult=0.1)
    with pytest.raises(ConfigError, match="backbone"):
        param_groups(torch.nn.Linear(2, 2), lr=0.1, backbone_lr_mult=0.1)


def test_plain_resnet_weights_start_the_occlusion_network_stem_and_first_three_stages(tmp_path):
    """Paper 003's network keeps a ResNet's stem and stages 1-3 under other module names; FER2013 ResNet weights
    must land there (and nowhere else), and the ResNet's last stage, which the occlusion module replaces, is skipped."""
    torch.manual_seed(0)
    source = build_model("modified_resnet18", num_classes=7, in_chans=1)
    path = tmp_path / "resnet.pt"
    torch.save(source.state_dict(), path)
    model = build_model("occlusion_net", num_classes=7, in_chans=1, backbone="modified_resnet18")
    report = load_init_weights(model, path)
    state = model.state_dict()
    assert torch.equal(state["backbone.stem.0.weight"], source.state_dict()["backbone.conv1.weight"])
    assert torch.equal(state["backbone.stages.2.0.conv2.weight"], source.state_dict()["backbone.layer3.0.conv2.weight"])
    assert all(key.startswith("backbone.layer4.") for key in report.skipped)
    assert report.missing and all(key.startswith("backbone.occlusion_module.") for key in report.missing)
