"""The criterion interface every training loss follows.

A criterion scores one training batch: ``criterion(embeddings, logits, labels)`` returns the
total loss and a dict of named parts for logging. Batch layouts other than "one sample per row"
(triplets as [anchors; positives; negatives], Siamese pairs as [references; samples]) are
produced by the batch builder in ``ferkit.data.batching`` and understood by the matching criterion.
"""

from __future__ import annotations

import torch
import torch.nn as nn


class Criterion(nn.Module):
    """Base class: subclasses implement ``compute``; parameters (e.g. class centres) are allowed.

    embeddings: (B, D) float; logits: (B, C) float; labels: (B,) int64.
    """

    #: learning rate for this criterion's own parameters (e.g. class centres), None = the model's
    param_lr: float | None = None

    def compute(self, embeddings: torch.Tensor, logits: torch.Tensor, labels: torch.Tensor) -> dict[str, torch.Tensor]:
        raise NotImplementedError

    def forward(self, embeddings: torch.Tensor, logits: torch.Tensor, labels: torch.Tensor, **extra: torch.Tensor) -> tuple[torch.Tensor, dict[str, float]]:
        """``extra`` carries per-batch inputs that some criteria need (``teacher_logits`` for distillation)."""
        if embeddings.shape[0] != labels.shape[0] or logits.shape[0] != labels.shape[0]:
            raise ValueError(f"batch sizes differ: embeddings {tuple(embeddings.shape)}, logits {tuple(logits.shape)}, labels {tuple(labels.shape)}")
        parts = self.compute(embeddings, logits, labels, **extra)
        total = torch.stack([v for v in parts.values()]).sum()
        return total, {k: float(v.detach()) for k, v in parts.items()}
