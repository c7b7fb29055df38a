"""Triplet miners and the mined triplet criterion against brute-force references."""

from __future__ import annotations

import itertools

import pytest
import torch
import torch.nn.functional as F

from ferkit.errors import ConfigError
from ferkit.losses import build_loss
from ferkit.losses.mined_triplet import MinedTripletCriterion
from ferkit.losses.miners import build_miner

MARGIN = 0.5


def _batch(seed: int = 0) -> tuple[torch.Tensor, torch.Tensor]:
    gen = torch.Generator().manual_seed(seed)
    emb = torch.randn(10, 4, generator=gen, dtype=torch.float64)
    labels = torch.tensor([0, 0, 0, 1, 1, 1, 2, 2, 2, 3])  # class 3 has no positive
    return emb, labels


def _dist(emb: torch.Tensor) -> torch.Tensor:
    u = emb / emb.norm(dim=1, keepdim=True)
    return ((u[:, None, :] - u[None, :, :]) ** 2).sum(-1).sqrt()


def _all_triplets(labels: torch.Tensor):
    n = len(labels)
    for a, p, neg in itertools.product(range(n), repeat=3):
        if a != p and labels[a] == labels[p] and labels[neg] != labels[a]:
            yield a, p, neg


def _reference(name: str, emb: torch.Tensor, labels: torch.Tensor) -> set[tuple[int, int, int]]:
    d = _dist(emb)
    if name == "batch_all":
        return {t for t in _all_triplets(labels) if d[t[0], t[2]] - d[t[0], t[1]] <= MARGIN}
    if name == "semi_hard":
        return {t for t in _all_triplets(labels) if 0 < d[t[0], t[2]] - d[t[0], t[1]] <= MARGIN}
    out = set()
    for a in range(len(labels)):
        pos = [i for i in range(len(labels)) if i != a and labels[i] == labels[a]]
        neg = [i for i in range(len(labels)) if labels[i] != labels[a]]
        if pos and neg:
            out.add((a, max(pos, key=lambda i: d[a, i]), min(neg, key=lambda i: d[a, i])))
    return out


def _as_set(triplets) -> set[tuple[int, int, int]]:
    return set(zip(*(t.tolist() for t in triplets)))


@pytest.mark.parametrize("name", ["batch_all", "semi_hard", "batch_hard"])
@pytest.mark.parametrize("seed", [0, 1, 2])
def test_miner_matches_brute_force(name: str, seed: int) -> None:
    emb, labels = _batch(seed)
    got = build_miner(name, margin=MARGIN)(emb, labels)
    assert all(t.dtype == torch.int64 for t in got)
    assert len({len(t) for t in got}) == 1
    expected = _reference(name, emb, labels)
    assert expected, "reference selects nothing: the test batch is too easy"
    assert _as_set(got) == expected
    assert len(got[0]) == len(expected)  # no duplicates


def test_semi_hard_is_subset_of_batch_all() -> None:
    emb, labels = _batch(3)
    semi = _as_set(build_miner("semi_hard", margin=MARGIN)(emb, labels))
    every = _as_set(build_miner("batch_all", margin=MARGIN)(emb, labels))
    assert semi < every


def test_batch_hard_skips_anchors_without_positive() -> None:
    emb, labels = _batch(0)
    anchors, _, _ = build_miner("batch_hard")(emb, labels)
    assert sorted(anchors.tolist()) == list(range(9))  # sample 9 is alone in class 3


def test_unknown_miner_lists_valid_names() -> None:
    with pytest.raises(ConfigError, match="batch_all, batch_hard, semi_hard"):
        build_miner("semihard")
    with pytest.raises(ConfigError, match="margin"):
        build_miner("batch_all", margin=0.0)


@pytest.mark.parametrize("name", ["batch_all", "semi_hard", "batch_hard"])
def test_criterion_value_is_mean_over_mined_triplets(name: str) -> None:
    emb, labels = _batch(4)
    d = _dist(emb)
    triplets = _reference(name, emb, labels)
    expected = torch.stack([F.relu(d[a, p] - d[a, n] + MARGIN) for a, p, n in triplets]).mean()
    crit = MinedTripletCriterion(margin=MARGIN, miner=name)
    total, parts = crit(emb, torch.zeros(10, 4), labels)
    torch.testing.assert_close(total.double(), expected, rtol=1e-5, atol=1e-6)
    assert set(parts) == {"triplet"}
    assert crit.last_num_triplets == len(triplets)


def test_criterion_adds_weighted_cross_entropy() -> None:
    emb, labels = _batch(5)
    logits = torch.randn(10, 4, generator=torch.Generator().manual_seed(0))
    plain, _ = MinedTripletCriterion(margin=MARGIN, miner="batch_all")(emb, logits, labels)
    total, parts = MinedTripletCriterion(margin=MARGIN, miner="batch_all", ce_weight=0.5)(emb, logits, labels)
    torch.testing.assert_close(total, plain + 0.5 * F.cross_entropy(logits, labels).to(total.dtype))
    assert set(parts) == {"triplet", "ce"}


def test_gradient_flows_to_embeddings_and_logits() -> None:
    emb, labels = _batch(6)
    emb = emb.float().requires_grad_()
    logits = torch.randn(10, 4, requires_grad=True)
    total, _ = MinedTripletCriterion(margin=MARGIN, miner="batch_all", ce_weight=1.0)(emb, logits, labels)
    total.backward()
    assert emb.grad is not None and emb.grad.abs().sum() > 0
    assert logits.grad is not None and logits.grad.abs().sum() > 0


def test_no_triplets_gives_zero_loss_in_graph() -> None:
    emb = torch.randn(6, 4, requires_grad=True)
    total, parts = MinedTripletCriterion(miner="semi_hard")(emb, torch.zeros(6, 2), torch.zeros(6, dtype=torch.int64))
    assert float(total.detach()) == 0.0 and parts["triplet"] == 0.0
    total.backward()  # must not raise


def test_registered_as_triplet() -> None:
    crit = build_loss("triplet", num_classes=4, embedding_dim=4, class_counts=[3, 3, 3, 1], margin=0.3, miner="batch_hard", ce_weight=0.1)
    assert isinstance(crit, MinedTripletCriterion)
    assert crit.miner.name == "batch_hard" and crit.margin == 0.3 and crit.ce_weight == 0.1
    with pytest.raises(ConfigError):
        build_loss("triplet", num_classes=4, embedding_dim=4, class_counts=[1, 1, 1, 1], miner="hardest")
