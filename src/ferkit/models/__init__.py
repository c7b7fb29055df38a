"""Models built by name: ``build_model("modified_resnet18", num_classes=7, in_chans=1)``."""

from ferkit.models.factory import MODEL_REGISTRY, build_model, list_models, register_model
from ferkit.models.heads import FerNet

# Model families register themselves on import; listed here so the registry is complete and explicit.
import ferkit.models.stn  # noqa: E402,F401  (tl_stn, stn_resnet18)
import ferkit.models.senet  # noqa: E402,F401  (seresnet18, seresnet50, modified_seresnet18: paper 004)
import ferkit.models.occlusion_net  # noqa: E402,F401  (occlusion_net: paper 003)
import ferkit.models.ensemble  # noqa: E402,F401  (ensemble: averaged probabilities of trained members)
from ferkit.models.stn import SpatialTransformer  # noqa: E402

__all__ = ["MODEL_REGISTRY", "build_model", "list_models", "register_model", "FerNet", "SpatialTransformer"]
