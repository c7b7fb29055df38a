"""int8 ONNX models for CPU inference: ONNX Runtime static quantization, calibrated on training faces.

Why: on this project's AVX2 Zen 3 host an int8 modified ResNet-18 classified 2.9x as many 48x48 faces per
second as the fp32 graph at batch 64 without TTA, for a fraction of a point of PublicTest accuracy (docs/realtime.md,
``benchmarks/realtime.py``). It is an opt-in speed knob (``ferkit export --int8``), not the default: the
default backend keeps fp32 probabilities equal to PyTorch's within 1e-4.

The settings are ONNX Runtime's (``onnxruntime.quantization``): QDQ format, per-channel int8 weights, uint8
activations, MinMax calibration, and ``reduce_range`` (7-bit weights). Without ``reduce_range`` the u8 x s8
kernels of CPUs without VNNI (VPMADDUBSW) saturate their int16 sums: in a one-off trial on this project's AVX2
Zen 3 host the modified ResNet-18 lost about 8 points of PublicTest accuracy that way; with it, a fraction of a point
(``tests/test_quantize.py`` checks within one point on 1,000 PublicTest faces; docs/realtime.md has the table).
"""

from __future__ import annotations

import tempfile
from pathlib import Path

import numpy as np

from ferkit.constants import DEFAULT_CALIBRATION_SIZE
from ferkit.errors import ConfigError, DatasetError

CALIBRATION_BATCH = 64


def calibration_faces(spec: str, size: int = DEFAULT_CALIBRATION_SIZE, *, seed: int = 0) -> np.ndarray:
    """``size`` faces drawn at random from the *training* split of dataset ``spec`` (family:path or a path):
    (N, H, W) uint8. Calibration never reads validation or test images, which stay for selection and scoring."""
    from ferkit.data.registry import load_split

    if size < 1:
        raise ConfigError(f"calibration size must be a positive number of faces, got {size}")
    images = np.asarray(load_split(spec, "train").images)
    if len(images) == 0:
        raise DatasetError(f"{spec}: the training split holds no images to calibrate with")
    rng = np.random.default_rng(seed)
    return images[np.sort(rng.choice(len(images), min(size, len(images)), replace=False))]


def _input_format(key: str, given: int | None, metadata: dict[str, str], default: int) -> int:
    """``given``, else the graph's ferkit metadata, else ``default``; a value the graph contradicts is refused."""
    recorded = int(metadata[key]) if metadata.get(key, "").isdigit() else None
    if given is None:
        return recorded if recorded is not None else default
    if isinstance(given, bool) or not isinstance(given, int) or given < 1:
        raise ConfigError(f"{key} must be a positive int or None (read from the graph), got {given!r}")
    if recorded is not None and given != recorded:
        raise ConfigError(f"{key}={given}, but the graph takes {key} {recorded}; leave it None to use the graph's own")
    return given


def quantize_onnx(model: bytes, calibration: np.ndarray, *, in_chans: int | None = None, image_size: int | None = None) -> bytes:
    """The fp32 ONNX graph ``model`` (as ``ferkit.export.onnx_bytes`` writes it) as a static int8 graph, its
    activation ranges measured on ``calibration`` ((N, H, W) uint8 faces); ferkit's metadata is kept.

    ``in_chans`` / ``image_size``: the graph's input format; None reads it from the graph's ferkit metadata (the
    defaults 1 and 48 were used before, whatever the graph said)."""
    import onnx
    from onnxruntime.quantization import CalibrationDataReader, CalibrationMethod, QuantFormat, QuantType, quantize_static
    from onnxruntime.quantization.shape_inference import quant_pre_process

    from ferkit.artifacts import model_input_array

    if not isinstance(model, (bytes, bytearray)):
        raise ConfigError(f"quantize_onnx takes the graph's bytes (ferkit.export.onnx_bytes, or Path(file).read_bytes()), got {type(model).__name__}")
    try:
        metadata = {p.key: p.value for p in onnx.load_from_string(bytes(model)).metadata_props}
    except Exception as exc:  # protobuf DecodeError and friends
        raise ConfigError(f"quantize_onnx: the bytes are not an ONNX graph ({type(exc).__name__})") from None
    in_chans = _input_format("in_chans", in_chans, metadata, 1)
    image_size = _input_format("image_size", image_size, metadata, 48)
    calibration = np.asarray(calibration)
    if calibration.ndim != 3 or calibration.dtype != np.uint8 or len(calibration) == 0 or min(calibration.shape[1:]) < 8:
        raise ConfigError(f"calibration faces must be a non-empty (N, H, W) uint8 array of faces at least 8x8, got {calibration.shape} {calibration.dtype}")
    inputs = model_input_array(calibration, in_chans, image_size)

    class Batches(CalibrationDataReader):
        def __init__(self) -> None:
            self.batches = iter(inputs[i : i + CALIBRATION_BATCH] for i in range(0, len(inputs), CALIBRATION_BATCH))

        def get_next(self) -> dict[str, np.ndarray] | None:
            batch = next(self.batches, None)
            return None if batch is None else {"input": batch}

    with tempfile.TemporaryDirectory() as tmp_name:
        tmp = Path(tmp_name)
        (tmp / "fp32.onnx").write_bytes(bytes(model))
        quant_pre_process(str(tmp / "fp32.onnx"), str(tmp / "prepared.onnx"))  # shape inference + graph folding first
        # the softmax stays fp32: quantized, the probabilities would come in steps of 1/255 and not sum to 1
        softmax = [node.name for node in onnx.load(str(tmp / "prepared.onnx")).graph.node if node.op_type == "Softmax"]
        quantize_static(str(tmp / "prepared.onnx"), str(tmp / "int8.onnx"), Batches(), quant_format=QuantFormat.QDQ,
                        activation_type=QuantType.QUInt8, weight_type=QuantType.QInt8, per_channel=True, reduce_range=True,
                        calibrate_method=CalibrationMethod.MinMax, nodes_to_exclude=softmax)
        quantized = onnx.load(str(tmp / "int8.onnx"))
    kept = {p.key for p in quantized.metadata_props}
    for key, value in {**metadata, "quantization": "int8 static (onnxruntime QDQ, per-channel, reduce_range)",
                       "calibration_faces": str(len(calibration))}.items():
        if key not in kept:
            entry = quantized.metadata_props.add()
            entry.key, entry.value = key, value
    return quantized.SerializeToString()
