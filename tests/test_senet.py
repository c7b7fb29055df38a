"""SE-ResNets: shapes at 48/96 px with 1/3 channels, gradient flow, timm-compatible keys, pretrained routing."""

from __future__ import annotations

import pytest
import torch
from timm.layers import SEModule

import ferkit.models.senet as senet
from ferkit.errors import WeightsUnavailableError
from ferkit.models import build_model

SE_MODELS = {"modified_seresnet18": 512, "seresnet18": 512, "seresnet50": 2048}


@pytest.mark.parametrize("name", ["modified_seresnet18", "seresnet18"])
@pytest.mark.parametrize("size,in_chans", [(48, 1), (96, 3)])
def test_output_shapes(name, size, in_chans):
    torch.manual_seed(0)
    model = build_model(name, num_classes=7, in_chans=in_chans).eval()
    x = torch.randn(2, in_chans, size, size)
    with torch.no_grad():
        embedding, logits = model.forward_both(x)
    assert logits.shape == (2, 7) and embedding.shape == (2, SE_MODELS[name])


@pytest.mark.parametrize("size,in_chans", [(48, 3), (96, 1)])
def test_seresnet50_output_shapes(size, in_chans):
    model = build_model("seresnet50", num_classes=8, in_chans=in_chans, embedding_dim=64, normalize_embedding=True).eval()
    with torch.no_grad():
        embedding, logits = model.forward_both(torch.randn(1, in_chans, size, size))
    assert logits.shape == (1, 8) and embedding.shape == (1, 64)
    assert torch.allclose(embedding.norm(dim=1), torch.ones(1), atol=1e-5)


def test_gradients_reach_every_parameter_including_se():
    torch.manual_seed(0)
    model = build_model("modified_seresnet18", num_classes=7, in_chans=1, embedding_dim=32, dropout=0.1)
    # timm zero-initialises each block's last BN gamma, which blocks the residual branch's gradient at init
    for module in model.modules():
        if isinstance(module, torch.nn.BatchNorm2d):
            torch.nn.init.ones_(module.weight)
    logits = model(torch.randn(4, 1, 48, 48))
    torch.nn.functional.cross_entropy(logits, torch.tensor([0, 1, 2, 3])).backward()
    without_grad = [n for n, p in model.named_parameters() if p.grad is None or not torch.isfinite(p.grad).all() or p.grad.abs().sum() == 0]
    assert without_grad == []
    assert model.backbone.layer1[0].se.fc1.weight.grad.abs().sum() > 0


@pytest.mark.parametrize("name,timm_name,blocks", [("seresnet18", "seresnet18", 8), ("modified_seresnet18", None, 4)])
def test_mirrors_timm_definition(name, timm_name, blocks):
    import timm

    model = build_model(name, num_classes=7, in_chans=1, drop_rate=0.2)
    assert sum(isinstance(m, SEModule) for m in model.backbone.modules()) == blocks
    assert model.backbone.drop_rate == 0.2
    if timm_name is not None:
        reference = timm.create_model(timm_name, num_classes=0, in_chans=1)
        assert {f"backbone.{k}" for k in reference.state_dict()} == {k for k in model.state_dict() if k.startswith("backbone.")}


def test_pretrained_routing(monkeypatch):
    for name in ("seresnet18", "modified_seresnet18"):
        with pytest.raises(WeightsUnavailableError, match="--init-weights"):
            build_model(name, num_classes=7, pretrained=True)
    calls = []

    def fake_pretrained(timm_name, *, in_chans, **kwargs):
        calls.append((timm_name, in_chans))
        return senet._timm_seresnet((1, 1, 1, 1), "bottleneck", in_chans)

    monkeypatch.setattr(senet, "create_pretrained_timm", fake_pretrained)
    model = build_model("seresnet50", num_classes=7, in_chans=1, pretrained=True)
    assert calls == [("seresnet50.a1_in1k", 1)] and model.head.in_features == 2048
