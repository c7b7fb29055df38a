"""The network every ferkit classifier is: [STN] -> backbone -> [embedding] -> classifier head.

``forward_embedding`` gives the vector metric losses use; ``forward`` gives class logits. Training
calls ``forward_train``: one pass giving both, plus the model's own auxiliary losses (e.g. the
occlusion network's sparsity term) returned explicitly, never left on the model for the loop to find.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import torch
import torch.nn as nn
import torch.nn.functional as F


@dataclass
class TrainOutput:
    """What one training forward pass gives the loop.

    embeddings (B, embedding_dim) and logits (B, num_classes) feed the criterion; ``aux_losses`` are
    already weighted scalars the loop adds to the criterion's loss and logs as ``train_<name>``.
    """

    embeddings: torch.Tensor
    logits: torch.Tensor
    aux_losses: dict[str, torch.Tensor] = field(default_factory=dict)


class AuxiliaryBackbone(nn.Module):
    """A backbone with losses of its own: ``forward_train`` returns pooled features and those losses.

    ``needs_occlusion_masks``: the losses use the pixels synthetic occluders covered, so training must
    pass ``occlusion_masks`` (B, H, W) in [0, 1].
    """

    needs_occlusion_masks: bool = False

    def forward_train(self, x: torch.Tensor, *, occlusion_masks: torch.Tensor | None = None) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
        raise NotImplementedError


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

    def embed(self, features: torch.Tensor) -> torch.Tensor:
        """Pooled backbone features -> (B, embedding_dim); unit-norm when ``normalize_embedding``."""
        z = self.embedding(features) if self.embedding is not None else features
        return F.normalize(z, dim=1) if self.normalize_embedding else z

    def forward_embedding(self, x: torch.Tensor) -> torch.Tensor:
        """(B, embedding_dim); unit-norm when ``normalize_embedding``."""
        return self.embed(self.forward_features(x))

    def forward_head(self, embedding: torch.Tensor) -> torch.Tensor:
        return self.head(self.dropout(embedding))

    def forward_both(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        z = self.forward_embedding(x)
        return z, self.forward_head(z)

    @property
    def needs_occlusion_masks(self) -> bool:
        """True when ``forward_train`` needs the synthetic occluders' masks (its backbone supervises a map with them)."""
        return isinstance(self.backbone, AuxiliaryBackbone) and self.backbone.needs_occlusion_masks

    def forward_train(self, x: torch.Tensor, *, occlusion_masks: torch.Tensor | None = None) -> TrainOutput:
        """x (B, C, H, W) -> embeddings, logits and the backbone's auxiliary losses (none for plain backbones)."""
        if self.input_transform is not None:
            x = self.input_transform(x)
        if isinstance(self.backbone, AuxiliaryBackbone):
            features, aux_losses = self.backbone.forward_train(x, occlusion_masks=occlusion_masks)
        else:
            features, aux_losses = self.backbone(x), {}
        z = self.embed(features)
        return TrainOutput(z, self.forward_head(z), aux_losses)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.forward_head(self.forward_embedding(x))

    def reset_classifier(self, num_classes: int) -> None:
        self.head = nn.Linear(self.embedding_dim, num_classes)
        self.num_classes = num_classes
