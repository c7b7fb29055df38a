"""Paper 003's occlusion-adaptive network: shapes, the occlusion map, gradient flow, and the overlay figure."""

from __future__ import annotations

import copy
from pathlib import Path

import cv2
import numpy as np
import pytest
import torch

from ferkit.errors import ConfigError
from ferkit.evaluate.occlusion_maps import occlusion_overlay_grid
from ferkit.models.factory import build_model
from ferkit.models.heads import FerNet
from ferkit.models.occlusion_net import GeometryAwareModule, OcclusionAdaptiveModule, OcclusionPerceptionModule


@pytest.mark.parametrize("backbone", ["modified_resnet18", "resnet18"])
@pytest.mark.parametrize("in_chans, size", [(1, 48), (3, 96)])
def test_shapes_and_occlusion_map(backbone: str, in_chans: int, size: int) -> None:
    torch.manual_seed(0)
    model = build_model("occlusion_net", num_classes=7, in_chans=in_chans, backbone=backbone, embedding_dim=32, normalize_embedding=True)
    assert isinstance(model, FerNet)
    model.eval()
    x = torch.randn(3, in_chans, size, size)
    embedding, logits = model.forward_both(x)
    assert embedding.shape == (3, 32) and logits.shape == (3, 7)
    torch.testing.assert_close(embedding.norm(dim=1), torch.ones(3))
    occlusion = model.backbone.last_occlusion_map
    assert occlusion.shape == (3, 1, 7, 7) and not occlusion.requires_grad
    assert occlusion.min() >= 0 and occlusion.max() <= 1
    assert model.backbone(x).shape == (3, 512)


def test_resnet50_shape_at_48px() -> None:
    model = build_model("occlusion_net", num_classes=7, backbone="resnet50", map_size=5).eval()
    with torch.no_grad():
        assert model(torch.randn(2, 1, 48, 48)).shape == (2, 7)
    assert model.backbone.num_features == 2048 and model.backbone.last_occlusion_map.shape == (2, 1, 5, 5)


def test_gradients_reach_every_part_including_the_occlusion_module() -> None:
    torch.manual_seed(0)
    model = build_model("occlusion_net", num_classes=4, backbone="modified_resnet18")
    x = torch.randn(4, 1, 48, 48)
    out = model.forward_train(x)
    aux = out.aux_losses
    assert set(aux) == {"occlusion_l1"} and aux["occlusion_l1"].requires_grad
    torch.testing.assert_close(aux["occlusion_l1"], 0.01 * model.backbone.last_occlusion_map.mean())
    loss = torch.nn.functional.cross_entropy(out.logits, torch.tensor([0, 1, 2, 3])) + aux["occlusion_l1"]
    loss.backward()
    body = model.backbone
    for name, module in [("stem", body.stem), ("geometry", body.occlusion_module.geometry), ("perception", body.occlusion_module.perception), ("head", model.head)]:
        grads = [p.grad for p in module.parameters() if p.requires_grad]
        assert grads and all(g is not None and torch.isfinite(g).all() for g in grads), name
        assert any(g.abs().sum() > 0 for g in grads), name
    copy.deepcopy(model)  # nothing graph-connected is left on the model after a training pass
    # The threshold step is straight-through: the perception score still gets a classification gradient.
    assert body.occlusion_module.perception.score.weight.grad.abs().sum() > 0


def test_threshold_binarises_the_keep_mask() -> None:
    torch.manual_seed(0)
    module = OcclusionAdaptiveModule(16, 24, map_size=4, alpha=0.5).eval()
    x = torch.randn(2, 16, 4, 4)
    f = module.geometry(x)
    with torch.no_grad():
        module.perception.score.bias.fill_(-10.0)  # every region visible: keep = 1 -> F = 2f
        out, occlusion = module(x)
        torch.testing.assert_close(out, 2 * f)
        assert (occlusion < 0.5).all()
        module.perception.score.bias.fill_(10.0)  # every region occluded: keep = 0 -> F = f
        out, occlusion = module(x)
        torch.testing.assert_close(out, f)


def test_submodule_shapes_at_small_feature_maps() -> None:
    x = torch.randn(2, 32, 3, 3)  # 48 px input reaches stage 3 at 3x3
    assert GeometryAwareModule(32, 8, 40)(x).shape == (2, 40, 3, 3)
    occlusion = OcclusionPerceptionModule(32, 8, map_size=7)(x)
    assert occlusion.shape == (2, 1, 7, 7)
    torch.testing.assert_close(occlusion, torch.full_like(occlusion, 0.25), atol=0.02, rtol=0)  # starts "all visible"


def test_auxiliary_losses_come_from_the_same_pass_and_bad_options() -> None:
    torch.manual_seed(0)
    model = build_model("occlusion_net", num_classes=3, backbone="modified_resnet18").eval()
    first, second = torch.randn(2, 1, 48, 48), torch.randn(2, 1, 48, 48) * 3
    out = model.forward_train(first)
    model(second)  # a later pass changes nothing in what the first one returned
    with torch.no_grad():
        expected = 0.01 * model.backbone.occlusion_map(first).mean()
    torch.testing.assert_close(out.aux_losses["occlusion_l1"].detach(), expected)
    with pytest.raises(ConfigError, match="backbone"):
        build_model("occlusion_net", num_classes=3, backbone="vgg16")
    with pytest.raises(ConfigError, match="alpha"):
        build_model("occlusion_net", num_classes=3, backbone="resnet18", alpha=1.5)


def test_occlusion_overlay_grid_writes_png(tmp_path: Path) -> None:
    rng = np.random.default_rng(0)
    images = rng.integers(0, 255, (5, 48, 48), dtype=np.uint8)
    maps = rng.random((5, 7, 7)).astype(np.float32)
    out = occlusion_overlay_grid(images, maps, tmp_path / "maps.png", columns=3, size=64)
    picture = cv2.imread(str(out))
    assert picture is not None and picture.shape[0] == 2 * (64 + 4) + 4
    assert list(tmp_path.iterdir()) == [out]
    occlusion_overlay_grid(images, maps[:, None], tmp_path / "maps4d.png")  # the model's (N, 1, n, n) works too
    with pytest.raises(ConfigError, match="maps"):
        occlusion_overlay_grid(images, maps[:3], tmp_path / "bad.png")


def test_occlusion_map_supervision_against_a_hand_computed_bce() -> None:
    from ferkit.models.occlusion_net import region_coverage

    masks = torch.zeros(2, 48, 48)
    masks[0, :24, :] = 1.0  # top half covered
    coverage = region_coverage(masks, 2)
    torch.testing.assert_close(coverage[0, 0], torch.tensor([[1.0, 1.0], [0.0, 0.0]]))
    assert coverage[1].sum() == 0

    torch.manual_seed(0)
    model = build_model("occlusion_net", num_classes=3, backbone="modified_resnet18", map_size=2, occlusion_mask_weight=0.5)
    assert model.needs_occlusion_masks
    aux = model.forward_train(torch.randn(2, 1, 48, 48), occlusion_masks=masks).aux_losses
    p = model.backbone.last_occlusion_map.clamp(1e-6, 1 - 1e-6)
    expected = -(coverage * p.log() + (1 - coverage) * (1 - p).log()).mean()
    torch.testing.assert_close(aux["occlusion_mask"], 0.5 * expected)
    aux["occlusion_mask"].backward()
    assert model.backbone.occlusion_module.perception.score.weight.grad.abs().sum() > 0
    unsupervised = build_model("occlusion_net", num_classes=3, backbone="modified_resnet18")
    assert not unsupervised.needs_occlusion_masks
    assert set(unsupervised.forward_train(torch.randn(2, 1, 48, 48), occlusion_masks=masks).aux_losses) == {"occlusion_l1"}
    with pytest.raises(ConfigError, match="occlusion_mask_weight"):
        build_model("occlusion_net", num_classes=3, backbone="modified_resnet18", occlusion_mask_weight=-1.0)


def test_map_agreement_scores_a_perfect_an_inverted_and_a_flat_map() -> None:
    from ferkit.evaluate.occlusion_maps import map_agreement

    masks = np.zeros((3, 48, 48), bool)
    masks[:, :24, :24] = True  # the top-left quarter of each face is covered
    perfect = np.zeros((3, 2, 2))
    perfect[:, 0, 0] = 0.9
    result = map_agreement(perfect, masks)
    assert result["auc"] == 1.0 and result["mean_on_covered"] == pytest.approx(0.9) and result["mean_on_clean"] == 0.0
    assert result["covered_cells"] == 3 and result["clean_cells"] == 9
    assert map_agreement(0.9 - perfect, masks)["auc"] == 0.0
    assert map_agreement(np.full((3, 1, 2, 2), 0.1), masks)["auc"] == 0.5
    with pytest.raises(ConfigError, match="same N"):
        map_agreement(perfect[:2], masks)


def test_geometry_residual_starts_as_the_plain_o_b_branch_and_learns_its_gamma() -> None:
    torch.manual_seed(0)
    module = GeometryAwareModule(32, 8, 16, residual=True).eval()
    x = torch.randn(2, 32, 3, 3)
    torch.testing.assert_close(module(x), module.project(module.branch_b(x)))  # gamma = 0: no mixing yet
    module.train()
    module(x).sum().backward()
    assert module.gamma is not None and module.gamma.grad is not None and float(module.gamma.grad.abs()) > 0
    plain = GeometryAwareModule(32, 8, 16)
    assert plain.gamma is None and "gamma" not in plain.state_dict()  # v3 checkpoints keep loading
    net = build_model("occlusion_net", num_classes=7, backbone="modified_resnet18", geometry_residual=True)
    assert any(k.endswith("occlusion_module.geometry.gamma") for k in net.state_dict())
