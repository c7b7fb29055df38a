"""Triplet batches as papers 000/001 build them: [anchors; positives; negatives].

Each epoch every training sample is an anchor once (in random order), or ``triplets_per_epoch``
anchors when given. For each anchor a positive is drawn at random from its class (a different
sample whenever the class has more than one) and a negative at random from the samples of all
other classes. Batches are index arrays of length 3 * batch_size (the last one may be shorter, so
that every anchor is used), understood by the ``triplet_abn`` criterion.
"""

from __future__ import annotations

from typing import Iterator

import numpy as np

from ferkit.data.batching import register_batch_builder
from ferkit.errors import ConfigError


@register_batch_builder("triplet", batch_layout="triplets")
class TripletBatches:
    """Random-triplet batches; ``batch_size`` counts triplets (paper: 8), so a batch has 3 * batch_size rows."""

    def __init__(self, labels: np.ndarray, batch_size: int, *, triplets_per_epoch: int | None = None) -> None:
        labels = np.asarray(labels)
        if labels.ndim != 1 or not np.issubdtype(labels.dtype, np.integer):
            raise ConfigError(f"triplet sampler: labels must be a 1-D integer array, got shape {labels.shape} dtype {labels.dtype}")
        classes, counts = np.unique(labels, return_counts=True)
        if len(classes) < 2:
            raise ConfigError(f"triplet sampler needs at least two classes to draw negatives, the training labels have {len(classes)}")
        if batch_size < 1:
            raise ConfigError(f"triplet sampler: batch_size (triplets per batch) must be >= 1, got {batch_size}")
        if triplets_per_epoch is not None and triplets_per_epoch < 1:
            raise ConfigError(f"triplet sampler: triplets_per_epoch must be >= 1 or None (= one per sample), got {triplets_per_epoch}")
        self.labels = labels
        self.n = len(labels)
        self.triplets_per_epoch = triplets_per_epoch or self.n
        self.batch_size = min(batch_size, self.triplets_per_epoch)
        # Samples sorted by class: class k occupies order[start[k] : start[k] + count[k]].
        self._order = np.argsort(labels, kind="stable")
        self._class_of = np.searchsorted(classes, labels)
        self._start = np.concatenate([[0], np.cumsum(counts)[:-1]])
        self._count = counts
        self._rank = np.empty(self.n, dtype=np.int64)  # position of each sample inside its class block
        self._rank[self._order] = np.arange(self.n) - self._start[self._class_of[self._order]]

    def __len__(self) -> int:
        return -(-self.triplets_per_epoch // self.batch_size)

    def epoch_batches(self, rng: np.random.Generator) -> Iterator[np.ndarray]:
        anchors = self._epoch_anchors(rng)
        positives = self._positives(anchors, rng)
        negatives = self._negatives(anchors, rng)
        for i in range(len(self)):
            part = slice(i * self.batch_size, (i + 1) * self.batch_size)
            yield np.concatenate([anchors[part], positives[part], negatives[part]])

    def _epoch_anchors(self, rng: np.random.Generator) -> np.ndarray:
        rounds = -(-self.triplets_per_epoch // self.n)
        return np.concatenate([rng.permutation(self.n) for _ in range(rounds)])[: self.triplets_per_epoch]

    def _positives(self, anchors: np.ndarray, rng: np.random.Generator) -> np.ndarray:
        cls = self._class_of[anchors]
        count = self._count[cls]
        # Draw among the other count - 1 members (skipping the anchor's own rank); singletons use themselves.
        offset = rng.integers(0, np.maximum(count - 1, 1))
        offset += offset >= self._rank[anchors]
        offset = np.where(count > 1, offset, 0)
        return self._order[self._start[cls] + offset]

    def _negatives(self, anchors: np.ndarray, rng: np.random.Generator) -> np.ndarray:
        cls = self._class_of[anchors]
        count = self._count[cls]
        # Uniform over the n - count samples outside the anchor's class block.
        position = rng.integers(0, self.n - count)
        position += np.where(position >= self._start[cls], count, 0)
        return self._order[position]
