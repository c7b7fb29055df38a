"""P x K batches: P classes, K samples of each, so that every batch holds positives and negatives to mine.

Online triplet mining (paper 002, ``MinedTripletCriterion``) needs several samples per class in a
batch; a random batch from imbalanced FER2013 often has one "disgust" face or none. Classes are
drawn uniformly by default (``class_balanced=True``), which is paper 002's class-balanced
("weighted") sampling; ``class_balanced=False`` draws the class slots with replacement in
proportion to class size (the natural class mix: the paper's "without weighted sampling" ablation).

PML's ``MPerClassSampler`` does the same job as a torch ``Sampler``, but it draws from the global
RNG; ferkit's batch builders take the run's ``numpy.random.Generator`` so epochs are reproducible.
"""

from __future__ import annotations

from typing import Iterator

import numpy as np

from ferkit.data.batching import register_batch_builder
from ferkit.errors import ConfigError


@register_batch_builder("pk")
class PKBatches:
    """Batches of ``P = batch_size // samples_per_class`` class slots x ``K = samples_per_class`` samples.

    Only classes present in ``labels`` are drawn. Within a batch the P slots are distinct classes
    while P <= number of classes; with more slots than classes every class gets the same number of
    slots (the remainder drawn at random). With ``class_balanced=False`` the slots are drawn with
    replacement in proportion to class size, so large classes fill most of the batch. A class with fewer samples than it has places in the batch is drawn
    with replacement. An epoch has ``max(1, len(labels) // batch_size)`` batches of P*K indices,
    grouped by class.
    """

    def __init__(self, labels: np.ndarray, batch_size: int, *, samples_per_class: int = 4, class_balanced: bool = True) -> None:
        labels = np.asarray(labels)
        if samples_per_class < 1:
            raise ConfigError(f"samples_per_class must be >= 1, got {samples_per_class}")
        self.k = int(samples_per_class)
        self.p = int(batch_size) // self.k
        if self.p < 2:
            raise ConfigError(f"batch_size {batch_size} holds fewer than 2 classes of samples_per_class={self.k}; use batch_size >= {2 * self.k}")
        self.classes, counts = np.unique(labels, return_counts=True)
        if len(self.classes) < 2:
            raise ConfigError(f"P x K batches need at least 2 classes in the training labels, found {len(self.classes)}")
        self.members = [np.flatnonzero(labels == c) for c in self.classes]
        self.class_balanced = class_balanced
        self.class_probs = np.full(len(self.classes), 1.0 / len(self.classes)) if class_balanced else counts / counts.sum()
        self.n = len(labels)
        self.batch_size = self.p * self.k

    def __len__(self) -> int:
        return max(1, self.n // (self.p * self.k))

    def _class_slots(self, rng: np.random.Generator) -> np.ndarray:
        """How many K-sample slots each class gets in one batch: (num_classes,) int, summing to P."""
        n_classes = len(self.classes)
        if not self.class_balanced:
            chosen = rng.choice(n_classes, size=self.p, replace=True, p=self.class_probs)
        elif self.p <= n_classes:
            chosen = rng.choice(n_classes, size=self.p, replace=False)
        else:
            full, rest = divmod(self.p, n_classes)
            chosen = np.concatenate([np.repeat(np.arange(n_classes), full), rng.choice(n_classes, size=rest, replace=False)])
        return np.bincount(chosen, minlength=n_classes)

    def epoch_batches(self, rng: np.random.Generator) -> Iterator[np.ndarray]:
        for _ in range(len(self)):
            parts = []
            for members, slots in zip(self.members, self._class_slots(rng)):
                if slots:
                    need = int(slots) * self.k
                    parts.append(rng.choice(members, size=need, replace=len(members) < need))
            yield np.concatenate(parts).astype(np.int64)
