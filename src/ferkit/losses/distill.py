"""Knowledge distillation (Hinton et al., 2015): learn from a teacher's softened probabilities.

    loss = (1 - alpha) * CE(student, labels) + alpha * T^2 * KL(softmax(teacher / T) || softmax(student / T))

The T^2 factor keeps the soft term's gradients on the scale of the hard term's when T changes.
Teacher logits may be log-probabilities (an ensemble's ``log(mean prob)``): softmax is the same.
Where the teacher's logits come from (cached once, or run on each augmented batch) is decided by
``ferkit.train.teacher``; this module only scores a batch.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

from ferkit.errors import ConfigError
from ferkit.losses.base import Criterion


#: cached: teacher logits computed once on the un-augmented training images (mean of the image and its
#: mirror); online: the teacher is run on every augmented batch (costs a teacher forward per step).
TEACHER_MODES = ("cached", "online")


class Distillation(Criterion):
    """Hard-label cross-entropy mixed with the KL divergence to a teacher at temperature ``temperature``."""

    def __init__(self, *, teacher: str | None = None, teacher_mode: str = "cached", temperature: float = 4.0, alpha: float = 0.5,
                 label_smoothing: float = 0.0) -> None:
        super().__init__()
        if teacher_mode not in TEACHER_MODES:
            raise ConfigError(f"distill teacher_mode must be one of {TEACHER_MODES}, got {teacher_mode!r}")
        self.teacher = teacher  # a checkpoint path (single network or ensemble); read by ferkit.train.teacher
        self.teacher_mode = teacher_mode
        if temperature <= 0:
            raise ConfigError(f"distill temperature must be > 0, got {temperature}")
        if not 0 <= alpha <= 1:
            raise ConfigError(f"distill alpha (weight of the teacher term) must be in [0, 1], got {alpha}")
        self.temperature = float(temperature)
        self.alpha = float(alpha)
        self.label_smoothing = float(label_smoothing)

    def forward(self, embeddings: torch.Tensor, logits: torch.Tensor, labels: torch.Tensor, *, teacher_logits: torch.Tensor | None = None) -> tuple[torch.Tensor, dict[str, float]]:
        if teacher_logits is None:
            raise ConfigError("loss 'distill' needs teacher logits: set loss_kwargs.teacher to a checkpoint in the recipe")
        if teacher_logits.shape != logits.shape:
            raise ValueError(f"teacher logits {tuple(teacher_logits.shape)} and student logits {tuple(logits.shape)} differ in shape")
        return super().forward(embeddings, logits, labels, teacher_logits=teacher_logits)

    def compute(self, embeddings: torch.Tensor, logits: torch.Tensor, labels: torch.Tensor, teacher_logits: torch.Tensor) -> dict[str, torch.Tensor]:
        t = self.temperature
        hard = F.cross_entropy(logits.float(), labels, label_smoothing=self.label_smoothing)
        student_log_probs = F.log_softmax(logits.float() / t, dim=1)
        teacher_log_probs = F.log_softmax(teacher_logits.float() / t, dim=1)
        soft = F.kl_div(student_log_probs, teacher_log_probs, log_target=True, reduction="batchmean") * (t * t)
        return {"ce": (1 - self.alpha) * hard, "distill": self.alpha * soft}
