"""Paper 003's occlusion-adaptive network: a ResNet whose last stage becomes an occlusion-adaptive module.

The module reads the previous stage's feature map x (B, C_in, h, w) through two parts:

* geometry-aware module (branches O_A: 1x1 -> 5x5 conv, O_B: 1x1 -> 3x3 conv, each conv + BN +
  ReLU) whose outputs are combined by the "matrix cross product" f = f_A^T f_B (paper eq. 2), then
  a 1x1 conv -> geometric features f (B, C_out, h, w);
* occlusion-perception module O_C (two convs with O_B's filter sizes 1x1 and 3x3, two poolings,
  sigmoid) -> occlusion probability M (B, 1, N, N) for an N x N grid of face regions (N = 7).

Regions whose occlusion probability is >= alpha are treated as occluded (eq. 4: keep m = 1 where
occ < alpha, else 0) and the output is F = m * f + f (eq. 6), pooled to (B, C_out). M is made
sparse by an L1 penalty, returned with the features by ``forward_train``. Single- and double-channel training use the same
network (the double channel shares weights); they differ only in batches and loss (``pairs`` /
``siamese``).
"""

from __future__ import annotations

import torch
import torch.nn as nn
import torch.nn.functional as F

from ferkit.errors import ConfigError
from ferkit.models import resnet
from ferkit.models.factory import register_model
from ferkit.models.heads import AuxiliaryBackbone, FerNet

BACKBONES = {"resnet50": resnet.resnet50, "resnet18": resnet.resnet18, "modified_resnet18": resnet.modified_resnet18}


def _conv_bn_relu(in_chs: int, out_chs: int, kernel_size: int) -> nn.Sequential:
    return nn.Sequential(nn.Conv2d(in_chs, out_chs, kernel_size, padding=kernel_size // 2, bias=False), nn.BatchNorm2d(out_chs), nn.ReLU(inplace=True))


class GeometryAwareModule(nn.Module):
    """x (B, C_in, h, w) -> geometric relation features (B, C_out, h, w).

    Eq. 2, f = f_A^T f_B: with each branch's output flattened to a (C, h*w) matrix, the product
    f_A f_B^T / (h*w) is the (C, C) bilinear outer product of the two branches' channel
    descriptors summed over all positions -- the correlation between feature channels of Zhu et
    al. [33], which the paper cites, and a non-local operation (every position contributes). The
    paper then needs a spatial map again (M multiplies it region by region), which it leaves
    implicit; we row-normalise the (C, C) relation with a softmax and apply it to f_B, so each
    position's new channel vector is a relation-weighted mix of its O_B channels (channel
    attention as in DANet), then the paper's final 1x1 conv.

    ``residual``: DANet's full form, gamma * mix + f_B with a learned gamma starting at 0. Without it the
    softmax rows start nearly uniform (the relation of 64 channels is flat at initialisation), so every
    output channel starts as about the same average map: an audit measured the channels' effective rank
    fall from 8 to 2. With it the module starts as the plain O_B branch and learns how much mixing helps.
    """

    def __init__(self, in_chs: int, mid_chs: int, out_chs: int, *, residual: bool = False) -> None:
        super().__init__()
        self.branch_a = nn.Sequential(_conv_bn_relu(in_chs, mid_chs, 1), _conv_bn_relu(mid_chs, mid_chs, 5))
        self.branch_b = nn.Sequential(_conv_bn_relu(in_chs, mid_chs, 1), _conv_bn_relu(mid_chs, mid_chs, 3))
        self.project = _conv_bn_relu(mid_chs, out_chs, 1)
        self.gamma = nn.Parameter(torch.zeros(1)) if residual else None

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        b, _, h, w = x.shape
        f_a = self.branch_a(x).flatten(2)  # (B, C, hw)
        f_b = self.branch_b(x).flatten(2)
        relation = torch.bmm(f_a, f_b.transpose(1, 2)) / (h * w)  # (B, C, C) channel outer product
        mixed = torch.bmm(relation.softmax(dim=-1), f_b)  # (B, C, hw)
        if self.gamma is not None:
            mixed = self.gamma * mixed + f_b
        return self.project(mixed.view(b, -1, h, w))


def region_coverage(masks: torch.Tensor, map_size: int) -> torch.Tensor:
    """(B, H, W) covered-pixel masks in [0, 1] -> (B, 1, N, N): the covered fraction of each face region."""
    if masks.ndim != 3:
        raise ValueError(f"occlusion masks must be (B, H, W), got shape {tuple(masks.shape)}")
    return F.adaptive_avg_pool2d(masks[:, None].float(), map_size)


class OcclusionPerceptionModule(nn.Module):
    """x (B, C_in, h, w) -> occlusion probability per face region (B, 1, N, N) in [0, 1].

    conv 1x1 + BN + ReLU -> adaptive average pool onto the N x N region grid (works for any h, w,
    also h < N at 48 px input) -> conv 3x3 -> 3x3 average pool (smooths neighbouring regions) ->
    sigmoid. The last conv's bias starts at logit(0.25): every region starts below alpha = 0.5,
    i.e. visible, so training starts from the plain geometric features.
    """

    def __init__(self, in_chs: int, mid_chs: int, map_size: int = 7, init_probability: float = 0.25) -> None:
        super().__init__()
        self.reduce = _conv_bn_relu(in_chs, mid_chs, 1)
        self.grid_pool = nn.AdaptiveAvgPool2d(map_size)
        self.score = nn.Conv2d(mid_chs, 1, 3, padding=1)
        self.smooth_pool = nn.AvgPool2d(3, stride=1, padding=1, count_include_pad=False)
        nn.init.normal_(self.score.weight, std=1e-3)
        nn.init.constant_(self.score.bias, float(torch.logit(torch.tensor(init_probability))))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.sigmoid(self.smooth_pool(self.score(self.grid_pool(self.reduce(x)))))


class OcclusionAdaptiveModule(nn.Module):
    """Geometry-aware + occlusion-perception modules: x (B, C_in, h, w) -> F (B, C_out, h, w) and M (B, 1, N, N)."""

    def __init__(self, in_chs: int, out_chs: int, *, map_size: int = 7, alpha: float = 0.5, geometry_residual: bool = False) -> None:
        super().__init__()
        self.geometry = GeometryAwareModule(in_chs, max(in_chs // 4, 16), out_chs, residual=geometry_residual)
        self.perception = OcclusionPerceptionModule(in_chs, max(in_chs // 4, 16), map_size)
        self.alpha = alpha

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        f = self.geometry(x)
        occlusion = self.perception(x)
        # Eq. 4: keep a region (m = 1) when its occlusion probability is below alpha, drop it (m = 0)
        # otherwise. The step has no gradient, so gradients pass as if m = 1 - p (straight-through),
        # letting the classification loss teach the map where occlusion hurts.
        soft_keep = 1.0 - occlusion
        hard_keep = (occlusion < self.alpha).to(f.dtype)
        keep = hard_keep + soft_keep - soft_keep.detach()
        keep = F.adaptive_avg_pool2d(keep, f.shape[-2:])  # N x N regions onto the h x w feature grid
        return keep * f + f, occlusion  # eq. 6


class OcclusionNetBackbone(AuxiliaryBackbone):
    """ResNet stem + stages 1-3 (timm, via ``ferkit.models.resnet``) + occlusion-adaptive module + pooling.

    x (B, in_chans, H, W) -> pooled features (B, num_features); ``forward_train`` also returns the
    losses on the occlusion map M of that same pass (``occlusion_losses``). After each forward,
    ``last_occlusion_map`` (B, 1, N, N), detached, keeps the predicted probabilities for inspection.
    """

    def __init__(
        self, trunk: nn.Module, *, map_size: int = 7, alpha: float = 0.5, occlusion_l1_weight: float = 0.01,
        occlusion_mask_weight: float = 0.0, drop_rate: float = 0.0, geometry_residual: bool = False,
    ) -> None:
        super().__init__()
        info = {f["module"]: f["num_chs"] for f in trunk.feature_info}
        self.num_features = int(trunk.num_features)
        # Keep the trunk up to stage 3; paper 003 replaces the last residual stage with its module.
        self.stem = nn.Sequential(trunk.conv1, trunk.bn1, trunk.act1, trunk.maxpool)
        self.stages = nn.Sequential(trunk.layer1, trunk.layer2, trunk.layer3)
        self.occlusion_module = OcclusionAdaptiveModule(info["layer3"], self.num_features, map_size=map_size, alpha=alpha,
                                                        geometry_residual=geometry_residual)
        self.dropout = nn.Dropout(drop_rate) if drop_rate > 0 else nn.Identity()
        self.occlusion_l1_weight = occlusion_l1_weight
        self.occlusion_mask_weight = occlusion_mask_weight
        self.map_size = map_size
        self.last_occlusion_map: torch.Tensor | None = None

    def _features_and_map(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """(B, num_features, h, w) occlusion-weighted feature map F and the occlusion map M (B, 1, N, N)."""
        features, occlusion = self.occlusion_module(self.stages(self.stem(x)))
        self.last_occlusion_map = occlusion.detach()
        return features, occlusion

    # Where a plain timm ResNet's tensors live in this backbone, so that a ResNet trained on FER2013 can be the
    # start weights (train/transfer.py reads this): the stem and the first three stages are the same modules.
    init_key_aliases = {"conv1.": "stem.0.", "bn1.": "stem.1.", "layer1.": "stages.0.", "layer2.": "stages.1.", "layer3.": "stages.2."}

    def forward_features(self, x: torch.Tensor) -> torch.Tensor:
        """(B, num_features, h, w) occlusion-weighted feature map F."""
        return self._features_and_map(x)[0]

    def _pool(self, features: torch.Tensor) -> torch.Tensor:
        return self.dropout(F.adaptive_avg_pool2d(features, 1).flatten(1))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self._pool(self.forward_features(x))

    def forward_train(self, x: torch.Tensor, *, occlusion_masks: torch.Tensor | None = None) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
        """Pooled features (B, num_features) and ``occlusion_losses`` of this pass's map."""
        features, occlusion = self._features_and_map(x)
        # Outside autocast: CUDA autocast refuses binary_cross_entropy, and the map keeps the dtype it was made in.
        with torch.autocast(device_type=occlusion.device.type, enabled=False):
            losses = self.occlusion_losses(occlusion, occlusion_masks)
        return self._pool(features), losses

    @property
    def needs_occlusion_masks(self) -> bool:  # type: ignore[override]
        """True when training should pass the synthetic occluders' masks to ``forward_train``."""
        return self.occlusion_mask_weight > 0

    def occlusion_losses(self, occlusion: torch.Tensor, occlusion_masks: torch.Tensor | None = None) -> dict[str, torch.Tensor]:
        """Losses on an occlusion map M (B, 1, N, N).

        "occlusion_l1": l1 weight * mean |M| (paper 003's sparsity term). With ``occlusion_masks``
        (B, H, W) in [0, 1], the pixels the synthetic occluders covered, and a mask weight > 0, also
        "occlusion_mask": weight * BCE(M, covered fraction of each of the N x N regions). Paper 003
        learns M from the classification loss alone; at our budget that map collapsed to "nothing is
        occluded", and the synthetic occluders know exactly where they are, so this supervises it.
        """
        losses = {"occlusion_l1": self.occlusion_l1_weight * occlusion.abs().mean()}
        if occlusion_masks is not None and self.occlusion_mask_weight > 0:
            target = region_coverage(occlusion_masks, self.map_size).to(occlusion.dtype)
            if target.shape[0] != occlusion.shape[0]:
                raise ValueError(f"occlusion_masks hold {target.shape[0]} images but the batch has {occlusion.shape[0]}")
            bce = F.binary_cross_entropy(occlusion.float().clamp(1e-6, 1 - 1e-6), target.float())
            losses["occlusion_mask"] = self.occlusion_mask_weight * bce
        return losses

    @torch.no_grad()
    def occlusion_map(self, x: torch.Tensor) -> torch.Tensor:
        """Occlusion probabilities (B, 1, N, N) for x, without touching gradients."""
        return self._features_and_map(x)[1]


@register_model("occlusion_net")
def occlusion_net(
    *,
    num_classes: int,
    in_chans: int = 1,
    pretrained: bool = False,
    backbone: str = "resnet50",
    map_size: int = 7,
    alpha: float = 0.5,
    occlusion_l1_weight: float = 0.01,
    occlusion_mask_weight: float = 0.0,
    embedding_dim: int | None = None,
    normalize_embedding: bool = False,
    dropout: float = 0.0,
    drop_rate: float = 0.0,
    geometry_residual: bool = False,
) -> FerNet:
    """Paper 003's occlusion-adaptive ResNet (ResNet-50 in the paper) as a FerNet classifier.

    ``occlusion_l1_weight`` scales the L1 sparsity of the occlusion map (the paper gives no value);
    ``occlusion_mask_weight`` > 0 supervises the map with the synthetic occluders' masks (our addition);
    ``geometry_residual`` adds DANet's residual to the geometry-aware module (``GeometryAwareModule``).
    """
    if backbone not in BACKBONES:
        raise ConfigError(f"occlusion_net: unknown backbone {backbone!r}; available: {', '.join(BACKBONES)}")
    if map_size < 1:
        raise ConfigError(f"occlusion_net: map_size (regions per side of the occlusion map) must be >= 1, got {map_size}")
    if not 0.0 < alpha < 1.0:
        raise ConfigError(f"occlusion_net: alpha (occlusion threshold) must be in (0, 1), got {alpha}")
    if occlusion_l1_weight < 0:
        raise ConfigError(f"occlusion_net: occlusion_l1_weight must be >= 0, got {occlusion_l1_weight}")
    if occlusion_mask_weight < 0:
        raise ConfigError(f"occlusion_net: occlusion_mask_weight must be >= 0, got {occlusion_mask_weight}")
    trunk = BACKBONES[backbone](in_chans=in_chans, pretrained=pretrained)
    body = OcclusionNetBackbone(
        trunk, map_size=map_size, alpha=alpha, occlusion_l1_weight=occlusion_l1_weight,
        occlusion_mask_weight=occlusion_mask_weight, drop_rate=drop_rate, geometry_residual=geometry_residual,
    )
    return FerNet(body, body.num_features, num_classes, embedding_dim=embedding_dim, normalize_embedding=normalize_embedding, dropout=dropout)
