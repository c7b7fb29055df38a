"""Occluder layers for a batch: drawn on the host, composited where the batch lives.

Drawing an occluder (procedural shapes, the width search for a target ratio) is OpenCV work on the
host, but it never reads the face's pixels. So training draws only the layers there, with the
seeded numpy generator, and composites them onto the uint8 batch on its own device: the images
never travel to the host and back. The compositing is the same float32 arithmetic as
``placement._composite``, so a batch is occluded bit for bit as ``RandomOcclusion.apply`` would.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch

# ITU-R BT.601 luminance: grayscale faces get the occluder's brightness.
LUMINANCE = np.array([0.299, 0.587, 0.114], np.float32)
# uint8 -> float32 / 255 as numpy computes it (a GPU divides by a scalar through its reciprocal).
_UNIT = torch.from_numpy(np.arange(256, dtype=np.float32) / 255.0)


@dataclass(frozen=True)
class BatchOccluders:
    """The occluders of one batch of ``batch_size`` images: ``rows`` (K,) are the occluded images,
    ``alpha`` (K, H, W) float32 their layers' opacity, ``colour`` (K, H, W) float32 for grayscale
    batches or (K, H, W, 3) for RGB. Covered pixels are alpha > 0.5."""

    batch_size: int
    rows: np.ndarray
    alpha: np.ndarray
    colour: np.ndarray

    @staticmethod
    def from_layers(batch_size: int, rows: np.ndarray, rgba_layers: list[np.ndarray], image_shape: tuple[int, ...]) -> "BatchOccluders":
        h, w = image_shape[:2]
        gray = len(image_shape) == 2
        if not rgba_layers:
            return BatchOccluders(batch_size, rows, np.zeros((0, h, w), np.float32), np.zeros((0, *image_shape), np.float32))
        alpha = np.stack([rgba[..., 3] for rgba in rgba_layers])
        colour = np.stack([rgba[..., :3] @ LUMINANCE if gray else rgba[..., :3] for rgba in rgba_layers])
        return BatchOccluders(batch_size, rows, alpha, colour)

    def masks(self) -> np.ndarray:
        """(batch_size, H, W) bool: covered pixels, all False for images left clean."""
        out = np.zeros((self.batch_size, *self.alpha.shape[1:]), bool)
        out[self.rows] = self.alpha > 0.5
        return out

    def apply_numpy(self, images: np.ndarray) -> np.ndarray:
        """Composite onto a uint8 batch (B, H, W) or (B, H, W, 3) held in host memory; returns a new batch."""
        out = images.copy()
        alpha = self.alpha if images.ndim == 3 else self.alpha[..., None]
        base = images[self.rows].astype(np.float32) / 255.0
        blended = alpha * self.colour + (1.0 - alpha) * base
        out[self.rows] = np.clip(blended * 255.0 + 0.5, 0, 255).astype(np.uint8)
        return out


def composite_on_device(images: torch.Tensor, occluders: BatchOccluders) -> tuple[torch.Tensor, torch.Tensor]:
    """Composite ``occluders`` onto a uint8 batch (B, H, W) or (B, H, W, 3) on any device.

    Returns (occluded batch, same shape and dtype; covered masks (B, H, W) bool), on the batch's
    device. Only the K layers cross to the device, never the batch.
    """
    device = images.device
    masks = torch.zeros((images.shape[0], *images.shape[1:3]), dtype=torch.bool, device=device)
    if len(occluders.rows) == 0:
        return images, masks
    rows = torch.from_numpy(occluders.rows).to(device)
    alpha = torch.from_numpy(occluders.alpha).to(device)
    colour = torch.from_numpy(occluders.colour).to(device)
    masks[rows] = alpha > 0.5
    if images.ndim == 4:
        alpha = alpha[..., None]
    base = _UNIT.to(device)[images[rows].long()]
    blended = alpha * colour + (1.0 - alpha) * base
    out = images.clone()
    out[rows] = (blended * 255.0 + 0.5).clamp_(0, 255).to(torch.uint8)
    return out, masks
