"""Models built by name: ``build_model("modified_resnet18", num_classes=7, in_chans=1)``."""

from ferkit.models.factory import MODEL_REGISTRY, build_model, list_models, register_model
from ferkit.models.heads import FerNet

__all__ = ["MODEL_REGISTRY", "build_model", "list_models", "register_model", "FerNet"]
