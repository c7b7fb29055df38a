"""Detect on a downscaled copy of the frame and map the faces back to full-size coordinates.

Why: detector cost grows with the pixel count (every pyramid level of Haar and MTCNN is searched), while
the faces the classifier can read (48 px crops) are still found at half resolution. Alignment then cuts
the crop from the full-size frame, so the classifier sees no loss of detail.
"""

from __future__ import annotations

import numpy as np

from ferkit.checks import check_fraction
from ferkit.faces.base import Face, FaceDetector, clip_box


def rescale_face(face: Face, factor: float, width: int, height: int) -> Face | None:
    """``face`` found on an image scaled by ``factor``, in the coordinates of the (width, height) original."""
    box = clip_box(face.x / factor, face.y / factor, face.w / factor, face.h / factor, width, height)
    if box is None:
        return None
    landmarks = None if face.landmarks is None else np.asarray(face.landmarks, np.float32) / factor
    return Face(*box, score=face.score, landmarks=landmarks)


class ScaledDetector(FaceDetector):
    """Wraps ``detector``: detects on the frame resized by ``scale`` (0 < scale <= 1, INTER_AREA).

    ``scale=1`` passes frames through unchanged. Boxes and landmarks come back in the input's pixels.
    """

    def __init__(self, detector: FaceDetector, scale: float) -> None:
        super().__init__(largest_only=detector.largest_only)
        self.detector = detector
        self.scale = check_fraction("detect scale", scale, meaning="e.g. 0.5 detects on a half-size frame")

    def _detect(self, bgr: np.ndarray, gray: np.ndarray) -> list[Face]:
        import cv2

        if self.scale == 1.0:
            return self.detector.detect(bgr)
        height, width = bgr.shape[:2]
        small = cv2.resize(bgr, (max(1, round(width * self.scale)), max(1, round(height * self.scale))), interpolation=cv2.INTER_AREA)
        factor_x, factor_y = small.shape[1] / width, small.shape[0] / height
        faces = [rescale_face(face, (factor_x + factor_y) / 2.0, width, height) for face in self.detector.detect(small)]
        return [face for face in faces if face is not None]
