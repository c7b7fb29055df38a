"""Face alignment: cut a face out of an image into the fixed-size crop the models take.

With five landmarks: a similarity transform (rotation, uniform scale, translation) that maps them onto a
canonical five-point template, as in paper 003's MTCNN detect-align-crop preprocessing. Without (Haar): a
square crop centred on the box.

Framing: the template is InsightFace's ArcFace 112x112 template scaled to the output size; its face fills
the crop about as tightly as FER2013/CK+48 crops do, and a Haar box on an upscaled CK+48 / FER2013 crop is
1.00 / 0.96 times the crop side (measured), so ``margin=0`` reproduces the training framing in both paths.
"""

from __future__ import annotations

import numpy as np

from ferkit.errors import ConfigError
from ferkit.faces.base import Face, as_bgr_and_gray

# InsightFace ArcFace template for a 112x112 crop, in LANDMARK_NAMES order (subject's right eye first,
# i.e. the eye at smaller x).
_ARCFACE_112 = np.array(
    [
        [38.2946, 51.6963],
        [73.5318, 51.5014],
        [56.0252, 71.7366],
        [41.5493, 92.3655],
        [70.7299, 92.2041],
    ],
    dtype=np.float64,
)


def five_point_template(size: int = 48, margin: float = 0.0) -> np.ndarray:
    """(5, 2) float32 target landmark positions in a ``size`` x ``size`` crop.

    ``margin`` adds context as a fraction of the face size: the template shrinks towards the crop centre by
    ``1 / (1 + margin)``, the same framing as a box crop of side ``(1 + margin) * max(w, h)``.
    """
    if size < 8:
        raise ConfigError(f"output size must be >= 8 pixels, got {size}")
    if margin <= -1.0:
        raise ConfigError(f"margin must be > -1 (a fraction of the face size, e.g. 0.2), got {margin}")
    points = _ARCFACE_112 * (size / 112.0)
    centre = size / 2.0
    return ((points - centre) / (1.0 + margin) + centre).astype(np.float32)


CANONICAL_TEMPLATE_48: np.ndarray = five_point_template(48)
CANONICAL_TEMPLATE_48.setflags(write=False)


def similarity_to_template(landmarks: np.ndarray, template: np.ndarray) -> np.ndarray | None:
    """(2, 3) least-squares similarity transform mapping ``landmarks`` (5, 2) onto ``template`` (5, 2).

    estimateAffinePartial2D with a reprojection threshold so large that every point is an inlier, so its
    final Levenberg-Marquardt refinement is a plain least-squares fit over all five points. None when the
    points are degenerate (e.g. all equal).
    """
    import cv2

    src = np.asarray(landmarks, dtype=np.float32).reshape(-1, 1, 2)
    dst = np.asarray(template, dtype=np.float32).reshape(-1, 1, 2)
    span = float(max(np.ptp(dst[:, 0, 0]), np.ptp(dst[:, 0, 1]), np.ptp(src[:, 0, 0]), np.ptp(src[:, 0, 1]), 1.0))
    matrix, _ = cv2.estimateAffinePartial2D(src, dst, method=cv2.RANSAC, ransacReprojThreshold=1e3 * span, refineIters=50)
    if matrix is None or not np.all(np.isfinite(matrix)) or abs(np.linalg.det(matrix[:, :2])) < 1e-12:
        return None
    return matrix


def align_face(
    image: np.ndarray,
    face: Face,
    *,
    output_size: int = 48,
    margin: float = 0.0,
    grayscale: bool = True,
) -> np.ndarray:
    """Crop ``face`` from ``image`` ((H, W) gray or (H, W, 3) BGR uint8) to an aligned square uint8 crop.

    Returns (S, S) when ``grayscale`` else (S, S, 3) BGR, S = ``output_size``. Uses the landmarks when the
    face has them (falling back to the box if they are degenerate); pixels outside the image are filled by
    border replication.
    """
    import cv2

    template = five_point_template(output_size, margin)  # also validates output_size and margin
    bgr, gray = as_bgr_and_gray(image)
    source = gray if grayscale else bgr
    if face.landmarks is not None:
        landmarks = np.asarray(face.landmarks, dtype=np.float64)
        matrix = similarity_to_template(landmarks, template)
        if matrix is not None:
            scale = float(np.sqrt(abs(np.linalg.det(matrix[:, :2]))))
            warp_source = source
            if scale < 0.5:
                # Shrinking a large face by warpAffine alone aliases; area-resample first, then warp.
                warp_source = cv2.resize(source, None, fx=scale, fy=scale, interpolation=cv2.INTER_AREA)
                factors = np.array([warp_source.shape[1] / source.shape[1], warp_source.shape[0] / source.shape[0]])
                matrix = similarity_to_template(landmarks * factors, template)
            if matrix is not None:
                return cv2.warpAffine(
                    warp_source, matrix, (output_size, output_size), flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE
                )
    return _box_crop(source, face, output_size, margin)


# Largest square (side in pixels) cut at full resolution; a larger one is cut from a copy shrunk by a whole factor
# first, so memory stays bounded (a 1,000,000 x 1 image with detector "none" asked for a 10^12-pixel square).
MAX_CROP_SIDE = 4096


def _box_crop(source: np.ndarray, face: Face, output_size: int, margin: float) -> np.ndarray:
    """Square crop of side (1 + margin) * max(w, h) centred on the box, padded by replication, resized."""
    centre_x, centre_y = face.center
    return _square_crop(source, centre_x, centre_y, max(1, int(round(max(face.w, face.h) * (1.0 + margin)))), output_size)


def _square_crop(source: np.ndarray, centre_x: float, centre_y: float, side: int, output_size: int) -> np.ndarray:
    """The ``side`` x ``side`` square centred on (centre_x, centre_y), resized to ``output_size``.

    Only the square is built (rows and columns outside the image repeat the nearest edge pixel), never a padded
    copy of the whole image; a square over ``MAX_CROP_SIDE`` is cut from a shrunk copy of the part it covers.
    """
    import cv2

    height, width = source.shape[:2]
    x0, y0 = int(round(centre_x - side / 2.0)), int(round(centre_y - side / 2.0))
    if side > MAX_CROP_SIDE:
        factor = -(-side // MAX_CROP_SIDE)  # ceil: the shrunk square is at most MAX_CROP_SIDE
        left, top = min(max(x0, 0), width - 1), min(max(y0, 0), height - 1)
        right, bottom = max(min(x0 + side, width), left + 1), max(min(y0 + side, height), top + 1)
        part = source[top:bottom, left:right]
        small = cv2.resize(part, (max(1, round(part.shape[1] / factor)), max(1, round(part.shape[0] / factor))), interpolation=cv2.INTER_AREA)
        return _square_crop(small, (centre_x - left) / factor, (centre_y - top) / factor, max(1, round(side / factor)), output_size)
    inside = x0 >= 0 and y0 >= 0 and x0 + side <= width and y0 + side <= height
    if inside:
        crop = source[y0 : y0 + side, x0 : x0 + side]
    else:
        rows = np.clip(np.arange(y0, y0 + side), 0, height - 1)
        cols = np.clip(np.arange(x0, x0 + side), 0, width - 1)
        crop = source[rows[:, None], cols[None, :]]
    interpolation = cv2.INTER_AREA if side > output_size else cv2.INTER_LINEAR
    return cv2.resize(np.ascontiguousarray(crop), (output_size, output_size), interpolation=interpolation)
