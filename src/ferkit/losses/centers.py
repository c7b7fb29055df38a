"""Class-weighted and class-centre criteria for imbalanced FER (paper 004, Ngo & Yoon).

Three criteria, each a cross-entropy classifier plus (optionally) an auxiliary term on the
embeddings ``x`` (B, D) with labels ``y`` (B,), K classes, training-set class counts ``n_c``:

``weighted_ce`` -- weighted softmax (paper 004's baseline, after AffectNet):
    L = sum_i w_{y_i} CE_i / sum_i w_{y_i}        (torch's ``cross_entropy(weight=w)``)

``center`` -- Wen et al. 2016, joint supervision:
    L = CE + center_weight * 0.5 * mean_i ||x_i - c_{y_i}||^2

``weighted_cluster`` -- paper 004's weighted-cluster loss. The text of paper 004 we have states the
idea but not the equation: a learned centre per class that pulls the class's features together
and keeps the centres of different classes apart, each class's term weighted by its share of the
training set so that minority classes count more. We implement
    L_wc = 1/(2B) * sum_i w_{y_i} * ||x_i - c_{y_i}||^2 / (D_{y_i} + delta)
    D_k  = 1/(K-1) * sum_{j != k} ||c_k - c_j||^2          (mean squared distance to other centres)
    L    = CE + cluster_weight * L_wc
The ratio form (intra-class distance over inter-centre distance, as in the contrastive-centre
loss of Qi & Su 2017) is the simplest single term that does both jobs the paper names: its
numerator is the centre loss (compactness), its denominator grows when centres move apart
(separability), and it is invariant to a common rescaling of features and centres, so the
network cannot lower it by shrinking everything. ``delta`` (default 1) keeps it finite while
centres coincide. Weights ``w`` come from ``class_weights_from_counts`` ("inverse" by default).

Centre learning. As in Wen et al.'s Algorithm 1, the centres have their own learning rate
(``center_lr`` -> ``Criterion.param_lr``; the training loop gives criterion parameters their own
optimizer group) and ``center_weight``/``cluster_weight`` scale only the gradient that reaches
the features, not the one that moves the centres. For ``center`` the centre gradient is exactly
Wen et al.'s  Delta c_j = sum_{i: y_i=j} (c_j - x_i) / (1 + n_j)  (n_j = class count in the
batch), so plain SGD at ``center_lr = 0.5`` (their alpha) reproduces their update rule. For
``weighted_cluster`` the pull part of the centres' gradient (through the intra-class distances) is
preconditioned per centre by s_k = B (D_k + delta) / (w_k (1 + n_k)), which makes it exactly Wen
et al.'s Delta c_k (so ``center_lr`` means the same alpha in both losses and does not depend on the
feature scale, the batch size or the class weight). The push part (through the inter-centre
distances D) keeps its plain gradient, which shrinks as centres separate: preconditioning it as
well made centres of classes absent from a batch run away (NaN after 3 FER2013 epochs). With plain
SGD the centres therefore settle slightly outside their class means, further out the looser the
clusters. The reported values are the true loss values; only the
routing and scale of gradients differ from plain autograd. Use SGD without weight decay for the
centres' parameter group; with Adam, set ``center_lr`` near the model's learning rate instead.
``ferkit.train.optim.build_optimizer`` does this for SGD recipes: the centres' group has no weight decay and no
momentum (before 2026-12-02 it inherited the network's Nesterov momentum 0.9, so each step was about 10 alpha and
centres overshot their class means); a schedule still scales its alpha (one-cycle: from alpha / 25 up to alpha).
"""

from __future__ import annotations

from typing import Sequence

import torch
import torch.nn as nn
import torch.nn.functional as F

from ferkit.errors import ConfigError
from ferkit.losses.base import Criterion
from ferkit.losses.registry import register_loss

WEIGHT_SCHEMES = ("inverse", "inverse_sqrt", "effective")


def class_weights_from_counts(counts: Sequence[int] | torch.Tensor, scheme: str = "inverse", *, beta: float = 0.999) -> torch.Tensor:
    """Per-class loss weights (K,) float32 from training-set counts, larger for rarer classes.

    inverse:      w_c = N / (K n_c)                    (scikit-learn's "balanced")
    inverse_sqrt: w_c proportional to 1 / sqrt(n_c)
    effective:    w_c proportional to (1 - beta) / (1 - beta^n_c)   (Cui et al. 2019)
    Every scheme is scaled so that sum_c n_c w_c = N: a sample drawn from the training set has
    weight 1 on average, so weighted and unweighted losses have the same scale. A class with no
    training samples gets weight 0 (it never occurs as a target).
    """
    counts_t = torch.as_tensor(counts, dtype=torch.float64).flatten()
    if counts_t.numel() == 0 or bool((counts_t < 0).any()) or float(counts_t.sum()) <= 0:
        raise ConfigError(f"class_counts must be non-negative with a positive total, got {counts_t.tolist()}")
    if scheme not in WEIGHT_SCHEMES:
        raise ConfigError(f"unknown class-weight scheme {scheme!r}; choose one of {', '.join(WEIGHT_SCHEMES)}")
    present = counts_t > 0
    safe = counts_t.clamp(min=1)
    if scheme == "inverse":
        raw = 1.0 / safe
    elif scheme == "inverse_sqrt":
        raw = safe.rsqrt()
    else:
        if not 0.0 < beta < 1.0:
            raise ConfigError(f"beta for the 'effective' scheme must be in (0, 1), got {beta}")
        raw = (1.0 - beta) / (1.0 - beta**safe)
    raw = torch.where(present, raw, torch.zeros_like(raw))
    weights = raw * counts_t.sum() / (counts_t * raw).sum()
    return weights.float()


def _check_counts(class_counts: Sequence[int], num_classes: int) -> None:
    if len(class_counts) != num_classes:
        raise ConfigError(f"class_counts has {len(class_counts)} entries but num_classes is {num_classes}; pass one count per class")


class WeightedSoftmax(Criterion):
    """Cross-entropy with fixed per-class weights (K,): minority classes cost more when misclassified."""

    def __init__(self, class_weights: torch.Tensor) -> None:
        super().__init__()
        self.register_buffer("class_weights", class_weights.float().clone())

    def compute(self, embeddings: torch.Tensor, logits: torch.Tensor, labels: torch.Tensor) -> dict[str, torch.Tensor]:
        return {"ce": F.cross_entropy(logits.float(), labels, weight=self.class_weights)}


class CenterLoss(Criterion):
    """CE + center_weight * 0.5 * mean ||x_i - c_{y_i}||^2 with learned centres (K, D) (Wen et al. 2016)."""

    def __init__(self, num_classes: int, embedding_dim: int, *, center_weight: float = 0.01, center_lr: float = 0.5) -> None:
        super().__init__()
        if center_weight < 0 or center_lr <= 0:
            raise ConfigError(f"center_weight must be >= 0 and center_lr > 0, got {center_weight} and {center_lr}")
        self.centers = nn.Parameter(torch.randn(num_classes, embedding_dim))
        self.center_weight = center_weight
        self.param_lr = center_lr

    def compute(self, embeddings: torch.Tensor, logits: torch.Tensor, labels: torch.Tensor) -> dict[str, torch.Tensor]:
        x = embeddings.float()
        centers = self.centers[labels]  # (B, D)
        # features: lambda * 0.5 * mean ||x - c||^2 with the centres held fixed
        feature_term = 0.5 * (x - centers.detach()).pow(2).sum(1).mean()
        # centres: Wen et al.'s per-class average, 0.5 * sum_i ||x_i - c_{y_i}||^2 / (1 + n_{y_i})
        batch_counts = torch.bincount(labels, minlength=self.centers.shape[0]).to(x.dtype)
        center_term = 0.5 * ((x.detach() - centers).pow(2).sum(1) / (1.0 + batch_counts[labels])).sum()
        center = self.center_weight * feature_term + (center_term - center_term.detach())
        return {"ce": F.cross_entropy(logits.float(), labels), "center": center}


def weighted_cluster_term(
    embeddings: torch.Tensor, labels: torch.Tensor, centers: torch.Tensor, class_weights: torch.Tensor, delta: float = 1.0,
    *, inter_centers: torch.Tensor | None = None,
) -> torch.Tensor:
    """L_wc (scalar) of the module docstring; embeddings (B, D), labels (B,), centers (K, D), class_weights (K,).

    ``inter_centers`` (same values as ``centers``) lets the loss route gradients of the pull
    (intra-class) and push (inter-centre) parts through different tensors.
    """
    num_classes = centers.shape[0]
    intra = (embeddings - centers[labels]).pow(2).sum(1)  # (B,)
    centers = centers if inter_centers is None else inter_centers
    # explicit differences rather than torch.cdist: sqrt-then-square has no gradient at the zero diagonal
    center_dists = (centers[:, None, :] - centers[None, :, :]).pow(2).sum(-1)  # (K, K), zero diagonal
    inter = center_dists.sum(1) / (num_classes - 1)  # (K,)
    return 0.5 * (class_weights[labels] * intra / (inter[labels] + delta)).mean()


class WeightedClusterLoss(Criterion):
    """CE + cluster_weight * L_wc (paper 004): compact, separated, class-weighted clusters around learned centres (K, D)."""

    def __init__(
        self,
        num_classes: int,
        embedding_dim: int,
        class_weights: torch.Tensor,
        *,
        cluster_weight: float = 0.5,
        center_lr: float = 0.5,
        delta: float = 1.0,
        weighted_ce: bool = False,
    ) -> None:
        super().__init__()
        if num_classes < 2:
            raise ConfigError(f"the weighted-cluster loss needs at least 2 classes, got num_classes={num_classes}")
        if cluster_weight < 0 or center_lr <= 0 or delta <= 0:
            raise ConfigError(f"cluster_weight must be >= 0, center_lr > 0 and delta > 0, got {cluster_weight}, {center_lr}, {delta}")
        self.centers = nn.Parameter(torch.randn(num_classes, embedding_dim))
        self.register_buffer("class_weights", class_weights.float().clone())
        self.cluster_weight = cluster_weight
        self.delta = delta
        self.weighted_ce = weighted_ce
        self.param_lr = center_lr

    def compute(self, embeddings: torch.Tensor, logits: torch.Tensor, labels: torch.Tensor) -> dict[str, torch.Tensor]:
        x = embeddings.float()
        feature_term = weighted_cluster_term(x, labels, self.centers.detach(), self.class_weights, self.delta)
        # Centre gradients (see module docstring): the pull part through the intra-class distances,
        # preconditioned per centre by s_k so it is Wen's Delta c_k; the push part through the
        # inter-centre distances with its plain gradient. (Preconditioning the push too diverged:
        # a class absent from a batch got s_k = B (D_k + delta) / w_k, pushed its centre away, which
        # raised D_k and s_k: centres ran off to infinity and the loss became NaN after 3 epochs.)
        scale = self._center_grad_scale(labels, x.shape[0])
        pull_centers = self.centers.detach() + scale[:, None] * (self.centers - self.centers.detach())
        pull = weighted_cluster_term(x.detach(), labels, pull_centers, self.class_weights, self.delta, inter_centers=self.centers.detach())
        push = weighted_cluster_term(x.detach(), labels, self.centers.detach(), self.class_weights, self.delta, inter_centers=self.centers)
        center_term = pull + push
        cluster = self.cluster_weight * feature_term + (center_term - center_term.detach())
        ce = F.cross_entropy(logits.float(), labels, weight=self.class_weights if self.weighted_ce else None)
        return {"ce": ce, "cluster": cluster}

    @torch.no_grad()
    def _center_grad_scale(self, labels: torch.Tensor, batch_size: int) -> torch.Tensor:
        """s_k = B (D_k + delta) / (w_k (1 + n_k)) per centre (K,); 0 for a class of weight 0."""
        centers = self.centers.detach()
        num_classes = centers.shape[0]
        inter = (centers[:, None, :] - centers[None, :, :]).pow(2).sum(-1).sum(1) / (num_classes - 1)
        batch_counts = torch.bincount(labels, minlength=num_classes).to(centers.dtype)
        weights = self.class_weights
        scale = batch_size * (inter + self.delta) / (weights.clamp(min=1e-12) * (1.0 + batch_counts))
        return torch.where(weights > 0, scale, torch.zeros_like(scale))


@register_loss("weighted_ce")
def _weighted_ce(*, num_classes: int, embedding_dim: int, class_counts: list[int], scheme: str = "inverse", beta: float = 0.999) -> Criterion:
    _check_counts(class_counts, num_classes)
    return WeightedSoftmax(class_weights_from_counts(class_counts, scheme, beta=beta))


@register_loss("center")
def _center(*, num_classes: int, embedding_dim: int, class_counts: list[int], center_weight: float = 0.01, center_lr: float = 0.5) -> Criterion:
    return CenterLoss(num_classes, embedding_dim, center_weight=center_weight, center_lr=center_lr)


@register_loss("weighted_cluster")
def _weighted_cluster(
    *,
    num_classes: int,
    embedding_dim: int,
    class_counts: list[int],
    cluster_weight: float = 0.5,
    center_lr: float = 0.5,
    delta: float = 1.0,
    scheme: str = "inverse",
    beta: float = 0.999,
    weighted_ce: bool = False,
) -> Criterion:
    _check_counts(class_counts, num_classes)
    weights = class_weights_from_counts(class_counts, scheme, beta=beta)
    return WeightedClusterLoss(num_classes, embedding_dim, weights, cluster_weight=cluster_weight, center_lr=center_lr, delta=delta, weighted_ce=weighted_ce)
