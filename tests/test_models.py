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


def test_pretrained_weights_missing_locally_are_a_clear_error_without_touching_the_network(monkeypatch, tmp_path):
    """HF_HUB_OFFLINE was set after timm had imported huggingface_hub, so pretrained=True sent requests to the hub
    (and would have downloaded with a network). The weights are now looked up on disk only."""
    import socket

    import torch.hub

    from ferkit.errors import WeightsUnavailableError

    def no_network(*args, **kwargs):
        raise AssertionError("ferkit tried to open a network connection")

    monkeypatch.setattr(socket.socket, "connect", no_network)
    monkeypatch.delenv("HF_HUB_OFFLINE", raising=False)
    monkeypatch.setattr(torch.hub, "get_dir", lambda: str(tmp_path))
    with pytest.raises(WeightsUnavailableError, match="not on this machine. ferkit never downloads"):
        build_model("resnet18", num_classes=7, pretrained=True)


def test_pretrained_weights_in_the_torch_hub_cache_are_loaded_from_that_file(monkeypatch, tmp_path):
    import timm
    import torch.hub
    from timm.models import get_pretrained_cfg

    from ferkit.models.resnet import cached_timm_weights

    reference = timm.create_model("resnet18", num_classes=0)
    url = get_pretrained_cfg("resnet18.a1_in1k").url
    (tmp_path / "checkpoints").mkdir()
    torch.save(reference.state_dict(), tmp_path / "checkpoints" / url.rsplit("/", 1)[1])
    monkeypatch.setattr(torch.hub, "get_dir", lambda: str(tmp_path))
    monkeypatch.setattr("huggingface_hub.try_to_load_from_cache", lambda *a, **k: None)  # nothing in the HF cache
    assert cached_timm_weights("resnet18.a1_in1k") == str(tmp_path / "checkpoints" / url.rsplit("/", 1)[1])
    model = build_model("resnet18", num_classes=7, in_chans=3, pretrained=True)
    loaded = model.backbone.conv1.weight if hasattr(model, "backbone") else next(model.parameters())
    assert torch.equal(loaded, reference.conv1.weight)


@pytest.mark.parametrize("options, message", [
    ({"num_classes": -1}, "num_classes must be >= 1, got -1"), ({"in_chans": 0}, "in_chans must be >= 1"),
    ({"embedding_dim": -4}, "embedding_dim must be >= 1 or None"), ({"dropout": 1.5}, r"dropout \(a probability\) must lie in \[0, 1\), got 1.5"),
    ({"dropout": -0.3}, "dropout"), ({"drop_path_rate": 2.0}, "drop_path_rate"), ({"channels": (8, 8)}, "channels must be 4 positive ints"),
])
def test_numeric_model_options_are_checked_by_name(options, message):
    """Failed inside torch, or silently built something else (no dropout, a 2-stage ResNet), before."""
    with pytest.raises(ConfigError, match=message):
        build_model("modified_resnet18", **{"num_classes": 7, "channels": (8, 8, 8, 8), **options})
