"""The network every ferkit classifier is: [STN] -> backbone -> [embedding] -> classifier head.

``forward_embedding`` gives the vector metric losses use; ``forward`` gives class logits; the
two share one pass in training via ``forward_both``.
"""

from __future__ import annotations

import torch
import torch.nn as nn
import torch.nn.functional as F


class FerNet(nn.Module):
    """Backbone with optional input transform, embedding projection and L2 normalisation.

    x: (B, C, H, W) float, normalised; returns logits (B, num_classes).
    """

    def __init__(
        self,
        backbone: nn.Module,
        feature_dim: int,
        num_classes: int,
        *,
        embedding_dim: int | None = None,
        normalize_embedding: bool = False,
        dropout: float = 0.0,
        input_transform: nn.Module | None = None,
    ) -> None:
        super().__init__()
        self.input_transform = input_transform
        self.backbone = backbone
        self.embedding = nn.Linear(feature_dim, embedding_dim) if embedding_dim else None
        self.embedding_dim = embedding_dim or feature_dim
        self.normalize_embedding = normalize_embedding
        self.dropout = nn.Dropout(dropout) if dropout > 0 else nn.Identity()
        self.head = nn.Linear(self.embedding_dim, num_classes)
        self.num_classes = num_classes

    def forward_features(self, x: torch.Tensor) -> torch.Tensor:
        if self.input_transform is not None:
            x = self.input_transform(x)
        return self.backbone(x)

    def forward_embedding(self, x: torch.Tensor) -> torch.Tensor:
        """(B, embedding_dim); unit-norm when ``normalize_embedding``."""
        z = self.forward_features(x)
        if self.embedding is not None:
            z = self.embedding(z)
        return F.normalize(z, dim=1) if self.normalize_embedding else z

    def forward_head(self, embedding: torch.Tensor) -> torch.Tensor:
        return self.head(self.dropout(embedding))

    def forward_both(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        z = self.forward_embedding(x)
        return z, self.forward_head(z)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.forward_head(self.forward_embedding(x))

    def reset_classifier(self, num_classes: int) -> None:
        self.head = nn.Linear(self.embedding_dim, num_classes)
        self.num_classes = num_classes
