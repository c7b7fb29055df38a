"""Fixed randomly-erased copies of a dataset: papers 000/001's "randomly erased CK+" test images."""

from __future__ import annotations

import numpy as np
import torch

from ferkit.data.dataset import FaceDataset


def erase_dataset(dataset: FaceDataset, *, p: float = 0.5, area: tuple[float, float] = (0.02, 0.25), seed: int = 0) -> FaceDataset:
    """Apply random erasing (the training augmentation, noise-filled rectangles) once, reproducibly from ``seed``."""
    from ferkit.train.augment import random_erasing

    x = torch.from_numpy(dataset.images).float().div(255).unsqueeze(1) * 2 - 1
    erased = random_erasing(x, p, area, torch.Generator().manual_seed(seed))
    images = ((erased[:, 0] + 1) / 2 * 255).round().clamp(0, 255).to(torch.uint8).numpy()
    out = dataset.with_images(np.ascontiguousarray(images), f"erased-{dataset.name}")
    out.extra["erasing"] = {"p": p, "area": list(area), "seed": seed}
    return out
