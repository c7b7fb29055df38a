import pytest
import torch

from ferkit.errors import ConfigError
from ferkit.models import build_model, list_models


@pytest.mark.parametrize("name", ["resnet18", "modified_resnet18"])
@pytest.mark.parametrize("size,chans", [(48, 1), (96, 1), (48, 3)])
def test_output_shapes(name, size, chans):
    model = build_model(name, num_classes=7, in_chans=chans).eval()
    x = torch.randn(2, chans, size, size)
    assert model(x).shape == (2, 7)
    emb, logits = model.forward_both(x)
    assert emb.shape == (2, 512) and logits.shape == (2, 7)


def test_modified_resnet18_matches_paper_table1_sizes():
    """Paper 000 Table 1: 48x48 -> 24, 12, 6, 3, 2 with one basic block per stage."""
    model = build_model("modified_resnet18", num_classes=7).eval()
    trunk = model.backbone
    sizes = []
    x = torch.randn(1, 1, 48, 48)
    x = trunk.act1(trunk.bn1(trunk.conv1(x)))
    sizes.append(x.shape[-1])
    x = trunk.maxpool(x)
    for stage in (trunk.layer1, trunk.layer2, trunk.layer3, trunk.layer4):
        x = stage(x)
        sizes.append(x.shape[-1])
        assert len(stage) == 1
    assert sizes == [24, 12, 6, 3, 2]


def test_embedding_head_and_unit_norm():
    model = build_model("modified_resnet18", num_classes=3, embedding_dim=128, normalize_embedding=True).eval()
    emb = model.forward_embedding(torch.randn(4, 1, 48, 48))
    assert emb.shape == (4, 128)
    torch.testing.assert_close(emb.norm(dim=1), torch.ones(4))


def test_gradients_reach_the_stem():
    model = build_model("modified_resnet18", num_classes=7)
    model(torch.randn(2, 1, 48, 48)).sum().backward()
    assert model.backbone.conv1.weight.grad is not None and model.backbone.conv1.weight.grad.abs().sum() > 0


def test_unknown_model_lists_valid_names():
    with pytest.raises(ConfigError, match="modified_resnet18"):
        build_model("resnet19", num_classes=7)
    assert "resnet18" in list_models()


def test_pretrained_offline_is_a_clear_error(monkeypatch, tmp_path):
    from ferkit.errors import WeightsUnavailableError

    monkeypatch.setenv("HF_HOME", str(tmp_path))
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    with pytest.raises(WeightsUnavailableError, match="never downloads"):
        build_model("resnet18", num_classes=7, pretrained=True)
