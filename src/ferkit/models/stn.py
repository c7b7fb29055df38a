"""Spatial transformer (papers 000/001) and the TL-STN models built on it.

The STN warps each input face with an affine transform predicted from the face itself, so the
backbone sees the region that matters for the expression. Localization network as in papers
000/001: two (conv -> max-pool -> ReLU) stages and one fully connected layer returning the six
affine parameters. The regressor starts at zero weights and identity bias, so an untrained STN
returns its input unchanged and training starts from the plain backbone.
"""

from __future__ import annotations


import torch
import torch.nn as nn
import torch.nn.functional as F

from ferkit.models import resnet
from ferkit.models.factory import TIMM_RESNET_OPTIONS, classifier_builder, register_model

_IDENTITY_THETA = (1.0, 0.0, 0.0, 0.0, 1.0, 0.0)


class SpatialTransformer(nn.Module):
    """Affine spatial transformer: x (B, C, H, W) -> warped x, same shape.

    Any ``in_chans`` and any input size of at least ~20 px: the localization features are
    adaptively pooled to a fixed 3x3 grid before the regressor, so 48 and 96 px share one design.
    ``last_theta`` (B, 2, 3) and ``last_output`` (B, C, H, W), both detached, keep the latest
    forward pass for inspection (figures of what the STN attends to).
    """

    def __init__(self, in_chans: int = 1, *, loc_channels: tuple[int, int] = (8, 10), pooled_size: int = 3) -> None:
        super().__init__()
        c1, c2 = loc_channels
        # Kernel sizes and widths follow the original STN (Jaderberg et al.) / PyTorch STN tutorial,
        # which the papers' Figure 1b mirrors.
        self.localization = nn.Sequential(
            nn.Conv2d(in_chans, c1, kernel_size=7),
            nn.MaxPool2d(2, stride=2),
            nn.ReLU(inplace=True),
            nn.Conv2d(c1, c2, kernel_size=5),
            nn.MaxPool2d(2, stride=2),
            nn.ReLU(inplace=True),
            nn.AdaptiveAvgPool2d(pooled_size),
            nn.Flatten(),
        )
        # Papers 000/001: one fully connected layer regresses theta.
        self.regressor = nn.Linear(c2 * pooled_size * pooled_size, 6)
        nn.init.zeros_(self.regressor.weight)
        with torch.no_grad():
            self.regressor.bias.copy_(torch.tensor(_IDENTITY_THETA))
        self.last_theta: torch.Tensor | None = None
        self.last_output: torch.Tensor | None = None

    def predict_theta(self, x: torch.Tensor) -> torch.Tensor:
        """Affine parameters (B, 2, 3) mapping output to input coordinates in [-1, 1]."""
        return self.regressor(self.localization(x)).view(-1, 2, 3)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        theta = self.predict_theta(x)
        # align_corners=False: identity theta samples exactly at pixel centres, so identity is exact.
        grid = F.affine_grid(theta.to(x.dtype), list(x.shape), align_corners=False)
        out = F.grid_sample(x, grid, mode="bilinear", padding_mode="zeros", align_corners=False)
        self.last_theta = theta.detach()
        self.last_output = out.detach()
        return out

    @torch.no_grad()
    def transform(self, x: torch.Tensor) -> torch.Tensor:
        """Warped images (B, C, H, W) without gradients: what the backbone sees, for figures."""
        return self(x)


# Paper 000's TL-STN: STN + modified (one block per stage) ResNet-18; trained with "triplet_abn".
register_model("tl_stn")(classifier_builder(resnet.modified_resnet18, input_transform=SpatialTransformer, backbone_options=TIMM_RESNET_OPTIONS))
# Paper 000's ablation (Tables 2/3): STN + the original ResNet-18.
register_model("stn_resnet18")(classifier_builder(resnet.resnet18, input_transform=SpatialTransformer, backbone_options=TIMM_RESNET_OPTIONS))
