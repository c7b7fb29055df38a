"""Export to ONNX / TorchScript, and an ONNX Runtime backend for CPU inference.

The exported graph takes (B, C, S, S) float32 normalised input and returns class probabilities
(softmax applied inside), so any runtime gets the same numbers as ``predict_probabilities``.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch
import torch.nn as nn

from ferkit.errors import CheckpointError, ConfigError
from ferkit.io_utils import atomic_write
from ferkit.train.checkpoint import LoadedModel, load_model

EXPORT_FORMATS = ("onnx", "torchscript")


class _ProbabilityModel(nn.Module):
    def __init__(self, model: nn.Module) -> None:
        super().__init__()
        self.model = model

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.softmax(self.model(x), dim=1)


def export_model(checkpoint: str | Path, out_path: str | Path, fmt: str = "onnx", *, opset: int = 17, overwrite: bool = False) -> Path:
    """Write ``checkpoint`` as ONNX (with a dynamic batch axis) or TorchScript; class names go in the metadata."""
    if fmt not in EXPORT_FORMATS:
        raise ConfigError(f"export format must be one of {EXPORT_FORMATS}, got {fmt!r}")
    if Path(out_path).is_dir():
        raise ConfigError(f"--out {out_path} is a directory; give a file name such as {Path(out_path) / ('ferkit.' + ('onnx' if fmt == 'onnx' else 'pt'))}")
    if Path(out_path).exists() and not overwrite:
        raise ConfigError(f"{out_path} exists; pass --overwrite to replace it")
    loaded = load_model(checkpoint)
    if fmt == "torchscript":
        wrapper = _ProbabilityModel(loaded.model).eval()
        example = torch.zeros(1, loaded.in_chans, loaded.image_size, loaded.image_size)
        with torch.no_grad():
            traced = torch.jit.trace(wrapper, example)
        extra = {"class_names": ",".join(loaded.class_names)}
        return atomic_write(out_path, lambda tmp: torch.jit.save(traced, str(tmp), _extra_files=extra))

    return atomic_write(out_path, lambda tmp: Path(tmp).write_bytes(onnx_bytes(loaded, opset=opset)))


def onnx_bytes(loaded: LoadedModel, *, opset: int = 17) -> bytes:
    """The model as a serialised ONNX graph (dynamic batch axis, softmax inside, ferkit metadata)."""
    import io

    import onnx

    device = next(loaded.model.parameters()).device
    wrapper = _ProbabilityModel(loaded.model).eval().cpu()  # moves loaded.model too: moved back below
    example = torch.zeros(1, loaded.in_chans, loaded.image_size, loaded.image_size)
    buffer = io.BytesIO()
    torch.onnx.export(wrapper, (example,), buffer, input_names=["input"], output_names=["probabilities"],
                      dynamic_axes={"input": {0: "batch"}, "probabilities": {0: "batch"}}, opset_version=opset, dynamo=False)
    proto = onnx.load_from_string(buffer.getvalue())
    for key, value in (("class_names", ",".join(loaded.class_names)), ("in_chans", str(loaded.in_chans)), ("image_size", str(loaded.image_size))):
        entry = proto.metadata_props.add()
        entry.key, entry.value = key, value
    loaded.model.to(device)
    return proto.SerializeToString()


class OnnxClassifier(nn.Module):
    """ONNX Runtime session behind the same call as a torch model: (B, C, S, S) -> probabilities.

    ``forward`` returns log-probabilities so ``softmax(forward(x))`` equals the exported
    probabilities and it can stand in for a torch model in ``predict_probabilities``.
    """

    def __init__(self, path: str | Path | bytes, *, threads: int | None = None) -> None:
        super().__init__()
        import onnxruntime as ort

        if not isinstance(path, bytes):
            path = Path(path)
            if not path.is_file():
                raise CheckpointError(f"ONNX model not found: {path}")
        options = ort.SessionOptions()
        if threads:
            options.intra_op_num_threads = threads
        # Idle worker threads sleep instead of spinning: on a CPU shared with other work (a training run, the
        # video decoder thread) spinning steals the cores the other threads need.
        options.add_session_config_entry("session.intra_op.allow_spinning", "0")
        try:
            self.session = ort.InferenceSession(path if isinstance(path, bytes) else str(path), options, providers=["CPUExecutionProvider"])
        except Exception as exc:
            raise CheckpointError(f"cannot load ONNX model {'<in memory>' if isinstance(path, bytes) else path}: {exc}") from None
        meta = self.session.get_modelmeta().custom_metadata_map
        if not meta.get("class_names"):
            raise CheckpointError(f"{path} has no ferkit metadata (class_names); export it with `ferkit export` so labels are known")
        self.class_names = tuple(meta["class_names"].split(","))
        self.in_chans = int(meta.get("in_chans", 1))
        self.image_size = int(meta.get("image_size", 48))
        self.path = path

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        probs = self.session.run(None, {"input": x.detach().cpu().float().numpy()})[0]
        return torch.from_numpy(np.log(np.clip(probs, 1e-12, None)))

    def probabilities(self, x: np.ndarray) -> np.ndarray:
        """(B, C, S, S) float32 normalised input -> (B, classes) probabilities, without a torch round trip."""
        return self.session.run(None, {"input": np.ascontiguousarray(x, dtype=np.float32)})[0]


def onnx_backend(loaded: LoadedModel, *, threads: int | None = None) -> LoadedModel:
    """``loaded`` (a torch model) exported in memory and run by ONNX Runtime: the Recognizer's CPU backend.

    Why: for these small CNNs ONNX Runtime is several times faster than eager PyTorch at small batches
    (docs/realtime.md); the outputs agree within 1e-4 (tests/test_realtime.py). Nothing is written to disk.
    """
    model = OnnxClassifier(onnx_bytes(loaded), threads=threads)
    return LoadedModel(model, loaded.class_names, loaded.in_chans, loaded.image_size, loaded.model_name, loaded.recipe, loaded.path, loaded.split)


def load_onnx(path: str | Path, *, threads: int | None = None) -> LoadedModel:
    """An ONNX model wrapped like a checkpoint, for the recognizer and ``evaluate_model``."""
    model = OnnxClassifier(path, threads=threads)
    return LoadedModel(model, model.class_names, model.in_chans, model.image_size, "onnx", {}, Path(path))
