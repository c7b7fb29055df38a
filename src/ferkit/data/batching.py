"""Batch builders: which training indices form each batch of an epoch.

The training loop asks ``builder.epoch_batches(rng)`` for index arrays into the training set and
trusts the criterion to understand the layout. Builders here: ``shuffle`` (plain epochs) and
``balanced`` (sampling with probability inversely proportional to class size, the weighted
sampling of paper 002). Triplet, pair and P x K builders live in their own modules and register here.
"""

from __future__ import annotations

from typing import Any, Callable, Iterator, Protocol

import numpy as np

from ferkit.registry import Registry


class BatchBuilder(Protocol):
    def epoch_batches(self, rng: np.random.Generator) -> Iterator[np.ndarray]: ...

    def __len__(self) -> int: ...


class ShuffleBatches:
    """Each sample once per epoch in random order; the last partial batch is dropped when ``drop_last``."""

    def __init__(self, labels: np.ndarray, batch_size: int, *, drop_last: bool = True) -> None:
        self.n = len(labels)
        self.batch_size = min(batch_size, self.n)
        self.drop_last = drop_last

    def __len__(self) -> int:
        return self.n // self.batch_size if self.drop_last else -(-self.n // self.batch_size)

    def epoch_batches(self, rng: np.random.Generator) -> Iterator[np.ndarray]:
        order = rng.permutation(self.n)
        for i in range(len(self)):
            yield order[i * self.batch_size : (i + 1) * self.batch_size]


def inverse_frequency_weights(labels: np.ndarray, num_classes: int | None = None) -> np.ndarray:
    """Per-sample weight 1 / (size of its class), so each class is drawn equally often in expectation."""
    counts = np.bincount(labels, minlength=num_classes or 0).astype(np.float64)
    return 1.0 / counts[labels]


class BalancedBatches:
    """As many samples per epoch as the dataset has, drawn with replacement with class-balanced weights."""

    def __init__(self, labels: np.ndarray, batch_size: int) -> None:
        self.weights = inverse_frequency_weights(labels)
        self.weights /= self.weights.sum()
        self.n = len(labels)
        self.batch_size = min(batch_size, self.n)

    def __len__(self) -> int:
        return self.n // self.batch_size

    def epoch_batches(self, rng: np.random.Generator) -> Iterator[np.ndarray]:
        for _ in range(len(self)):
            yield rng.choice(self.n, size=self.batch_size, replace=True, p=self.weights)


BuilderFactory = Callable[..., BatchBuilder]
BATCH_BUILDERS: Registry[BuilderFactory] = Registry("sampler")


def register_batch_builder(name: str, *, batch_layout: str = "rows", **metadata: Any) -> Callable[[BuilderFactory], BuilderFactory]:
    """``batch_layout``: how the builder arranges each batch, checked against what the loss reads
    (``ferkit.train.pairing``): ``rows``, or ``pairs`` ([references; samples]) / ``triplets``
    ([anchors; positives; negatives])."""
    return BATCH_BUILDERS.register(name, batch_layout=batch_layout, **metadata)


register_batch_builder("shuffle")(ShuffleBatches)
register_batch_builder("balanced")(BalancedBatches)


def build_batches(name: str, labels: np.ndarray, batch_size: int, **options: Any) -> BatchBuilder:
    return BATCH_BUILDERS.build(name, labels, batch_size, **options)
