"""Paper 003's contrastive + double cross-entropy criterion, and the [references; samples] pair batches."""

from __future__ import annotations

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from ferkit.data.batching import build_batches
from ferkit.data.pair_batches import PairBatches
from ferkit.errors import ConfigError
from ferkit.losses.contrastive import SiameseCriterion, contrastive_loss
from ferkit.losses.registry import build_loss

REFS = torch.tensor([[0.0, 0.0], [1.0, 0.0], [0.0, 0.0], [2.0, 2.0]])
SAMPLES = torch.tensor([[3.0, 4.0], [1.0, 0.5], [0.3, 0.4], [0.0, 2.0]])
SAME = torch.tensor([1.0, 0.0, 0.0, 0.0])


def test_contrastive_loss_hand_computed() -> None:
    # d = 5 (same: 25 / 2), 0.5 (different: (1 - 0.5)^2 / 2), 0.5 (same), 2 (different, beyond the margin: 0)
    expected = (12.5 + 0.125 + 0.125 + 0.0) / 4
    torch.testing.assert_close(contrastive_loss(REFS, SAMPLES, SAME, margin=1.0), torch.tensor(expected))
    # Margin 3: the last pair now counts, (3 - 2)^2 / 2; the 0.5-distance pairs give 2.5^2 / 2.
    expected3 = (12.5 + 3.125 + 3.125 + 0.5) / 4
    torch.testing.assert_close(contrastive_loss(REFS, SAMPLES, SAME, margin=3.0), torch.tensor(expected3))


def test_contrastive_loss_brute_force_and_finite_gradient_at_zero_distance() -> None:
    torch.manual_seed(0)
    a, b = torch.randn(16, 5, dtype=torch.float64), torch.randn(16, 5, dtype=torch.float64)
    b[0] = a[0]  # identical pair, different class: gradient of the distance at 0 must not be NaN
    same = (torch.arange(16) % 2).double()
    same[0] = 0.0
    a.requires_grad_(True)
    loss = contrastive_loss(a, b, same, margin=2.0)
    dist = [float(torch.dist(a[i].detach(), b[i])) for i in range(16)]
    brute = sum(0.5 * d**2 if same[i] else 0.5 * max(0.0, 2.0 - d) ** 2 for i, d in enumerate(dist)) / 16
    assert abs(float(loss.detach()) - brute) < 1e-6  # the distance is clamped at 1e-6 so its gradient stays finite
    loss.backward()
    assert torch.isfinite(a.grad).all()


def test_siamese_criterion_total_is_two_contrastive_plus_two_cross_entropies() -> None:
    torch.manual_seed(0)
    embeddings = torch.cat([REFS, SAMPLES])
    labels = torch.tensor([0, 1, 2, 1, 0, 2, 1, 0])  # pairs: (0,0) same, (1,2), (2,1), (1,0) different
    torch.testing.assert_close((labels[:4] == labels[4:]).float(), SAME)
    logits = torch.randn(8, 3, requires_grad=True)
    criterion = build_loss("siamese", num_classes=3, embedding_dim=2, class_counts=[1, 1, 1])
    assert isinstance(criterion, SiameseCriterion) and criterion.contrastive_weight == 2.0
    total, parts = criterion(embeddings, logits, labels)
    ce1 = F.cross_entropy(logits[:4], labels[:4])
    ce2 = F.cross_entropy(logits[4:], labels[4:])
    torch.testing.assert_close(total, 2 * torch.tensor(3.1875) + ce1 + ce2)
    assert set(parts) == {"contrastive", "ce_reference", "ce_sample"}
    assert abs(parts["contrastive"] - 6.375) < 1e-6  # = mean[y d^2 + (1 - y) max(0, 1 - d)^2]
    total.backward()
    assert logits.grad is not None
    with pytest.raises(ValueError, match="even"):
        criterion(embeddings[:7], logits[:7], labels[:7])
    with pytest.raises(ConfigError, match="margin"):
        build_loss("siamese", num_classes=3, embedding_dim=2, class_counts=[1, 1, 1], margin=0.0)


def test_pair_batches_layout_and_same_fraction() -> None:
    labels = np.repeat(np.arange(4), [10, 20, 30, 40])
    builder = build_batches("pairs", labels, 16, same_fraction=0.25)
    assert isinstance(builder, PairBatches) and len(builder) == 7
    batches = list(builder.epoch_batches(np.random.default_rng(0)))
    assert [len(b) for b in batches] == [32] * 6 + [8]
    samples = np.concatenate([b[len(b) // 2 :] for b in batches])
    assert sorted(samples.tolist()) == list(range(100))  # every sample once per epoch, second half of each batch
    refs = np.concatenate([b[: len(b) // 2] for b in batches])
    same = labels[refs] == labels[samples]
    assert abs(same.mean() - 0.25) < 0.05
    assert np.all(refs != samples)  # no image is paired with itself
    for b in batches[:6]:
        assert (labels[b[:16]] == labels[b[16:]]).sum() == 4  # exactly round(0.25 * 16) per batch


def test_pair_batches_errors_and_always_same() -> None:
    labels = np.array([0, 0, 0, 1, 1, 1, 2, 2, 2])
    with pytest.raises(ConfigError, match="at least two classes"):
        PairBatches(np.zeros(6, np.int64), 2, same_fraction=0.5)
    with pytest.raises(ConfigError, match="same_fraction"):
        PairBatches(labels, 4, same_fraction=1.5)
    always_same = PairBatches(labels, 3, same_fraction=1.0)
    for batch in always_same.epoch_batches(np.random.default_rng(2)):
        assert np.array_equal(labels[batch[:3]], labels[batch[3:]])


def test_siamese_normalize_takes_the_distance_between_unit_vectors_only_inside_the_loss() -> None:
    # Unit vectors: (0,0) stays (0,0) under F.normalize; (3,4) -> (0.6,0.8); (1,0) -> (1,0); (1,0.5) -> (2,1)/sqrt(5).
    refs, samples = torch.tensor([[3.0, 4.0], [1.0, 0.0]]), torch.tensor([[6.0, 8.0], [0.0, 2.0]])
    same = torch.tensor([1.0, 0.0])
    # pair 0: same direction, d = 0 -> 0; pair 1: (1,0) vs (0,1), d = sqrt(2) > margin 1 -> 0; raw distances would be 5 and sqrt(5)
    criterion = build_loss("siamese", num_classes=2, embedding_dim=2, class_counts=[1, 1], normalize=True)
    parts = criterion.compute(torch.cat([refs, samples]), torch.zeros(4, 2), torch.tensor([0, 0, 0, 1]))
    assert abs(float(parts["contrastive"])) < 1e-6
    raw = build_loss("siamese", num_classes=2, embedding_dim=2, class_counts=[1, 1]).compute(torch.cat([refs, samples]), torch.zeros(4, 2), torch.tensor([0, 0, 0, 1]))
    torch.testing.assert_close(raw["contrastive"], torch.tensor(2 * (0.5 * 25 + 0.0) / 2))  # 2 x mean(25/2, hinge 0)
    torch.testing.assert_close(contrastive_loss(F.normalize(refs, dim=1), F.normalize(samples, dim=1), same), parts["contrastive"] / 2)
