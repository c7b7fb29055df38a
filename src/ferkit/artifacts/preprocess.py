"""Face crops -> the model's input: every ferkit model takes (B, C, S, S) float in [-1, 1] ((x / 255 - 0.5) / 0.5).

One definition for training, evaluation and the Recognizer: ``to_model_input`` on torch tensors (on any
device) and ``model_input_array`` on numpy arrays for ONNX Runtime (no torch round trip).
"""

from __future__ import annotations

import numpy as np
import torch
import torch.nn.functional as F

from ferkit.errors import ConfigError


def _check_crops(crops: object, kind: type, uint8: object, function: str) -> None:
    """(N, H, W) uint8 or a ConfigError naming what came: a (N, H, W, 3) colour batch gained a dimension and float
    crops in [0, 1] were divided by 255 again (every value near -1), both silently, before."""
    if not isinstance(crops, kind):
        other = "model_input_array" if kind is torch.Tensor else "to_model_input"
        raise ConfigError(f"{function} takes a {kind.__module__.split('.')[0]} {kind.__name__}, got {type(crops).__name__}; use {other} for that")
    if crops.ndim != 3 or crops.dtype != uint8:
        raise ConfigError(f"{function} takes gray face crops (N, H, W) uint8 in 0-255, got shape {tuple(crops.shape)} {crops.dtype}; "
                          "convert colour crops to gray and scale float crops to 0-255 uint8 first")


def to_model_input(images_uint8: torch.Tensor, in_chans: int = 1, image_size: int | None = None) -> torch.Tensor:
    """(B, H, W) uint8 -> (B, in_chans, S, S) float normalised to [-1, 1], as every ferkit model expects."""
    _check_crops(images_uint8, torch.Tensor, torch.uint8, "to_model_input")
    x = images_uint8.unsqueeze(1).float().div_(255.0)
    if image_size is not None and x.shape[-1] != image_size:
        x = F.interpolate(x, size=(image_size, image_size), mode="bilinear", align_corners=False)
    x = (x - 0.5) / 0.5
    return x.expand(-1, in_chans, -1, -1).contiguous() if in_chans != 1 else x


def model_input_array(crops: np.ndarray, in_chans: int = 1, image_size: int | None = None) -> np.ndarray:
    """``to_model_input`` in numpy: (N, H, W) uint8 -> (N, in_chans, S, S) float32 in [-1, 1] (OpenCV bilinear resize)."""
    import cv2

    _check_crops(crops, np.ndarray, np.uint8, "model_input_array")
    if image_size is not None and crops.shape[1:] != (image_size, image_size):
        crops = np.stack([cv2.resize(c, (image_size, image_size), interpolation=cv2.INTER_LINEAR) for c in crops])
    x = (crops.astype(np.float32) * (2.0 / 255.0) - 1.0)[:, None]
    return np.repeat(x, in_chans, axis=1) if in_chans != 1 else x
