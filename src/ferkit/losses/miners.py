"""Online triplet miners: which (anchor, positive, negative) triplets of a batch a loss scores.

Miners and losses are kept apart as in pytorch-metric-learning (PML): ``build_miner(name)``
returns ``miner(embeddings (B, D), labels (B,)) -> (anchor_idx, positive_idx, negative_idx)``,
three int64 tensors of equal length indexing the batch, and any triplet loss can score them.

Distance: Euclidean (not squared) between L2-normalised embeddings, PML's default
``LpDistance(normalize_embeddings=True, p=2, power=1)``; values lie in [0, 2]. Paper 002 writes
the triplet loss with squared distances (as FaceNet does); with unit-norm embeddings the two
order triplets identically, but the margin means a different thing, so margins do not transfer.

What each name selects (PML 2.9 semantics; d = distance, m = margin; a triplet is any a, p, n
with label[a] == label[p] != label[n] and a != p):

* ``batch_all``  -- PML ``TripletMarginMiner(type_of_triplets="all")``: every triplet that
  violates the margin, d(a, n) - d(a, p) <= m. Scored with a mean over them, this is the
  "batch all, non-zero losses only" (BA!=0) of Hermans et al. 2017 (paper 002's ref. 9).
* ``semi_hard``  -- PML ``TripletMarginMiner(type_of_triplets="semihard")``: the violating
  triplets whose negative is farther than the positive, 0 < d(a, n) - d(a, p) <= m. All of them,
  not FaceNet's one semi-hard negative per (anchor, positive).
* ``batch_hard`` -- PML ``BatchHardMiner``: one triplet per anchor, its farthest positive and its
  nearest negative (Hermans et al.); anchors without a positive or without a negative in the
  batch are dropped. No margin filter: a triplet may already satisfy the margin (loss 0).
"""

from __future__ import annotations

from typing import Callable

import torch
import torch.nn as nn

from ferkit.errors import ConfigError

Triplets = tuple[torch.Tensor, torch.Tensor, torch.Tensor]


class TripletMiner(nn.Module):
    """A PML miner behind a typed interface that checks its inputs and always returns three int64 tensors.

    Mining runs without gradients (PML wraps ``mine`` in ``torch.no_grad``); the loss recomputes
    distances on the selected triplets with gradients.
    """

    def __init__(self, name: str, pml_miner: nn.Module, margin: float | None) -> None:
        super().__init__()
        self.name = name
        self.margin = margin
        self.pml_miner = pml_miner

    def forward(self, embeddings: torch.Tensor, labels: torch.Tensor) -> Triplets:
        if embeddings.ndim != 2 or labels.ndim != 1 or embeddings.shape[0] != labels.shape[0]:
            raise ValueError(f"miner {self.name!r}: expected embeddings (B, D) and labels (B,), got {tuple(embeddings.shape)} and {tuple(labels.shape)}")
        anchors, positives, negatives = self.pml_miner(embeddings, labels)
        return anchors.long(), positives.long(), negatives.long()

    def extra_repr(self) -> str:
        return f"name={self.name!r}, margin={self.margin}"


def _triplet_margin_miner(kind: str) -> Callable[[float], nn.Module]:
    def make(margin: float) -> nn.Module:
        from pytorch_metric_learning.miners import TripletMarginMiner

        return TripletMarginMiner(margin=margin, type_of_triplets=kind)

    return make


def _batch_hard(margin: float) -> nn.Module:
    from pytorch_metric_learning.miners import BatchHardMiner

    return BatchHardMiner()  # margin plays no part in which triplet is hardest


MINERS: dict[str, Callable[[float], nn.Module]] = {
    "batch_all": _triplet_margin_miner("all"),
    "semi_hard": _triplet_margin_miner("semihard"),
    "batch_hard": _batch_hard,
}


def build_miner(name: str, *, margin: float = 0.2) -> TripletMiner:
    """Miner ``name`` (``batch_all``, ``semi_hard`` or ``batch_hard``) using margin ``margin`` on Euclidean distances of unit vectors."""
    if name not in MINERS:
        raise ConfigError(f"unknown triplet miner {name!r}; valid miners: {', '.join(sorted(MINERS))}")
    if not margin > 0:
        raise ConfigError(f"triplet margin must be > 0, got {margin!r}")
    return TripletMiner(name, MINERS[name](float(margin)), None if name == "batch_hard" else float(margin))
