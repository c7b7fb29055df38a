"""Export to ONNX / TorchScript, and an ONNX Runtime backend for CPU inference.

Reading ONNX files back (``OnnxClassifier``, ``load_onnx``) is in ``ferkit.artifacts.onnx_model``.

The exported graph takes (B, C, S, S) float32 normalised input and returns class probabilities
(softmax applied inside), so any runtime gets the same numbers as ``predict_probabilities``.
"""

from __future__ import annotations

import dataclasses
from pathlib import Path

import numpy as np
import torch
import torch.nn as nn

from ferkit.artifacts import LoadedModel, OnnxClassifier, load_model
from ferkit.artifacts.onnx_model import TRAINING_KEY, training_metadata
from ferkit.artifacts.schema import TORCHSCRIPT_SOURCE
from ferkit.errors import ConfigError
from ferkit.io_utils import atomic_write

EXPORT_FORMATS = ("onnx", "torchscript")


class _ProbabilityModel(nn.Module):
    def __init__(self, model: nn.Module) -> None:
        super().__init__()
        self.model = model

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.softmax(self.model(x), dim=1)


def export_model(checkpoint: str | Path | LoadedModel, out_path: str | Path, fmt: str = "onnx", *, opset: int = 17, overwrite: bool = False,
                 int8_calibration: np.ndarray | None = None) -> Path:
    """Write ``checkpoint`` (a file, or a checkpoint already loaded with ``load_model``) as ONNX (with a dynamic
    batch axis) or TorchScript; class names go in the metadata, and in ONNX the split and training-set record.

    ``int8_calibration`` ((N, H, W) uint8 training faces) writes a static int8 ONNX graph instead of fp32
    (``ferkit.quantize``): about twice as fast on a CPU, probabilities no longer equal PyTorch's."""
    if fmt not in EXPORT_FORMATS:
        raise ConfigError(f"export format must be one of {EXPORT_FORMATS}, got {fmt!r}")
    if int8_calibration is not None and fmt != "onnx":
        raise ConfigError(f"int8 quantization writes ONNX graphs only, not {fmt!r}")
    check_opset(opset)
    out_path = check_export_path(out_path, fmt, overwrite=overwrite)
    loaded = checkpoint if isinstance(checkpoint, LoadedModel) else load_model(checkpoint)
    check_exportable(loaded)
    if fmt == "torchscript":
        return _write_torchscript(loaded, out_path)

    graph = onnx_bytes(loaded, opset=opset)
    if int8_calibration is not None:
        from ferkit.quantize import quantize_onnx

        graph = quantize_onnx(graph, int8_calibration, in_chans=loaded.in_chans, image_size=loaded.image_size)
    return atomic_write(out_path, lambda tmp: Path(tmp).write_bytes(graph))


def check_export_path(out_path: str | Path, fmt: str, *, overwrite: bool = False) -> Path:
    """``out_path`` as a Path, refused when it is a folder or exists (without ``overwrite``): checked before any work."""
    out_path = Path(out_path).expanduser()
    if out_path.is_dir():
        raise ConfigError(f"{out_path} is a directory; give a file name such as {out_path / ('ferkit.' + ('onnx' if fmt == 'onnx' else 'pt'))}")
    if out_path.exists() and not overwrite:
        raise ConfigError(f"{out_path} exists; pass overwrite=True to replace it")
    return out_path


def _write_torchscript(loaded: LoadedModel, out_path: Path) -> Path:
    """A traced archive for other runtimes; it records the checkpoint it came from, which ferkit names when given it."""
    wrapper = _ProbabilityModel(loaded.model).eval()
    example = torch.zeros(1, loaded.in_chans, loaded.image_size, loaded.image_size)
    with torch.no_grad():
        traced = torch.jit.trace(wrapper, example)
    extra = {"class_names": ",".join(loaded.class_names), TORCHSCRIPT_SOURCE: str(Path(loaded.path).resolve())}
    return atomic_write(out_path, lambda tmp: torch.jit.save(traced, str(tmp), _extra_files=extra))


# The opsets torch's TorchScript-based exporter writes (torch.onnx._constants); ONNX Runtime reads all of them.
OPSETS = range(9, 21)


def check_opset(opset: object) -> None:
    """An int opset the exporter can write; a bad one failed inside torch (RuntimeError, TypeError, pages of IR)."""
    if isinstance(opset, bool) or not isinstance(opset, int) or opset not in OPSETS:
        raise ConfigError(f"opset must be an int from {OPSETS.start} to {OPSETS.stop - 1} (17, the default, suits ONNX Runtime), got {opset!r}")


def check_exportable(loaded: LoadedModel) -> None:
    """Only PyTorch networks (checkpoints and ensembles) export."""
    if loaded.kind not in ("checkpoint", "ensemble") or not isinstance(loaded.model, torch.nn.Module):
        hint = "its file already is the ONNX graph" if loaded.kind == "onnx" else "use the pipeline's own predict (its classifier is scikit-learn)"
        raise ConfigError(f"{loaded.path} holds a model of kind {loaded.kind!r}, which does not export to ONNX: {hint}")


def onnx_bytes(loaded: LoadedModel, *, opset: int = 17) -> bytes:
    """The model as a serialised ONNX graph (dynamic batch axis, softmax inside, ferkit metadata).

    Only PyTorch networks (checkpoints and ensembles) export: an ONNX model already is one (its file is the graph), and
    an embedding pipeline's scikit-learn classifier has no ONNX form here."""
    import io

    import onnx

    check_opset(opset)
    check_exportable(loaded)
    device = next(loaded.model.parameters()).device
    wrapper = _ProbabilityModel(loaded.model).eval().cpu()  # moves loaded.model too: moved back below
    example = torch.zeros(1, loaded.in_chans, loaded.image_size, loaded.image_size)
    buffer = io.BytesIO()
    torch.onnx.export(wrapper, (example,), buffer, input_names=["input"], output_names=["probabilities"],
                      dynamic_axes={"input": {0: "batch"}, "probabilities": {0: "batch"}}, opset_version=opset, dynamo=False)
    proto = onnx.load_from_string(buffer.getvalue())
    for key, value in (("class_names", ",".join(loaded.class_names)), ("in_chans", str(loaded.in_chans)), ("image_size", str(loaded.image_size)),
                       (TRAINING_KEY, training_metadata(loaded))):
        entry = proto.metadata_props.add()
        entry.key, entry.value = key, value
    loaded.model.to(device)
    return proto.SerializeToString()


def onnx_backend(loaded: LoadedModel, *, threads: int | None = None) -> LoadedModel:
    """``loaded`` (a torch model) exported in memory and run by ONNX Runtime: the Recognizer's CPU backend.

    Why: for these small CNNs ONNX Runtime is several times faster than eager PyTorch at small batches
    (docs/realtime.md); the outputs agree within 1e-4 (tests/test_realtime.py). Nothing is written to disk.
    """
    model = OnnxClassifier(onnx_bytes(loaded), threads=threads)
    return dataclasses.replace(loaded, model=model)
