"""Cross-entropy, optionally class-weighted and label-smoothed: the baseline every paper compares against."""

from __future__ import annotations

import torch
import torch.nn.functional as F

from ferkit.losses.base import Criterion


class CrossEntropy(Criterion):
    def __init__(self, *, label_smoothing: float = 0.0, class_weights: torch.Tensor | None = None) -> None:
        super().__init__()
        self.label_smoothing = label_smoothing
        self.register_buffer("class_weights", class_weights if class_weights is not None else None, persistent=False)

    def compute(self, embeddings: torch.Tensor, logits: torch.Tensor, labels: torch.Tensor) -> dict[str, torch.Tensor]:
        weight = self.class_weights.to(logits.dtype) if self.class_weights is not None else None
        return {"ce": F.cross_entropy(logits.float(), labels, weight=None if weight is None else weight.float(), label_smoothing=self.label_smoothing)}

    def soft(self, logits: torch.Tensor, targets: torch.Tensor) -> tuple[torch.Tensor, dict[str, float]]:
        """Cross-entropy against probability targets (B, C), e.g. FER+ vote distributions."""
        loss = F.cross_entropy(logits.float(), targets.float(), label_smoothing=self.label_smoothing)
        return loss, {"ce_soft": float(loss.detach())}
