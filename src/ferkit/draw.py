"""Drawing predictions onto images: a box per face, its landmarks, and "label 87%" above it."""

from __future__ import annotations

from typing import Sequence

import numpy as np

from ferkit.checks import check_number
from ferkit.errors import ConfigError, ImageReadError
from ferkit.faces.base import Face

BOX_COLOR_BGR = (0, 200, 0)
TEXT_COLOR_BGR = (255, 255, 255)
# One colour per landmark, in LANDMARK_NAMES order (the YuNet sample's colours).
LANDMARK_COLORS_BGR = ((255, 0, 0), (0, 0, 255), (0, 255, 0), (255, 0, 255), (0, 255, 255))


def annotate(
    image_bgr: np.ndarray,
    faces: Sequence[Face],
    labels: Sequence[str] | None = None,
    probabilities: Sequence[float] | None = None,
) -> np.ndarray:
    """Return a copy of ``image_bgr`` ((H, W, 3) BGR or (H, W) gray uint8, same shape back) with each face drawn.

    ``labels[i]`` and ``probabilities[i]`` (the probability of that label, in [0, 1]) belong to ``faces[i]``;
    either may be None to draw boxes only. Gray images are drawn in white/gray.
    """
    import cv2

    if not isinstance(image_bgr, np.ndarray) or image_bgr.dtype != np.uint8 or image_bgr.ndim not in (2, 3):
        raise ImageReadError("image_bgr must be an (H, W, 3) or (H, W) uint8 numpy array")
    if min(image_bgr.shape[:2]) < 1:
        raise ImageReadError(f"image_bgr is empty ({image_bgr.shape})")
    for name, values in (("labels", labels), ("probabilities", probabilities)):
        if values is not None and len(values) != len(faces):
            raise ConfigError(f"{name} has {len(values)} entries but there are {len(faces)} faces; give one per face")
    for index, probability in enumerate(probabilities if probabilities is not None else []):  # 87 was drawn as "8700%"
        check_number(f"probabilities[{index}]", probability, low=0.0, high=1.0, meaning="the probability of face's label")
    canvas = image_bgr.copy()
    gray = canvas.ndim == 2 or canvas.shape[2] == 1

    def color(bgr: tuple[int, int, int]) -> tuple[int, ...]:
        return (int(round(0.114 * bgr[0] + 0.587 * bgr[1] + 0.299 * bgr[2])),) if gray else bgr

    height, width = canvas.shape[:2]
    thickness = max(1, round(min(height, width) / 300))
    font_scale = max(0.35, min(height, width) / 800)
    for i, face in enumerate(faces):
        cv2.rectangle(canvas, (face.x, face.y), (face.x + face.w - 1, face.y + face.h - 1), color(BOX_COLOR_BGR), thickness)
        if face.landmarks is not None:
            radius = max(1, face.w // 40)
            for (px, py), landmark_color in zip(face.landmarks, LANDMARK_COLORS_BGR):
                cv2.circle(canvas, (int(round(px)), int(round(py))), radius, color(landmark_color), -1)
        parts = []
        if labels is not None:
            parts.append(str(labels[i]))
        if probabilities is not None:
            parts.append(f"{100.0 * float(probabilities[i]):.0f}%")
        if parts:
            text = " ".join(parts)
            (text_w, text_h), baseline = cv2.getTextSize(text, cv2.FONT_HERSHEY_SIMPLEX, font_scale, thickness)
            top = face.y - text_h - baseline - 2
            if top < 0:  # no room above the box: write inside it
                top = face.y
            cv2.rectangle(canvas, (face.x, top), (face.x + text_w + 2, top + text_h + baseline + 2), color(BOX_COLOR_BGR), -1)
            cv2.putText(
                canvas, text, (face.x + 1, top + text_h + 1), cv2.FONT_HERSHEY_SIMPLEX, font_scale,
                color(TEXT_COLOR_BGR), thickness, cv2.LINE_AA,
            )
    return canvas
