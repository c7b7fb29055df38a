"""Siamese pair batches as paper 003 builds them: [references; samples].

Each epoch every training sample is the "sample" of one pair (random order). Its reference is
drawn from the other training samples of its own class (a same-class pair, label 1) for
``same_fraction`` of the pairs of each batch, and from the samples of another class (chosen
uniformly among the other classes) otherwise (label 0). The paper draws references from
unoccluded images only; here any training sample may be one. Batches are index arrays of length 2 * batch_size (the
last one may be shorter), understood by the ``siamese`` loss, which derives the pair labels
(paper eq. 7) from the batch's labels.
"""

from __future__ import annotations

from typing import Iterator

import numpy as np

from ferkit.data.batching import register_batch_builder
from ferkit.errors import ConfigError


@register_batch_builder("pairs", batch_layout="pairs")
class PairBatches:
    """Pair batches; ``batch_size`` counts pairs, so a batch has 2 * batch_size rows."""

    def __init__(self, labels: np.ndarray, batch_size: int, *, same_fraction: float = 0.5) -> None:
        labels = np.asarray(labels)
        if labels.ndim != 1 or not np.issubdtype(labels.dtype, np.integer) or len(labels) == 0:
            raise ConfigError(f"pairs sampler: labels must be a non-empty 1-D integer array, got shape {labels.shape} dtype {labels.dtype}")
        if batch_size < 1:
            raise ConfigError(f"pairs sampler: batch_size (pairs per batch) must be >= 1, got {batch_size}")
        if not 0.0 <= same_fraction <= 1.0:
            raise ConfigError(f"pairs sampler: same_fraction must be in [0, 1], got {same_fraction}")
        pools = {int(c): np.flatnonzero(labels == c) for c in np.unique(labels)}
        if same_fraction < 1 and len(pools) < 2:
            raise ConfigError("pairs sampler: different-class pairs need training images of at least two classes")
        self.labels = labels
        self.n = len(labels)
        self.batch_size = min(batch_size, self.n)
        self.same_fraction = same_fraction
        self._pools = pools
        self._pool_classes = np.array(sorted(pools))

    def __len__(self) -> int:
        return -(-self.n // self.batch_size)

    def epoch_batches(self, rng: np.random.Generator) -> Iterator[np.ndarray]:
        samples = rng.permutation(self.n)
        for i in range(len(self)):
            part = samples[i * self.batch_size : (i + 1) * self.batch_size]
            yield np.concatenate([self._references(part, rng), part])

    def _references(self, samples: np.ndarray, rng: np.random.Generator) -> np.ndarray:
        p = len(samples)
        same = np.zeros(p, bool)
        # Exactly round(same_fraction * P) same-class pairs per batch, at random rows.
        same[rng.permutation(p)[: int(round(self.same_fraction * p))]] = True
        refs = np.empty(p, np.int64)
        for row, (sample, is_same) in enumerate(zip(samples, same)):
            cls = int(self.labels[sample])
            if is_same:
                pool = self._pools[cls]
                pick = pool[rng.integers(len(pool))]
                if pick == sample and len(pool) > 1:  # a pair of an image with itself teaches nothing
                    pick = pool[(np.flatnonzero(pool == sample)[0] + rng.integers(1, len(pool))) % len(pool)]
            else:
                others = self._pool_classes[self._pool_classes != cls]
                pool = self._pools[int(others[rng.integers(len(others))])]
                pick = pool[rng.integers(len(pool))]
            refs[row] = pick
        return refs
