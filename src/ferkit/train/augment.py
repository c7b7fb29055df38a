"""Batched augmentation on the training device: flips, small affine, brightness/contrast, random erasing.

The whole batch is transformed with a few tensor ops (one ``grid_sample`` for all affine
warps), so on a GPU the data pipeline never waits on Python per-image code.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F

from ferkit.occlusion.erasing import random_erasing_with_mask, uniform
from ferkit.train.config import AugmentConfig


def augment_batch(x: torch.Tensor, cfg: AugmentConfig, gen: torch.Generator) -> torch.Tensor:
    """Augment a normalised batch (B, C, H, W) in [-1, 1]; returns a new tensor of the same shape."""
    return augment_batch_with_mask(x, cfg, gen)[0]


def augment_batch_with_mask(
    x: torch.Tensor, cfg: AugmentConfig, gen: torch.Generator, mask: torch.Tensor | None = None
) -> tuple[torch.Tensor, torch.Tensor | None]:
    """``augment_batch`` that also carries an occlusion mask (B, H, W) in [0, 1] through the same flips
    and warp, and adds the randomly erased rectangles to it, so the mask keeps marking the covered
    pixels of the augmented image (the target of occlusion-map supervision). The random draws are the
    same with and without a mask: a run's images do not change when supervision is switched on."""
    b, c, h, w = x.shape
    dev = x.device
    if mask is not None:
        if mask.shape != (b, h, w):
            raise ValueError(f"mask must be (B, H, W) = {(b, h, w)}, got {tuple(mask.shape)}")
        x = torch.cat([x, mask.to(x.dtype)[:, None]], dim=1)  # warped together, split before photometric ops
    if cfg.hflip:
        flip = torch.rand(b, generator=gen, device=dev) < 0.5
        x = torch.where(flip[:, None, None, None], x.flip(-1), x)
    if cfg.vflip:
        flip = torch.rand(b, generator=gen, device=dev) < 0.5
        x = torch.where(flip[:, None, None, None], x.flip(-2), x)
    if cfg.rotation_deg or cfg.scale or cfg.translate:
        angle = uniform(b, -cfg.rotation_deg, cfg.rotation_deg, gen, dev) * (math.pi / 180)
        zoom = uniform(b, 1 - cfg.scale, 1 + cfg.scale, gen, dev)
        tx = uniform(b, -cfg.translate, cfg.translate, gen, dev) * 2
        ty = uniform(b, -cfg.translate, cfg.translate, gen, dev) * 2
        cos, sin = torch.cos(angle) / zoom, torch.sin(angle) / zoom
        theta = torch.stack([torch.stack([cos, -sin, tx], 1), torch.stack([sin, cos, ty], 1)], 1)
        grid = F.affine_grid(theta.to(x.dtype), list(x.shape), align_corners=False)
        x = F.grid_sample(x, grid, mode="bilinear", padding_mode="border", align_corners=False)
    if mask is not None:
        x, mask = x[:, :c].contiguous(), x[:, c]
    if cfg.brightness or cfg.contrast:
        contrast = uniform(b, 1 - cfg.contrast, 1 + cfg.contrast, gen, dev)[:, None, None, None]
        bright = uniform(b, -cfg.brightness, cfg.brightness, gen, dev)[:, None, None, None] * 2
        mean = x.mean(dim=(1, 2, 3), keepdim=True)
        x = ((x - mean) * contrast + mean + bright).clamp_(-1, 1)
    if cfg.erasing_p > 0:
        x, erased = random_erasing_with_mask(x, cfg.erasing_p, cfg.erasing_area, gen)
        if mask is not None:
            mask = torch.maximum(mask, erased.to(mask.dtype))
    return x, mask
