"""Batched inference on uint8 face crops, with optional test-time augmentation.

TTA modes: ``none``; ``flip`` (average with the mirror image); ``tencrop`` (four corner crops and
the centre crop at 90% of the side, resized back to the model's input, plus their mirrors:
the ten-crop of paper 003, adapted to models trained on whole 48x48 crops).
"""

from __future__ import annotations

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F

from ferkit.artifacts.preprocess import to_model_input
from ferkit.constants import TTA_MODES
from ferkit.checks import check_count
from ferkit.errors import ConfigError


def _ten_crops(x: torch.Tensor, fraction: float = 0.9) -> list[torch.Tensor]:
    _, _, h, w = x.shape
    ch, cw = int(round(h * fraction)), int(round(w * fraction))
    offsets = [(0, 0), (0, w - cw), (h - ch, 0), (h - ch, w - cw), ((h - ch) // 2, (w - cw) // 2)]
    crops = [F.interpolate(x[:, :, t : t + ch, l : l + cw], size=(h, w), mode="bilinear", align_corners=False) for t, l in offsets]
    return crops + [c.flip(-1) for c in crops]


def views(x: torch.Tensor, tta: str) -> list[torch.Tensor]:
    """The input views a TTA mode averages over."""
    if tta == "none":
        return [x]
    if tta == "flip":
        return [x, x.flip(-1)]
    if tta == "tencrop":
        return _ten_crops(x)
    raise ConfigError(f"tta must be one of {TTA_MODES}, got {tta!r}")


@torch.no_grad()
def predict_probabilities(
    model: nn.Module,
    images: np.ndarray,
    *,
    in_chans: int = 1,
    image_size: int = 48,
    tta: str = "none",
    batch_size: int = 256,
    device: str | torch.device = "cpu",
) -> np.ndarray:
    """images (N, H, W) uint8 -> class probabilities (N, C) float32, averaged over TTA views."""
    if tta not in TTA_MODES:
        raise ConfigError(f"tta must be one of {TTA_MODES}, got {tta!r}")
    check_count("batch_size", batch_size, least=1)
    was_training = model.training
    model.eval()
    out = []
    for start in range(0, len(images), batch_size):
        batch = torch.from_numpy(np.ascontiguousarray(images[start : start + batch_size])).to(device)
        x = to_model_input(batch, in_chans, image_size)
        probs = torch.stack([F.softmax(model(v).float(), dim=1) for v in views(x, tta)]).mean(0)
        out.append(probs.cpu().numpy())
    model.train(was_training)
    return np.concatenate(out) if out else np.zeros((0, 0), np.float32)


@torch.no_grad()
def predict_embeddings(model: nn.Module, images: np.ndarray, *, in_chans: int = 1, image_size: int = 48, batch_size: int = 256, device: str | torch.device = "cpu") -> np.ndarray:
    """images (N, H, W) uint8 -> embeddings (N, D) from ``model.forward_embedding``."""
    was_training = model.training
    model.eval()
    out = []
    check_count("batch_size", batch_size, least=1)
    for start in range(0, len(images), batch_size):
        batch = torch.from_numpy(np.ascontiguousarray(images[start : start + batch_size])).to(device)
        out.append(model.forward_embedding(to_model_input(batch, in_chans, image_size)).float().cpu().numpy())
    model.train(was_training)
    return np.concatenate(out)
