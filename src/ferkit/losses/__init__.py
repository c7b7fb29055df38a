"""Training criteria (``build_loss``) and, apart from them, the miners that pick pairs/triplets."""

from ferkit.losses.base import Criterion
from ferkit.losses.registry import LOSS_REGISTRY, build_loss, register_loss

__all__ = ["Criterion", "LOSS_REGISTRY", "build_loss", "register_loss"]
