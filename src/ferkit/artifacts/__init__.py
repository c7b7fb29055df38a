"""Model artifacts: the files ferkit writes and reads, in one layer below training and inference.

    from ferkit.artifacts import load_any
    loaded = load_any("runs/x/best.pt")      # checkpoint, ensemble, embedding pipeline or ONNX: see loaded.kind
    probs = loaded.model(to_model_input(crops_uint8, loaded.in_chans, loaded.image_size)).softmax(1)

Modules: ``schema`` (format tags, required fields), ``torchfile`` (the only torch.save / torch.load),
``checkpoint`` (save/load ``ferkit-checkpoint-v1``), ``storage`` (fp16/int8 weights), ``loaded``
(``LoadedModel``, ``load_model``), ``preprocess`` (face crops -> model input), ``ensemble`` (ensemble
payloads), ``pipeline_file`` (embedding pipelines), ``onnx_model`` (ONNX Runtime), ``init_weights``
(initial-weights files), ``dispatch`` (``load_any``). See docs/artifacts.md.
"""

from ferkit.artifacts.dispatch import load_any
from ferkit.artifacts.checkpoint import load_checkpoint, save_checkpoint
from ferkit.artifacts.ensemble import ensemble_checkpoint, member_checkpoint
from ferkit.artifacts.init_weights import InitWeights, read_init_weights
from ferkit.artifacts.loaded import LoadedModel, load_model
from ferkit.artifacts.onnx_model import OnnxClassifier, load_onnx
from ferkit.artifacts.pipeline_file import load_pipeline, save_pipeline
from ferkit.artifacts.preprocess import model_input_array, to_model_input
from ferkit.artifacts.schema import ARTIFACT_KINDS, CHECKPOINT_FORMAT, PIPELINE_FORMAT, PIPELINE_VERSION
from ferkit.artifacts.storage import WEIGHT_STORAGES, compress_weights, model_state
from ferkit.artifacts.torchfile import read_torch_file, write_torch_file

__all__ = [
    "ARTIFACT_KINDS", "CHECKPOINT_FORMAT", "PIPELINE_FORMAT", "PIPELINE_VERSION", "WEIGHT_STORAGES",
    "InitWeights", "LoadedModel", "OnnxClassifier",
    "compress_weights", "ensemble_checkpoint", "load_any", "load_checkpoint", "load_model", "load_onnx", "load_pipeline",
    "member_checkpoint", "model_input_array", "model_state", "read_init_weights", "read_torch_file", "save_checkpoint",
    "save_pipeline", "to_model_input", "write_torch_file",
]
