"""Paper-style triplet loss over a batch laid out as [anchors; positives; negatives].

The triplets are chosen by the ``triplet`` batch builder (``ferkit.data.triplet_batches``), not
mined inside the batch: papers 000/001 draw, for each anchor, a random positive of its class and a
random negative of another class. Per triplet i (T = B / 3 of them)::

    euclidean (paper 000, Eq. 3):  max(0, ||a_i - p_i||_2   - ||a_i - n_i||_2   + margin)
    squared   (paper 001, Eq. 1):  max(0, ||a_i - p_i||_2^2 - ||a_i - n_i||_2^2 + margin)

averaged over the T triplets. With ``ce_weight > 0`` a cross-entropy term on the logits of all
3T rows trains the softmax head jointly, so the model can classify directly at test time.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

from ferkit.errors import ConfigError
from ferkit.losses.base import Criterion
from ferkit.losses.registry import register_loss


def _euclidean(x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    # pairwise_distance adds eps=1e-6 to the difference, so a positive identical to its anchor
    # (a class with a single sample) has a finite gradient instead of sqrt'(0) = inf.
    return F.pairwise_distance(x, y, p=2.0)


def _squared(x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    return (x - y).pow(2).sum(dim=1)


DISTANCES = {"euclidean": _euclidean, "squared": _squared}


class TripletMarginCriterion(Criterion):
    """Hinged triplet margin loss (+ optional joint cross-entropy) for [anchors; positives; negatives].

    embeddings: (3T, D); logits: (3T, C); labels: (3T,) with labels[T:2T] == labels[:T] and
    labels[2T:] != labels[:T].
    """

    def __init__(self, *, margin: float = 1.0, distance: str = "euclidean", ce_weight: float = 0.0) -> None:
        super().__init__()
        if distance not in DISTANCES:
            raise ConfigError(f"unknown triplet distance {distance!r}; valid values: {', '.join(DISTANCES)}")
        if margin < 0:
            raise ConfigError(f"triplet margin must be >= 0, got {margin}")
        if ce_weight < 0:
            raise ConfigError(f"ce_weight must be >= 0 (0 disables the cross-entropy term), got {ce_weight}")
        self.margin = float(margin)
        self.distance = distance
        self.ce_weight = float(ce_weight)

    def compute(self, embeddings: torch.Tensor, logits: torch.Tensor, labels: torch.Tensor) -> dict[str, torch.Tensor]:
        anchor_labels, positive_labels, negative_labels = _split_triplet_labels(labels)
        if not torch.equal(positive_labels, anchor_labels):
            raise ValueError("triplet batch layout: rows T..2T (positives) must have the anchors' labels; use the 'triplet' batch builder")
        if bool((negative_labels == anchor_labels).any()):
            raise ValueError("triplet batch layout: rows 2T..3T (negatives) must differ in label from the anchors; use the 'triplet' batch builder")
        anchors, positives, negatives = embeddings.float().chunk(3, dim=0)
        loss = F.triplet_margin_with_distance_loss(
            anchors, positives, negatives, distance_function=DISTANCES[self.distance], margin=self.margin, reduction="mean"
        )
        parts = {"triplet": loss}
        if self.ce_weight > 0:
            parts["ce"] = self.ce_weight * F.cross_entropy(logits.float(), labels)
        return parts


def _split_triplet_labels(labels: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    if labels.ndim != 1 or labels.shape[0] == 0 or labels.shape[0] % 3 != 0:
        raise ValueError(
            f"triplet batch must have 3T rows laid out [anchors; positives; negatives], got labels of shape {tuple(labels.shape)}; "
            "use the 'triplet' batch builder"
        )
    anchor_labels, positive_labels, negative_labels = labels.chunk(3)
    return anchor_labels, positive_labels, negative_labels


@register_loss("triplet_abn", batch_layout="triplets")
def _triplet_abn(
    *, num_classes: int, embedding_dim: int, class_counts: list[int], margin: float = 1.0, distance: str = "euclidean", ce_weight: float = 0.0
) -> Criterion:
    return TripletMarginCriterion(margin=margin, distance=distance, ce_weight=ce_weight)
