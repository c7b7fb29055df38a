"""SpatialTransformer and the tl_stn / stn_resnet18 models."""

from __future__ import annotations

import pytest
import torch

from ferkit.models.factory import build_model
from ferkit.models.heads import FerNet
from ferkit.models.stn import SpatialTransformer


@pytest.mark.parametrize("in_chans", [1, 3])
@pytest.mark.parametrize("size", [48, 96])
def test_stn_is_identity_at_init(in_chans: int, size: int) -> None:
    torch.manual_seed(0)
    stn = SpatialTransformer(in_chans)
    x = torch.rand(3, in_chans, size, size) * 2 - 1  # the model's normalised input range
    out = stn(x)
    assert out.shape == x.shape
    # float32 grid arithmetic leaves ~1e-5 of bilinear mixing at pixel centres
    torch.testing.assert_close(out, x, atol=3e-5, rtol=0)
    identity = torch.tensor([[1.0, 0.0, 0.0], [0.0, 1.0, 0.0]]).expand(3, 2, 3)
    torch.testing.assert_close(stn.last_theta, identity)
    assert not stn.last_output.requires_grad and not stn.last_theta.requires_grad
    torch.testing.assert_close(stn.transform(x), out.detach())


def test_gradients_reach_localization_net() -> None:
    torch.manual_seed(0)
    stn = SpatialTransformer(1)
    x = torch.randn(4, 1, 48, 48)
    # At init the regressor weight is zero: it gets a gradient, the convs behind it do not yet.
    stn(x).pow(2).sum().backward()
    assert stn.regressor.weight.grad.abs().sum() > 0
    assert stn.regressor.bias.grad.abs().sum() > 0
    # Once the regressor has moved (after a step), gradients reach every localization parameter.
    stn.zero_grad()
    with torch.no_grad():
        stn.regressor.weight.normal_(std=1e-2)
    stn(x).pow(2).sum().backward()
    for name, param in stn.localization.named_parameters():
        assert param.grad is not None and param.grad.abs().sum() > 0, name


@pytest.mark.parametrize("name", ["tl_stn", "stn_resnet18"])
@pytest.mark.parametrize("size,in_chans", [(48, 1), (96, 3)])
def test_stn_models_shapes(name: str, size: int, in_chans: int) -> None:
    torch.manual_seed(0)
    model = build_model(name, num_classes=7, in_chans=in_chans)
    assert isinstance(model, FerNet) and isinstance(model.input_transform, SpatialTransformer)
    model.eval()
    x = torch.randn(2, in_chans, size, size)
    with torch.no_grad():
        embedding, logits = model.forward_both(x)
        assert model(x).shape == (2, 7)
    assert embedding.shape == (2, 512)
    assert logits.shape == (2, 7)
    assert model.input_transform.last_output.shape == x.shape


def test_tl_stn_embedding_options() -> None:
    model = build_model("tl_stn", num_classes=7, embedding_dim=64, normalize_embedding=True, dropout=0.2, drop_rate=0.1)
    model.eval()
    with torch.no_grad():
        embedding = model.forward_embedding(torch.randn(2, 1, 48, 48))
    assert embedding.shape == (2, 64)
    torch.testing.assert_close(embedding.norm(dim=1), torch.ones(2))


def test_tl_stn_uses_modified_resnet18() -> None:
    blocks = lambda m: sum(len(getattr(m.backbone, f"layer{i}")) for i in range(1, 5))  # noqa: E731
    assert blocks(build_model("tl_stn", num_classes=7)) == 4
    assert blocks(build_model("stn_resnet18", num_classes=7)) == 8
