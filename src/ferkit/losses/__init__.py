"""Training criteria (``build_loss``) and, apart from them, the miners that pick pairs/triplets."""

from ferkit.losses.base import Criterion
from ferkit.losses.registry import LOSS_REGISTRY, build_loss, register_loss

# Loss families register themselves on import; listed here so the registry is complete and explicit.
import ferkit.losses.triplet  # noqa: E402,F401  (triplet_abn: papers 000/001)
import ferkit.losses.mined_triplet  # noqa: E402,F401  (triplet: paper 002, online-mined)
import ferkit.losses.centers  # noqa: E402,F401  (weighted_ce, center, weighted_cluster: paper 004)
import ferkit.losses.contrastive  # noqa: E402,F401  (siamese: paper 003)

__all__ = ["Criterion", "LOSS_REGISTRY", "build_loss", "register_loss"]
