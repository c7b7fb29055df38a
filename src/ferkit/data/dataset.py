"""The in-memory form every loader returns: uint8 face crops, canonical labels, ids and groups."""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from ferkit.errors import DatasetError


@dataclass(frozen=True)
class FaceDataset:
    """A labelled set of grayscale face crops held in memory.

    images: (N, H, W) uint8; labels: (N,) int64 indices into ``class_names`` (canonical names);
    ids: one string per image (file name or row id); groups: subject or clip id per image, used
    by grouped splits so that no subject appears on both sides.
    """

    images: np.ndarray
    labels: np.ndarray
    class_names: tuple[str, ...]
    ids: tuple[str, ...]
    groups: tuple[str, ...] | None = None
    name: str = "dataset"
    extra: dict = field(default_factory=dict)

    def __post_init__(self) -> None:
        if not isinstance(self.images, np.ndarray) or not isinstance(self.labels, np.ndarray):
            raise DatasetError(f"{self.name}: images and labels must be numpy arrays, got {type(self.images).__name__} and {type(self.labels).__name__}")
        if self.labels.ndim != 1 or not (np.issubdtype(self.labels.dtype, np.integer) or (self.labels.size == 0)):
            raise DatasetError(f"{self.name}: labels must be a 1-D array of class indices (ints), got {self.labels.shape} {self.labels.dtype}")
        if self.images.ndim != 3 or self.images.dtype != np.uint8:
            raise DatasetError(f"{self.name}: images must be (N, H, W) uint8, got {self.images.shape} {self.images.dtype}")
        n = len(self.images)
        if len(self.labels) != n or len(self.ids) != n or (self.groups is not None and len(self.groups) != n):
            raise DatasetError(f"{self.name}: images, labels, ids and groups must have the same length")
        if n and (self.labels.min() < 0 or self.labels.max() >= len(self.class_names)):
            raise DatasetError(f"{self.name}: label indices must lie in 0..{len(self.class_names) - 1}")

    def __len__(self) -> int:
        return len(self.images)

    @property
    def image_size(self) -> tuple[int, int]:
        return int(self.images.shape[1]), int(self.images.shape[2])

    def class_counts(self) -> dict[str, int]:
        counts = np.bincount(self.labels, minlength=len(self.class_names))
        return {name: int(c) for name, c in zip(self.class_names, counts)}

    def subset(self, indices: np.ndarray | list[int], name: str | None = None) -> "FaceDataset":
        """The samples at ``indices`` (ints, or a boolean mask of length N), same label set.

        A mask was read as the indices 0 and 1 and float indices were truncated, silently, before."""
        raw = np.asarray(indices)
        if raw.dtype == bool:
            if raw.shape != (len(self),):
                raise DatasetError(f"{self.name}: a boolean mask must have one entry per sample ({len(self)}), got shape {raw.shape}")
            raw = np.flatnonzero(raw)
        if raw.size and (raw.ndim != 1 or not np.issubdtype(raw.dtype, np.integer)):
            raise DatasetError(f"{self.name}: subset takes 1-D integer indices or a boolean mask, got {raw.shape} {raw.dtype}")
        idx = raw.astype(np.int64).reshape(-1)
        if idx.size and (idx.min() < -len(self) or idx.max() >= len(self)):
            raise DatasetError(f"{self.name}: indices must lie in 0..{len(self) - 1}, got {idx.min()}..{idx.max()}")
        return FaceDataset(
            images=self.images[idx],
            labels=self.labels[idx],
            class_names=self.class_names,
            ids=tuple(self.ids[i] for i in idx),
            groups=None if self.groups is None else tuple(self.groups[i] for i in idx),
            name=name or self.name,
            extra={k: v[idx] if isinstance(v, np.ndarray) and len(v) == len(self) else v for k, v in self.extra.items()},
        )

    def with_images(self, images: np.ndarray, name: str | None = None) -> "FaceDataset":
        """Same samples and labels, new pixels (e.g. an occluded or resized copy)."""
        return FaceDataset(images, self.labels, self.class_names, self.ids, self.groups, name or self.name, dict(self.extra))


def concat_datasets(parts: list[FaceDataset], name: str) -> FaceDataset:
    """Join datasets that share one label set and image size."""
    if not parts:
        raise DatasetError(f"{name}: nothing to concatenate")
    first = parts[0]
    for p in parts[1:]:
        if p.class_names != first.class_names:
            raise DatasetError(f"{name}: label sets differ: {first.class_names} vs {p.class_names}")
        if p.image_size != first.image_size:
            raise DatasetError(f"{name}: image sizes differ: {first.image_size} vs {p.image_size}")
    groups = None
    if all(p.groups is not None for p in parts):
        groups = tuple(g for p in parts for g in p.groups)  # type: ignore[union-attr]
    elif any(p.groups is not None for p in parts):
        import warnings

        from ferkit.errors import FerkitWarning

        ungrouped = [p.name for p in parts if p.groups is None]
        warnings.warn(f"{name}: {', '.join(ungrouped)} has no subject groups, so the joined dataset has none; splits of it are "
                      "not subject-independent", FerkitWarning, stacklevel=2)
    return FaceDataset(
        images=np.concatenate([p.images for p in parts]),
        labels=np.concatenate([p.labels for p in parts]),
        class_names=first.class_names,
        ids=tuple(i for p in parts for i in p.ids),
        groups=groups,
        name=name,
    )
