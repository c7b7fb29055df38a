"""YuNet CNN face detector (``cv2.FaceDetectorYN``): boxes plus five landmarks, from a user-supplied ONNX file.

ferkit never downloads. The model file ``face_detection_yunet_2023mar.onnx`` (OpenCV Zoo,
models/face_detection_yunet) is looked up at ``model_path=`` if given, else in the ferkit cache directory
(``$FERKIT_CACHE_DIR``, default ``~/.cache/ferkit``).
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np

from ferkit.errors import ConfigError, WeightsUnavailableError
from ferkit.faces.base import Face, FaceDetector, clip_box, register_detector

YUNET_FILENAME = "face_detection_yunet_2023mar.onnx"


def cache_dir() -> Path:
    """Where ferkit looks for user-supplied model files: ``$FERKIT_CACHE_DIR`` or ``~/.cache/ferkit``."""
    env = os.environ.get("FERKIT_CACHE_DIR")
    return Path(env).expanduser() if env else Path.home() / ".cache" / "ferkit"


def resolve_yunet_path(model_path: str | Path | None = None) -> Path:
    """Return the YuNet ONNX path, or raise WeightsUnavailableError saying which file to put where."""
    path = Path(model_path).expanduser() if model_path is not None else cache_dir() / YUNET_FILENAME
    if not path.is_file():
        raise WeightsUnavailableError(
            f"YuNet face detector weights not found at {path}. ferkit does not download them: get "
            f"{YUNET_FILENAME} from the OpenCV Zoo (github.com/opencv/opencv_zoo, models/face_detection_yunet) "
            f"and either place it at {cache_dir() / YUNET_FILENAME} (set $FERKIT_CACHE_DIR to change the "
            f"directory) or pass model_path= (on the command line: --detector-model FILE); or use the offline detector build_detector('haar')"
        )
    return path


class YuNetDetector(FaceDetector):
    """``cv2.FaceDetectorYN`` wrapper; landmarks come back in ``LANDMARK_NAMES`` order (YuNet's own).

    Boxes are clipped to the image; landmarks are kept as predicted (they may fall slightly outside).
    """

    def __init__(
        self,
        *,
        model_path: str | Path | None = None,
        score_threshold: float = 0.8,
        nms_threshold: float = 0.3,
        top_k: int = 5000,
        largest_only: bool = False,
    ) -> None:
        import cv2

        super().__init__(largest_only=largest_only)
        if not 0.0 <= score_threshold <= 1.0 or not 0.0 <= nms_threshold <= 1.0:
            raise ConfigError(
                f"score_threshold and nms_threshold must lie in [0, 1], got {score_threshold}, {nms_threshold}"
            )
        if top_k < 1:
            raise ConfigError(f"top_k must be >= 1, got {top_k}")
        self.model_path = resolve_yunet_path(model_path)
        try:
            self.net = cv2.FaceDetectorYN.create(
                str(self.model_path), "", (320, 320), float(score_threshold), float(nms_threshold), int(top_k)
            )
        except cv2.error as exc:
            raise WeightsUnavailableError(
                f"cannot load YuNet model {self.model_path} (OpenCV: {str(exc).strip().splitlines()[-1]}); the file "
                f"is corrupt or not {YUNET_FILENAME}: replace it with a fresh copy"
            ) from None
        self.score_threshold = float(score_threshold)
        self.nms_threshold = float(nms_threshold)
        self.top_k = int(top_k)

    def _detect(self, bgr: np.ndarray, gray: np.ndarray) -> list[Face]:
        height, width = bgr.shape[:2]
        self.net.setInputSize((width, height))
        _, rows = self.net.detect(bgr)
        faces = []
        for row in np.zeros((0, 15), np.float32) if rows is None else rows:
            box = clip_box(row[0], row[1], row[2], row[3], width, height)
            if box is not None:
                faces.append(Face(*box, score=float(row[14]), landmarks=row[4:14].reshape(5, 2)))
        return faces


register_detector("yunet")(YuNetDetector)
