"""Viola-Jones Haar-cascade face detector: the offline default (the cascade ships inside opencv-python).

Measured on 48 px dataset crops upscaled to 192 px on a gray canvas (scale_factor 1.1, min_neighbors 5):
CK+48 100/100 found, FER2013 PublicTest ~77/100 (FER2013 has many turned, occluded and drawn faces).
Histogram equalisation before detection lowered both rates, so it is not done.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from ferkit.errors import ConfigError, WeightsUnavailableError
from ferkit.faces.base import Face, FaceDetector, register_detector

DEFAULT_CASCADE = "haarcascade_frontalface_default.xml"


def default_cascade_path() -> Path:
    import cv2

    return Path(cv2.data.haarcascades) / DEFAULT_CASCADE


class HaarDetector(FaceDetector):
    """Frontal-face Haar cascade via ``cv2.CascadeClassifier.detectMultiScale2``.

    ``score`` is the neighbour count ``n`` (how many overlapping raw detections were merged into the box)
    squashed to ``n / (n + score_scale)``: monotone, in (0, 1), 0.5 at ``n == score_scale``. It ranks
    boxes; it is not a calibrated probability. Landmarks are None.
    """

    def __init__(
        self,
        *,
        cascade_path: str | Path | None = None,
        scale_factor: float = 1.1,
        min_neighbors: int = 5,
        min_size: int = 30,
        max_size: int | None = None,
        score_scale: float = 10.0,
        largest_only: bool = False,
    ) -> None:
        import cv2

        super().__init__(largest_only=largest_only)
        if scale_factor <= 1.0:
            raise ConfigError(f"scale_factor must be > 1 (e.g. 1.1), got {scale_factor}")
        if min_neighbors < 0:
            raise ConfigError(f"min_neighbors must be >= 0, got {min_neighbors}")
        if min_size < 1 or (max_size is not None and max_size < min_size):
            raise ConfigError(f"need 1 <= min_size <= max_size, got min_size={min_size}, max_size={max_size}")
        if score_scale <= 0:
            raise ConfigError(f"score_scale must be > 0, got {score_scale}")
        path = Path(cascade_path) if cascade_path is not None else default_cascade_path()
        if not path.is_file():
            raise WeightsUnavailableError(
                f"Haar cascade file not found: {path}; pass cascade_path= pointing to an OpenCV cascade XML "
                f"(opencv-python ships {DEFAULT_CASCADE} in cv2.data.haarcascades)"
            )
        self.cascade = cv2.CascadeClassifier(str(path))
        if self.cascade.empty():
            raise WeightsUnavailableError(f"cannot load Haar cascade {path}: not a valid OpenCV cascade XML file")
        self.cascade_path = path
        self.scale_factor = float(scale_factor)
        self.min_neighbors = int(min_neighbors)
        self.min_size = int(min_size)
        self.max_size = None if max_size is None else int(max_size)
        self.score_scale = float(score_scale)

    def _detect(self, bgr: np.ndarray, gray: np.ndarray) -> list[Face]:
        kwargs = {}
        if self.max_size is not None:
            kwargs["maxSize"] = (self.max_size, self.max_size)
        boxes, neighbours = self.cascade.detectMultiScale2(
            gray,
            scaleFactor=self.scale_factor,
            minNeighbors=self.min_neighbors,
            minSize=(self.min_size, self.min_size),
            **kwargs,
        )
        faces = []
        for (x, y, w, h), n in zip(np.asarray(boxes).reshape(-1, 4), np.asarray(neighbours).reshape(-1)):
            faces.append(Face(int(x), int(y), int(w), int(h), score=float(n) / (float(n) + self.score_scale)))
        return faces


register_detector("haar")(HaarDetector)
