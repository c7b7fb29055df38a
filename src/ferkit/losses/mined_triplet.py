"""Triplet margin loss over triplets mined inside each batch (paper 002), plus optional cross-entropy.

Per mined triplet: ``max(0, d(a, p) - d(a, n) + margin)`` with d the Euclidean distance between
L2-normalised embeddings (PML ``TripletMarginLoss`` with its default ``LpDistance``; see
``ferkit.losses.miners`` for why not squared). Batches should hold several samples of each class,
e.g. the ``pk`` batch builder (``ferkit.data.pk_batches``).

Reduction: the plain mean over the triplets the miner returned (PML ``MeanReducer``), not PML's
default ``AvgNonZeroReducer``. With ``batch_all`` and ``semi_hard`` every mined triplet violates
the margin, so the two agree up to triplets exactly on the margin; with ``batch_hard`` the mean
over all anchors is Hermans et al.'s batch-hard loss, whereas averaging only the non-zero ones
would inflate the loss as the batch gets easier. No triplet mined -> 0 (still in the graph).
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

from ferkit.errors import ConfigError
from ferkit.losses.base import Criterion
from ferkit.losses.miners import build_miner
from ferkit.losses.registry import register_loss


class MinedTripletCriterion(Criterion):
    """``triplet`` = mean triplet margin loss over mined triplets; ``ce`` = ``ce_weight`` * cross-entropy on the logits (only when ce_weight > 0).

    embeddings: (B, D) float (normalised inside the distance); logits: (B, C); labels: (B,) int64.
    ``last_num_triplets`` holds how many triplets the last batch produced, for logging.
    """

    def __init__(self, *, margin: float = 0.2, miner: str = "semi_hard", ce_weight: float = 0.0) -> None:
        super().__init__()
        from pytorch_metric_learning.losses import TripletMarginLoss
        from pytorch_metric_learning.reducers import MeanReducer

        if ce_weight < 0:
            raise ConfigError(f"ce_weight must be >= 0, got {ce_weight!r}")
        self.miner = build_miner(miner, margin=margin)
        self.margin = float(margin)
        self.ce_weight = float(ce_weight)
        self.triplet_loss = TripletMarginLoss(margin=self.margin, reducer=MeanReducer())
        self.last_num_triplets = 0

    def compute(self, embeddings: torch.Tensor, logits: torch.Tensor, labels: torch.Tensor) -> dict[str, torch.Tensor]:
        # at least float32 for the distances: in fp16 the sqrt near 0 loses too much
        emb = embeddings if embeddings.dtype in (torch.float32, torch.float64) else embeddings.float()
        triplets = self.miner(emb, labels)
        self.last_num_triplets = int(triplets[0].numel())
        parts = {"triplet": self.triplet_loss(emb, labels, triplets)}
        if self.ce_weight > 0:
            parts["ce"] = self.ce_weight * F.cross_entropy(logits.float(), labels)
        return parts


@register_loss("triplet")
def _triplet(*, num_classes: int, embedding_dim: int, class_counts: list[int], margin: float = 0.2, miner: str = "semi_hard", ce_weight: float = 0.0) -> Criterion:
    return MinedTripletCriterion(margin=margin, miner=miner, ce_weight=ce_weight)
