"""MediaPipe BlazeFace face detector (the ``mediapipe`` Tasks API), from a user-supplied ``.tflite`` file.

Why an optional extra with a file the user supplies: the mediapipe wheels that ship the BlazeFace files
(``mediapipe/modules/face_detection/*.tflite``, up to 0.10.21) pin ``numpy<2`` and ``protobuf<5`` (ferkit's
opencv-python-headless 4.14 needs numpy>=2, onnx 1.23 protobuf>=6), and the wheels that install beside
numpy 2 (0.10.30 on) ship no model file. 0.10.30 and 0.10.31 are also the only recent ones that do not pull
``opencv-contrib-python`` (a second ``cv2`` over opencv-python-headless), hence the extra's range.

ferkit never downloads. The model file is looked up at ``model_path=`` if given, else in the ferkit cache
directory (``$FERKIT_CACHE_DIR``, default ``~/.cache/ferkit``) under the names in ``MODEL_FILENAMES``.

BlazeFace's six keypoints are the subject's right eye, left eye, nose tip, mouth centre and the two ear
tragions; it gives no mouth corners. ferkit's five landmarks (``LANDMARK_NAMES``) take the eyes and nose as
given and put the mouth corners on either side of the mouth centre, parallel to the eye line, as far apart
as the alignment template's mouth corners are relative to its eyes (0.83 of the eye distance): alignment
then fits eyes, nose and mouth centre, and keeps the roll correction.
"""

from __future__ import annotations

import importlib.util
from pathlib import Path
from typing import Any

import numpy as np

from ferkit.errors import ConfigError, FerkitError, WeightsUnavailableError
from ferkit.faces.base import Face, FaceDetector, clip_box, register_detector
from ferkit.faces.yunet import cache_dir

# Names looked up in the cache directory, per model: the Tasks model-zoo name first, then the legacy
# wheel's name (mediapipe <= 0.10.21, mediapipe/modules/face_detection/).
MODEL_FILENAMES: dict[str, tuple[str, ...]] = {
    "short": ("blaze_face_short_range.tflite", "face_detection_short_range.tflite"),
    "full": ("blaze_face_full_range.tflite", "face_detection_full_range_sparse.tflite"),
}
# Mouth-corner distance / eye distance of the InsightFace five-point template used by align_face.
_MOUTH_TO_EYE_RATIO = (70.7299 - 41.5493) / (73.5318 - 38.2946)


class MediaPipeUnavailableError(FerkitError):
    """The ``mediapipe`` package (ferkit's ``mediapipe`` extra) is not installed."""


def mediapipe_installed() -> bool:
    """True when a ``mediapipe`` package is on the path (found without importing it: importing takes ~0.5 s)."""
    return importlib.util.find_spec("mediapipe") is not None


def mediapipe_available() -> bool:
    """True when the ``mediapipe`` package and its Tasks vision API import."""
    try:
        from mediapipe.tasks.python import vision  # noqa: F401
    except ImportError:
        return False
    return True


def full_range_supported() -> bool:
    """True when the installed mediapipe's Tasks face detector runs the full-range model (1.2.3 does; 0.10.31
    loads it but fails on the first image: its graph expects the short-range model's 896 anchors)."""
    from importlib.metadata import PackageNotFoundError, version

    try:
        major = int(version("mediapipe").split(".")[0])
    except (PackageNotFoundError, ValueError):
        return False
    return major >= 1


def resolve_mediapipe_model(model: str = "short", model_path: str | Path | None = None) -> Path:
    """Return the BlazeFace ``.tflite`` path, or raise WeightsUnavailableError saying which file to put where."""
    if model not in MODEL_FILENAMES:
        raise ConfigError(f"model must be one of {sorted(MODEL_FILENAMES)} (BlazeFace short or full range), got {model!r}")
    if model_path is not None:
        candidates = [Path(model_path).expanduser()]
    else:
        candidates = [cache_dir() / name for name in MODEL_FILENAMES[model]]
    for path in candidates:
        if path.is_file():
            return path
    raise WeightsUnavailableError(
        f"BlazeFace {model}-range model not found (looked at {', '.join(str(p) for p in candidates)}). ferkit does "
        f"not download it, and current mediapipe wheels do not ship it: place {' or '.join(MODEL_FILENAMES[model])} "
        f"(MediaPipe's face detector models, Apache-2.0) in {cache_dir()} (set $FERKIT_CACHE_DIR to change the "
        f"directory) or pass model_path= (on the command line: --detector-model FILE); or use build_detector('mtcnn')"
    )


class MediaPipeDetector(FaceDetector):
    """``mediapipe.tasks.python.vision.FaceDetector`` in image mode; five landmarks in ``LANDMARK_NAMES`` order.

    ``model``: "short" (faces within about 2 m of the camera, 128x128 input) or "full" (smaller faces,
    192x192). ``score_threshold`` is MediaPipe's ``min_detection_confidence``, ``nms_threshold`` its
    ``min_suppression_threshold``. Boxes are clipped to the image.
    """

    def __init__(
        self,
        *,
        model: str = "short",
        model_path: str | Path | None = None,
        score_threshold: float = 0.5,
        nms_threshold: float = 0.3,
        largest_only: bool = False,
    ) -> None:
        super().__init__(largest_only=largest_only)
        if not 0.0 <= score_threshold <= 1.0 or not 0.0 <= nms_threshold <= 1.0:
            raise ConfigError(f"score_threshold and nms_threshold must lie in [0, 1], got {score_threshold}, {nms_threshold}")
        try:
            from mediapipe.tasks.python import BaseOptions, vision
        except ImportError as exc:
            raise MediaPipeUnavailableError(
                f"the mediapipe detector needs the mediapipe package ({exc}); install it with "
                f"`pip install \"ferkit[mediapipe]\"` (mediapipe 0.10.30/0.10.31), or use detector='mtcnn' or 'haar'"
            ) from None
        self.model_path = resolve_mediapipe_model(model, model_path)
        if model == "full" and not full_range_supported():
            raise ConfigError("model='full' needs mediapipe >= 1.0 (tested 1.2.3); this mediapipe runs only model='short'")
        options = vision.FaceDetectorOptions(
            base_options=BaseOptions(model_asset_path=str(self.model_path)),
            min_detection_confidence=float(score_threshold),
            min_suppression_threshold=float(nms_threshold),
        )
        try:
            self.net: Any = vision.FaceDetector.create_from_options(options)
        except (RuntimeError, ValueError) as exc:
            raise WeightsUnavailableError(
                f"cannot load BlazeFace model {self.model_path} (mediapipe: {str(exc).strip().splitlines()[-1]}); the "
                f"file is corrupt or not a face detection model: replace it with a fresh copy"
            ) from None
        self.model = model
        self.score_threshold = float(score_threshold)
        self.nms_threshold = float(nms_threshold)

    def _detect(self, bgr: np.ndarray, gray: np.ndarray) -> list[Face]:
        import cv2
        import mediapipe as mp

        height, width = bgr.shape[:2]
        image = mp.Image(image_format=mp.ImageFormat.SRGB, data=cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB))
        faces = []
        for detection in self.net.detect(image).detections:
            box = detection.bounding_box
            clipped = clip_box(box.origin_x, box.origin_y, box.width, box.height, width, height)
            if clipped is None:
                continue
            points = np.array([[k.x * width, k.y * height] for k in detection.keypoints], dtype=np.float32)
            landmarks = five_landmarks(points) if points.shape[0] >= 4 else None
            faces.append(Face(*clipped, score=float(detection.categories[0].score), landmarks=landmarks))
        return faces

    def close(self) -> None:
        """Release MediaPipe's graph now instead of at garbage collection."""
        self.net.close()


def five_landmarks(keypoints: np.ndarray) -> np.ndarray:
    """(5, 2) ferkit landmarks from BlazeFace's (6, 2) keypoints (pixels): eyes, nose, two mouth corners.

    The mouth corners are placed around the mouth centre along the eye direction (see the module docstring).
    """
    right_eye, left_eye, nose, mouth = (np.asarray(keypoints[i], dtype=np.float32) for i in range(4))
    half_mouth = (left_eye - right_eye) * (_MOUTH_TO_EYE_RATIO / 2.0)
    return np.stack([right_eye, left_eye, nose, mouth - half_mouth, mouth + half_mouth])


# Always registered, so that build_detector("mediapipe") without the extra says how to install it; listed by
# list_detectors() only when the package is installed.
register_detector("mediapipe", available=mediapipe_installed)(MediaPipeDetector)
