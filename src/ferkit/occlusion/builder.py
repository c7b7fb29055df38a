"""Occluded datasets (OCC-CK+48, OCC-FER2013) and on-the-fly occlusion augmentation.

Paper 003 builds OCC-CK+ / OCC-RAF-DB by occluding one half of the images and keeping the other
half clean; occlusions over 50 % of the face are left out of training sets (hence the default
``ratio_range=(0.1, 0.5)``; its area study goes up to 0.7 on test sets). Every image's occlusion
depends only on (seed, image index), so a dataset and any subset of it are rebuilt identically.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Sequence

import numpy as np

from ferkit.checks import check_share_range
from ferkit.data.dataset import FaceDataset
from ferkit.errors import ConfigError
from ferkit.occlusion.custom import check_patches
from ferkit.occlusion.occluders import OCCLUDER_KINDS, check_rng
from ferkit.occlusion.batch import BatchOccluders
from ferkit.occlusion.placement import CUSTOM, NATURAL, REGIONS, apply_occlusion, check_tolerance, draw_occluder_layer


@dataclass(frozen=True)
class OcclusionInfo:
    """What ``occlude_dataset`` did, per image (N rows): clean images have kind "" and ratio 0."""

    occluded: np.ndarray  # (N,) bool
    kinds: tuple[str, ...]
    regions: tuple[str, ...]
    target_ratios: np.ndarray  # (N,) float, nan for clean images
    covered_ratios: np.ndarray  # (N,) float, reached fraction of the face covered
    masks: np.ndarray  # (N, H, W) bool, covered pixels
    settings: dict = field(default_factory=dict)

    def summary(self) -> dict:
        """JSON-ready counts and settings (for run records and the docs)."""
        occ = self.occluded
        kinds, counts = np.unique([k for k in self.kinds if k], return_counts=True)
        regions, rcounts = np.unique([r for r in self.regions if r], return_counts=True)
        return {
            **self.settings,
            "images": int(len(occ)),
            "occluded": int(occ.sum()),
            "mean_covered_ratio": float(self.covered_ratios[occ].mean()) if occ.any() else 0.0,
            "max_abs_ratio_error": float(np.nanmax(np.abs(self.covered_ratios - self.target_ratios)[occ])) if occ.any() else 0.0,
            "kind_counts": {str(k): int(c) for k, c in zip(kinds, counts)},
            "region_counts": {str(r): int(c) for r, c in zip(regions, rcounts)},
        }


def occlude_dataset(
    dataset: FaceDataset,
    *,
    fraction: float = 0.5,
    ratio_range: tuple[float, float] = (0.1, 0.5),
    kinds: Sequence[str] = OCCLUDER_KINDS,
    regions: Sequence[str] = REGIONS,
    seed: int = 0,
    custom: Sequence[np.ndarray] | None = None,
    tolerance: float = 0.02,
    name: str | None = None,
) -> tuple[FaceDataset, OcclusionInfo]:
    """A copy of ``dataset`` in which ``round(fraction * N)`` images are occluded.

    Each occluded image gets a kind from ``kinds`` and a region from ``regions`` (``REGIONS`` or
    "natural") uniformly at random, and a covered fraction drawn uniformly from ``ratio_range``.
    Labels, ids and groups are unchanged; the new dataset is named ``occ-<name>`` by default.
    """
    _check_choices(kinds, regions, custom)
    if not 0.0 <= fraction <= 1.0:
        raise ConfigError(f"fraction (share of images to occlude) must be in [0, 1], got {fraction}")
    low, high = _check_ratio_range(ratio_range)
    check_tolerance(tolerance)
    if isinstance(seed, bool) or not isinstance(seed, (int, np.integer)) or seed < 0:
        raise ConfigError(f"seed must be an int >= 0 (the occluded copy is drawn from it reproducibly), got {seed!r}")
    n = len(dataset)
    chosen = np.sort(np.random.default_rng(seed).choice(n, size=int(round(fraction * n)), replace=False))
    images = dataset.images.copy()
    occluded = np.zeros(n, bool)
    kind_of, region_of = [""] * n, [""] * n
    targets, covered = np.full(n, np.nan), np.zeros(n)
    masks = np.zeros(images.shape, bool)
    for i in chosen:
        rng = np.random.default_rng([seed, int(i)])
        target = float(rng.uniform(low, high))
        result = apply_occlusion(
            images[i], kind=str(rng.choice(list(kinds))), region=str(rng.choice(list(regions))), occlusion_ratio=target,
            rng=rng, tolerance=tolerance, custom=custom, fallback_kinds=list(kinds),
        )
        images[i], masks[i] = result.image, result.mask
        occluded[i], kind_of[i], region_of[i], targets[i], covered[i] = True, result.kind, result.region, target, result.covered_ratio
    settings = {"source": dataset.name, "seed": seed, "fraction": fraction, "ratio_range": [low, high], "kinds": list(kinds), "regions": list(regions)}
    info = OcclusionInfo(occluded, tuple(kind_of), tuple(region_of), targets, covered, masks, settings)
    out = dataset.with_images(images, name or f"occ-{dataset.name}")
    out.extra["occlusion"] = settings
    return out, info


class RandomOcclusion:
    """Training-time augmentation: occlude each image of a uint8 batch with probability ``p``.

    ``apply`` works on a numpy batch, images (N, H, W) or (N, H, W, 3) uint8; ``draw`` gives the
    occluders alone, for compositing on the batch's device. ``rng`` is passed per call, so the
    training loop's seeded generator makes runs reproducible.
    """

    def __init__(
        self,
        p: float = 0.5,
        ratio_range: tuple[float, float] = (0.1, 0.5),
        kinds: Sequence[str] = OCCLUDER_KINDS,
        regions: Sequence[str] = REGIONS,
        *,
        custom: Sequence[np.ndarray] | None = None,
        tolerance: float = 0.02,
    ) -> None:
        if not 0.0 <= p <= 1.0:
            raise ConfigError(f"RandomOcclusion: p (probability to occlude an image) must be in [0, 1], got {p}")
        _check_choices(kinds, regions, custom)
        check_tolerance(tolerance)
        self.p = p
        self.ratio_range = _check_ratio_range(ratio_range)
        self.kinds = list(kinds)
        self.regions = list(regions)
        self.custom = custom
        self.tolerance = tolerance

    def __call__(self, images: np.ndarray, rng: np.random.Generator) -> np.ndarray:
        """A new batch, same shape and dtype, about ``p`` of it occluded."""
        return self.apply(images, rng)[0]

    def apply(self, images: np.ndarray, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
        """(occluded batch, covered masks (N, H, W) bool; all False for images left clean)."""
        if not isinstance(images, np.ndarray) or images.dtype != np.uint8 or images.ndim not in (3, 4) or images.shape[3:] not in ((), (3,)):
            desc = f"{images.dtype} {images.shape}" if isinstance(images, np.ndarray) else type(images).__name__
            raise ConfigError(f"RandomOcclusion expects a uint8 batch (N, H, W) or (N, H, W, 3), got {desc}")
        occluders = self.draw(len(images), images.shape[1:], rng)
        return occluders.apply_numpy(images), occluders.masks()

    def draw(self, batch_size: int, image_shape: tuple[int, ...], rng: np.random.Generator) -> BatchOccluders:
        """The occluders of a batch of ``batch_size`` images of ``image_shape`` ((H, W) or (H, W, 3)),
        without the images: composite them with ``BatchOccluders.apply_numpy`` or, on the batch's
        device, ``ferkit.occlusion.batch.composite_on_device``. Same draws as ``apply``."""
        check_rng(rng)
        rows = np.flatnonzero(rng.random(batch_size) < self.p)
        layers = [
            draw_occluder_layer(
                tuple(image_shape[:2]), kind=str(rng.choice(self.kinds)), region=str(rng.choice(self.regions)),
                occlusion_ratio=float(rng.uniform(*self.ratio_range)), rng=rng, tolerance=self.tolerance,
                custom=self.custom, fallback_kinds=self.kinds,
            ).rgba
            for _ in rows
        ]
        return BatchOccluders.from_layers(batch_size, rows, layers, tuple(image_shape))

    def __repr__(self) -> str:
        return f"RandomOcclusion(p={self.p}, ratio_range={self.ratio_range}, kinds={self.kinds}, regions={self.regions})"


def _check_ratio_range(ratio_range: tuple[float, float]) -> tuple[float, float]:
    return check_share_range("ratio_range", ratio_range, meaning="shares of the face an occluder covers")


def _check_choices(kinds: Sequence[str], regions: Sequence[str], custom: Sequence[np.ndarray] | None) -> None:
    if custom is not None:
        check_patches(custom)
    valid_kinds = set(OCCLUDER_KINDS) | ({CUSTOM} if custom else set())
    bad = [k for k in kinds if k not in valid_kinds]
    if not kinds or bad:
        hint = " ('custom' needs custom=load_occluder_folder(...))" if CUSTOM in bad else ""
        raise ConfigError(f"unknown occluder kinds {bad or 'none given'}; choose from {', '.join(sorted(valid_kinds))}{hint}")
    bad = [r for r in regions if r not in REGIONS and r != NATURAL]
    if not regions or bad:
        raise ConfigError(f"unknown regions {bad or 'none given'}; choose from {', '.join(REGIONS)} or {NATURAL!r}")
