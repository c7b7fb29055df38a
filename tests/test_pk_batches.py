"""P x K batch builder: class counts per batch, epoch length, class choice, errors."""

from __future__ import annotations

import numpy as np
import pytest

from ferkit.data.batching import build_batches
from ferkit.data.pk_batches import PKBatches
from ferkit.errors import ConfigError

# imbalanced: 60 / 20 / 3 / 1 samples; class 4 absent
LABELS = np.repeat(np.array([0, 1, 2, 3]), [60, 20, 3, 1])


def _class_counts(batch: np.ndarray) -> dict[int, int]:
    values, counts = np.unique(LABELS[batch], return_counts=True)
    return dict(zip(values.tolist(), counts.tolist()))


def test_each_batch_has_p_classes_of_k() -> None:
    builder = build_batches("pk", LABELS, 8, samples_per_class=4)
    assert isinstance(builder, PKBatches)
    batches = list(builder.epoch_batches(np.random.default_rng(0)))
    assert len(batches) == len(builder) == len(LABELS) // 8
    for batch in batches:
        assert batch.dtype == np.int64 and len(batch) == 8
        assert batch.min() >= 0 and batch.max() < len(LABELS)
        assert sorted(_class_counts(batch).values()) == [4, 4]


def test_small_classes_drawn_with_replacement_large_without() -> None:
    builder = PKBatches(LABELS, 8, samples_per_class=4)
    for batch in builder.epoch_batches(np.random.default_rng(1)):
        big = batch[LABELS[batch] == 0]
        assert len(np.unique(big)) == len(big)  # class 0 has >= K samples: no repeats
    one = np.flatnonzero(LABELS == 3)[0]
    rng = np.random.default_rng(2)
    seen = [b for _ in range(20) for b in builder.epoch_batches(rng) if one in b]
    assert seen and all(np.sum(b == one) == 4 for b in seen)


def test_uniform_vs_weighted_class_choice() -> None:
    def frequency(weighted: bool) -> np.ndarray:
        builder = PKBatches(LABELS, 8, samples_per_class=4, class_balanced=not weighted)
        rng = np.random.default_rng(3)
        hits = np.zeros(4)
        for _ in range(100):
            for batch in builder.epoch_batches(rng):
                hits[np.unique(LABELS[batch])] += 1
        return hits / hits.sum()

    uniform, weighted = frequency(False), frequency(True)
    np.testing.assert_allclose(uniform, 0.25, atol=0.03)
    assert weighted[0] > 0.4 and weighted[3] < 0.05


def test_more_slots_than_classes() -> None:
    builder = PKBatches(LABELS, 26, samples_per_class=4)  # P = 6 slots, 4 classes, batch of 24
    for batch in builder.epoch_batches(np.random.default_rng(4)):
        counts = _class_counts(batch)
        assert len(batch) == 24 and set(counts) == {0, 1, 2, 3}
        assert sorted(counts.values()) == [4, 4, 8, 8]


def test_reproducible_with_seed() -> None:
    builder = PKBatches(LABELS, 16, samples_per_class=4)
    first = list(builder.epoch_batches(np.random.default_rng(5)))
    second = list(builder.epoch_batches(np.random.default_rng(5)))
    assert all(np.array_equal(a, b) for a, b in zip(first, second))


def test_errors() -> None:
    with pytest.raises(ConfigError, match="batch_size >= 8"):
        PKBatches(LABELS, 7, samples_per_class=4)
    with pytest.raises(ConfigError, match="at least 2 classes"):
        PKBatches(np.zeros(10, np.int64), 8)
    with pytest.raises(ConfigError, match="samples_per_class"):
        PKBatches(LABELS, 8, samples_per_class=0)
    with pytest.raises(ConfigError, match="bad options"):
        build_batches("pk", LABELS, 8, k=4)


def test_natural_mix_differs_from_balanced_even_when_p_equals_the_class_count() -> None:
    """Regression: with P == number of classes, both modes used to pick every class once."""
    labels = np.array([0] * 90 + [1] * 5 + [2] * 5)
    balanced = PKBatches(labels, 6, samples_per_class=2)
    natural = PKBatches(labels, 6, samples_per_class=2, class_balanced=False)
    rng = np.random.default_rng(0)
    share = lambda b: np.mean([np.mean(labels[idx] == 0) for _ in range(50) for idx in b.epoch_batches(rng)])  # noqa: E731
    assert share(balanced) == pytest.approx(1 / 3) and share(natural) > 0.7
