"""Random erasing (Zhong et al. 2020), the training augmentation, and fixed randomly-erased copies of a
dataset: papers 000/001's "randomly erased CK+" test images."""

from __future__ import annotations

import math

import numpy as np
import torch

from ferkit.data.dataset import FaceDataset
from ferkit.checks import check_number, check_share_range


def uniform(n: int, low: float, high: float, gen: torch.Generator, device: torch.device) -> torch.Tensor:
    """(n,) draws from U[low, high) on ``device``."""
    return torch.rand(n, generator=gen, device=device) * (high - low) + low


def random_erasing(x: torch.Tensor, p: float, area: tuple[float, float], gen: torch.Generator) -> torch.Tensor:
    """Random erasing (Zhong et al. 2020): with probability p, a rectangle of ``area`` fraction of the
    image, aspect ratio in [0.3, 3.3], filled with uniform noise. Vectorised over the batch."""
    return random_erasing_with_mask(x, p, area, gen)[0]


def random_erasing_with_mask(x: torch.Tensor, p: float, area: tuple[float, float], gen: torch.Generator) -> tuple[torch.Tensor, torch.Tensor]:
    """``random_erasing`` and the erased pixels as a (B, H, W) bool mask."""
    b, c, h, w = x.shape
    dev = x.device
    apply = torch.rand(b, generator=gen, device=dev) < p
    frac = uniform(b, area[0], area[1], gen, dev)
    log_ratio = uniform(b, math.log(0.3), math.log(3.3), gen, dev)
    ratio = torch.exp(log_ratio)
    eh = (torch.sqrt(frac * h * w * ratio)).clamp(1, h)
    ew = (torch.sqrt(frac * h * w / ratio)).clamp(1, w)
    top = torch.rand(b, generator=gen, device=dev) * (h - eh)
    left = torch.rand(b, generator=gen, device=dev) * (w - ew)
    rows = torch.arange(h, device=dev)[None, :, None]
    cols = torch.arange(w, device=dev)[None, None, :]
    mask = (rows >= top[:, None, None]) & (rows < (top + eh)[:, None, None]) & (cols >= left[:, None, None]) & (cols < (left + ew)[:, None, None])
    mask = mask & apply[:, None, None]
    noise = torch.rand(x.shape, generator=gen, device=dev, dtype=x.dtype) * 2 - 1
    return torch.where(mask[:, None], noise, x), mask


def erase_dataset(dataset: FaceDataset, *, p: float = 0.5, area: tuple[float, float] = (0.02, 0.25), seed: int = 0) -> FaceDataset:
    """Apply random erasing (the training augmentation, noise-filled rectangles) once, reproducibly from ``seed``.

    ``p``: share of images erased, in [0, 1]; ``area``: (low, high) share of an image one rectangle covers, with
    0 < low <= high <= 1 (p=-1 erased nothing and area=(0.5, 3.0) nearly everything, silently, before)."""
    check_number("p", p, low=0.0, high=1.0, meaning="share of images to erase")
    check_share_range("area", area, meaning="shares of the image one rectangle covers")
    x = torch.from_numpy(dataset.images).float().div(255).unsqueeze(1) * 2 - 1
    erased = random_erasing(x, p, area, torch.Generator().manual_seed(seed))
    images = ((erased[:, 0] + 1) / 2 * 255).round().clamp(0, 255).to(torch.uint8).numpy()
    out = dataset.with_images(np.ascontiguousarray(images), f"erased-{dataset.name}")
    out.extra["erasing"] = {"p": p, "area": list(area), "seed": seed}
    return out
