"""Training batches made on the device: gather by index, occlude, normalise, augment.

The whole training set lives on the training device as uint8 and each batch is gathered there by
index. Synthetic occluders are drawn on the host with the run's seeded numpy generator (OpenCV
shapes, small) and composited onto the batch where it lives (``ferkit.occlusion.batch``): the
images never go to the host and back.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np
import torch
import torch.nn.functional as F

from ferkit.data.dataset import FaceDataset
from ferkit.errors import ConfigError
from ferkit.artifacts import to_model_input
from ferkit.train.augment import augment_batch_with_mask
from ferkit.train.config import Recipe
from ferkit.train.mixup import BatchMixer, mixup_enabled

if TYPE_CHECKING:
    from ferkit.occlusion.batch import BatchOccluders


@dataclass
class Batch:
    """index (B,) training-set rows; x (B, C, S, S) float in [-1, 1], channels_last; y (B,) labels;
    occlusion_masks (B, S, S) in [0, 1], the covered pixels, when the model is supervised with them;
    targets (B, C) label distributions when the batch is mixed (mixup/cutmix), and then y is each row's
    dominant label (what train accuracy is counted against)."""

    index: torch.Tensor
    x: torch.Tensor
    y: torch.Tensor
    occlusion_masks: torch.Tensor | None = None
    targets: torch.Tensor | None = None


class BatchMaker:
    """``maker(indices, rng, gen)`` -> the augmented ``Batch`` of those training-set rows, on ``device``."""

    def __init__(self, recipe: Recipe, train_set: FaceDataset, device: torch.device, *, needs_occlusion_masks: bool) -> None:
        self.occluder = None
        if recipe.augment.occlusion_p > 0:
            from ferkit.occlusion import RandomOcclusion

            self.occluder = RandomOcclusion(p=recipe.augment.occlusion_p, ratio_range=recipe.augment.occlusion_ratio)
        if needs_occlusion_masks and self.occluder is None:
            raise ConfigError(f"recipe {recipe.tag}: the model supervises its occlusion map with synthetic occluder masks, so augment.occlusion_p must be > 0")
        self.needs_occlusion_masks = needs_occlusion_masks
        self.mixer = None
        if mixup_enabled(recipe.mixup):
            if needs_occlusion_masks:
                raise ConfigError(f"recipe {recipe.tag}: mixup/cutmix blends two faces, so the occluder masks the model is supervised with "
                                  "would no longer describe the image; leave mixup empty for this model")
            self.mixer = BatchMixer(recipe.mixup, len(train_set.class_names))
        self.recipe = recipe
        self.images = torch.from_numpy(train_set.images).to(device)
        self.labels = torch.from_numpy(train_set.labels).to(device)

    @property
    def can_prefetch(self) -> bool:
        """True when the occluders are the only draws from the numpy generator during an epoch, so a
        thread can draw them ahead (``ferkit.train.prefetch``) without changing any batch."""
        return self.occluder is not None and self.mixer is None

    def draw_occluders(self, indices: np.ndarray, rng: np.random.Generator) -> BatchOccluders | None:
        """The occluder layers of the batch of ``indices`` (host work, no pixels read); None without occlusion."""
        if self.occluder is None:
            return None
        return self.occluder.draw(len(indices), tuple(self.images.shape[1:]), rng)

    def __call__(self, indices: np.ndarray, rng: np.random.Generator, gen: torch.Generator, *, occluders: BatchOccluders | None = None) -> Batch:
        """The batch of ``indices``; ``occluders`` already drawn by ``draw_occluders`` (else drawn here)."""
        index = torch.from_numpy(indices).to(self.images.device)
        images = self.images[index]
        masks = None
        if self.occluder is not None:
            from ferkit.occlusion.batch import composite_on_device

            if occluders is None:
                occluders = self.draw_occluders(indices, rng)
            images, covered = composite_on_device(images, occluders)
            masks = covered if self.needs_occlusion_masks else None
        x = to_model_input(images, self.recipe.in_chans, self.recipe.image_size)
        if masks is not None and masks.shape[-1] != x.shape[-1]:
            masks = F.interpolate(masks[:, None].float(), size=x.shape[-2:], mode="nearest")[:, 0]
        x, masks = augment_batch_with_mask(x, self.recipe.augment, gen, masks)
        y, targets = self.labels[index], None
        if self.mixer is not None:
            x, targets = self.mixer(x, y, rng)
            y = targets.argmax(1)
        return Batch(index, x.contiguous(memory_format=torch.channels_last), y, masks, targets)
