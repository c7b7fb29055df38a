"""Put an occluder on a face: choose where (a facial region), how big (a target covered fraction), composite.

Regions are defined on the aligned face. Without landmarks the face is the crop (or ``face_box``)
and region centres are canonical positions measured on the mean CK+48 / FER2013 48x48 face, in
fractions of the face box, so any crop size works. With 5-point landmarks a least-squares
similarity transform maps the canonical points onto them, which also gives the face's roll
angle and size.

Side convention: ``left_eye`` is the eye on the **image's left** (the subject's right eye), the
same order as MTCNN / RetinaFace 5-point landmarks (left eye, right eye, nose, mouth left, mouth
right), so a landmark array from a detector can be passed as is.

``occlusion_ratio`` is the fraction of the face area covered by the occluder, counting pixels
whose composited alpha is > 0.5 (semi-transparent clear-glass lenses do not count). The occluder
width is searched (multiplicative steps on the area, safeguarded by bisection) until the covered
fraction is within ``tolerance`` of the target.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Sequence, TypedDict, Unpack

import cv2
import numpy as np

from ferkit.checks import check_number
from ferkit.errors import ConfigError
from ferkit.occlusion.custom import check_patches
from ferkit.occlusion.occluders import OCCLUDER_KINDS, OCCLUDER_SPECS, check_rng, draw_occluder

REGIONS: tuple[str, ...] = ("left_eye", "right_eye", "both_eyes", "nose", "mouth", "lower_face", "upper_face", "random")

#: region "natural" = each kind's usual place (sunglasses on the eyes, masks on the lower face)
NATURAL = "natural"

# (x, y) as fractions of the face box: left eye (image left), right eye, nose tip, mouth corners.
CANONICAL_LANDMARKS = np.array([[0.31, 0.39], [0.69, 0.39], [0.50, 0.60], [0.36, 0.78], [0.64, 0.78]], np.float64)

_REGION_CENTRES: dict[str, tuple[float, float]] = {
    "left_eye": (0.31, 0.39),
    "right_eye": (0.69, 0.39),
    "both_eyes": (0.50, 0.39),
    "nose": (0.50, 0.58),
    "mouth": (0.50, 0.78),
    "lower_face": (0.50, 0.71),
    "upper_face": (0.50, 0.30),
}
# Usual occluder width per region (fraction of the face width) when no ratio is asked for; paper
# 003's fixed-position test used ~12x12 px occluders on 48x48 faces for eyes, nose and mouth.
_REGION_WIDTHS: dict[str, float] = {"left_eye": 0.3, "right_eye": 0.3, "both_eyes": 0.95, "nose": 0.3, "mouth": 0.5, "lower_face": 0.95, "upper_face": 1.05}

CUSTOM = "custom"
_CUSTOM_WIDTH, _CUSTOM_TILT = 0.4, 25.0


class OcclusionRatioError(ConfigError):
    """The requested occlusion ratio cannot be reached with this occluder at this place."""


@dataclass(frozen=True)
class Occlusion:
    """One occluded image and what was done: ``mask`` (H, W) bool marks covered pixels."""

    image: np.ndarray
    mask: np.ndarray
    kind: str
    region: str
    covered_ratio: float


class PlacementOptions(TypedDict, total=False):
    """Where and how large an occluder is drawn: the keyword options of ``draw_occluder_layer`` (see ``occlude``)."""

    kind: str
    region: str
    occlusion_ratio: float | None
    landmarks: np.ndarray | None
    face_box: tuple[int, int, int, int] | None
    tolerance: float
    custom: Sequence[np.ndarray] | None
    fallback_kinds: Sequence[str] | None


def occlude(image: np.ndarray, *, rng: np.random.Generator, **placement: Unpack[PlacementOptions]) -> tuple[np.ndarray, np.ndarray]:
    """Occlude a face; returns (occluded image, same shape and dtype; covered mask (H, W) bool).

    image: (H, W) or (H, W, 3) uint8. kind: one of ``OCCLUDER_KINDS``, ``"custom"`` (one of the
    RGBA patches in ``custom``) or ``"random"``. region: one of ``REGIONS`` or ``"natural"``.
    occlusion_ratio: target covered fraction of the face (crop or ``face_box`` (x0, y0, x1, y1)),
    met within ``tolerance``; None = the occluder's usual size. landmarks: (5, 2) pixel (x, y).
    """
    result = apply_occlusion(image, rng=rng, **placement)
    return result.image, result.mask


def apply_occlusion(image: np.ndarray, *, rng: np.random.Generator, **placement: Unpack[PlacementOptions]) -> Occlusion:
    """``occlude`` with the details (kind and region chosen, ratio reached).

    When the ratio cannot be reached with the chosen kind (clear glasses cover little), the kinds in
    ``fallback_kinds`` (default: all others when ``kind="random"``, none otherwise) are tried in random order.
    """
    _check_image(image)
    layer = draw_occluder_layer(image.shape[:2], rng=rng, **placement)
    return Occlusion(_composite(image, layer.rgba), layer.mask, layer.kind, layer.region, layer.covered_ratio)


@dataclass(frozen=True)
class OccluderLayer:
    """An occluder placed on an empty layer of the image's size, before compositing.

    rgba (H, W, 4) float32 in [0, 1]; mask (H, W) bool, the pixels it covers (alpha > 0.5). The layer
    depends only on the image size and the random draws, never on the pixels, so a batch's layers can
    be drawn on the host and composited wherever the images live (``ferkit.occlusion.batch``).
    """

    rgba: np.ndarray
    mask: np.ndarray
    kind: str
    region: str
    covered_ratio: float


def check_tolerance(tolerance: object) -> None:
    """How far the covered fraction may miss its target: a number in [0, 1). A negative or NaN tolerance made every
    ratio fail with "cannot cover 0.30 of the face (closest: 0.30)"."""
    check_number("tolerance", tolerance, low=0.0, high=1.0, high_inclusive=False, meaning="how far the covered fraction may miss occlusion_ratio")


def draw_occluder_layer(
    image_hw: tuple[int, int],
    *,
    kind: str = "random",
    region: str = "random",
    occlusion_ratio: float | None = None,
    rng: np.random.Generator,
    landmarks: np.ndarray | None = None,
    face_box: tuple[int, int, int, int] | None = None,
    tolerance: float = 0.02,
    custom: Sequence[np.ndarray] | None = None,
    fallback_kinds: Sequence[str] | None = None,
) -> OccluderLayer:
    """The layer ``apply_occlusion`` composites onto an image of size ``image_hw``, with the same random draws."""
    check_rng(rng)
    check_tolerance(tolerance)
    if occlusion_ratio is not None and not 0.0 < occlusion_ratio <= 1.0:
        raise ConfigError(f"occlusion_ratio must be in (0, 1] or None, got {occlusion_ratio}")
    if min(image_hw) < 8:
        raise ConfigError(f"image is too small to occlude ({tuple(image_hw)}); faces of at least 8x8 pixels are needed")
    if custom is not None:
        check_patches(custom)
    available = list(OCCLUDER_KINDS) + ([CUSTOM] if custom else [])
    if kind == "random":
        kind = str(rng.choice(available))
        fallback_kinds = available if fallback_kinds is None else fallback_kinds
    elif kind not in available:
        hint = " ('custom' needs a list of RGBA patches in custom=)" if kind == CUSTOM else ""
        raise ConfigError(f"unknown occluder kind {kind!r}; available: {', '.join(available)} or 'random'{hint}")
    if region not in REGIONS and region != NATURAL:
        raise ConfigError(f"unknown region {region!r}; available: {', '.join(REGIONS)} or {NATURAL!r}")
    frame = FaceFrame.build(tuple(image_hw), landmarks, face_box)
    candidates = [kind] + [k for k in rng.permutation(list(fallback_kinds or [])) if k != kind]
    failures = []
    for candidate in candidates:
        try:
            return _layer_with(str(candidate), region, occlusion_ratio, rng, frame, tolerance, custom)
        except OcclusionRatioError as exc:
            failures.append(str(exc))
    raise OcclusionRatioError("; ".join(failures))


@dataclass(frozen=True)
class FaceFrame:
    """Where the face is: canonical (fractions of the face box) -> pixel similarity transform and the face area."""

    transform: np.ndarray  # (2, 3): pixel = A @ canonical + t
    box: tuple[int, int, int, int]  # face area (x0, y0, x1, y1) in pixels, where the ratio is measured
    image_hw: tuple[int, int]

    @staticmethod
    def build(image_hw: tuple[int, int], landmarks: np.ndarray | None, face_box: tuple[int, int, int, int] | None) -> "FaceFrame":
        h, w = image_hw
        if face_box is not None:
            x0, y0, x1, y1 = (int(round(v)) for v in face_box)
            x0, y0, x1, y1 = max(x0, 0), max(y0, 0), min(x1, w), min(y1, h)
            if x1 - x0 < 2 or y1 - y0 < 2:
                raise ConfigError(f"face_box {tuple(face_box)} leaves no face area inside the {w}x{h} image; give (x0, y0, x1, y1) in pixels")
            box = (x0, y0, x1, y1)
        else:
            box = (0, 0, w, h)
        if landmarks is not None:
            points = np.asarray(landmarks, np.float64)
            if points.shape != (5, 2) or not np.isfinite(points).all():
                raise ConfigError(f"landmarks must be a (5, 2) array of pixel (x, y): left eye, right eye, nose, mouth left, mouth right; got shape {points.shape}")
            if np.hypot(*(points[1] - points[0])) < 1.0:  # one point for both eyes: the frame collapses (the whole image was painted)
                raise ConfigError(f"landmarks put both eyes at {points[0].tolist()}; give five distinct points (left eye, right eye, nose, mouth corners)")
            inside = (points[:, 0] >= 0) & (points[:, 0] < w) & (points[:, 1] >= 0) & (points[:, 1] < h)
            if not inside.any():
                raise ConfigError(f"no landmark lies inside the {w}x{h} image (got {points.round(1).tolist()}); give them in this image's pixels")
            transform = _similarity(CANONICAL_LANDMARKS, points)
        else:
            bw, bh = box[2] - box[0], box[3] - box[1]
            transform = np.array([[bw, 0.0, box[0]], [0.0, bh, box[1]]])
        return FaceFrame(transform, box, (h, w))

    def to_pixels(self, point: tuple[float, float]) -> tuple[float, float]:
        x, y = self.transform @ np.array([point[0], point[1], 1.0])
        return float(x) - 0.5, float(y) - 0.5  # pixel centres sit at integer coordinates

    @property
    def face_width(self) -> float:
        return float(np.hypot(self.transform[0, 0], self.transform[1, 0]))

    @property
    def roll_degrees(self) -> float:
        return float(np.degrees(np.arctan2(self.transform[1, 0], self.transform[0, 0])))

    @property
    def area(self) -> int:
        x0, y0, x1, y1 = self.box
        return (x1 - x0) * (y1 - y0)

    def covered(self, mask: np.ndarray) -> float:
        x0, y0, x1, y1 = self.box
        return float(mask[y0:y1, x0:x1].sum()) / self.area


def _similarity(src: np.ndarray, dst: np.ndarray) -> np.ndarray:
    """Least-squares similarity (rotation, uniform scale, translation) src -> dst (Umeyama 1991); (2, 3)."""
    mu_s, mu_d = src.mean(0), dst.mean(0)
    s, d = src - mu_s, dst - mu_d
    u, sig, vt = np.linalg.svd(d.T @ s / len(src))
    sign = np.diag([1.0, np.sign(np.linalg.det(u @ vt)) or 1.0])
    rot = u @ sign @ vt
    scale = np.trace(np.diag(sig) @ sign) / s.var(0).sum()
    a = scale * rot
    return np.concatenate([a, (mu_d - a @ mu_s)[:, None]], 1)


def _layer_with(
    kind: str,
    region: str,
    ratio: float | None,
    rng: np.random.Generator,
    frame: FaceFrame,
    tolerance: float,
    custom: Sequence[np.ndarray] | None,
) -> OccluderLayer:
    if kind == CUSTOM:
        patch = np.asarray(custom[int(rng.integers(len(custom)))])  # type: ignore[index]
        natural, width_frac, max_tilt = "random", _CUSTOM_WIDTH, _CUSTOM_TILT
    else:
        spec = OCCLUDER_SPECS[kind]
        patch = draw_occluder(kind, rng)
        natural, width_frac, max_tilt = spec.natural_region, spec.width, spec.max_tilt
    where = natural if region == NATURAL else region
    if where == "random":
        centre = (rng.uniform(0.2, 0.8), rng.uniform(0.2, 0.8))
    else:
        centre = _REGION_CENTRES[where]
        width_frac = _REGION_WIDTHS[where] if region != NATURAL else width_frac
    centre_px = frame.to_pixels(centre)
    angle = -frame.roll_degrees + rng.uniform(-max_tilt, max_tilt)  # cv2 angles are counter-clockwise
    layer = PatchRenderer(patch, centre_px, angle, frame.image_hw)
    if ratio is None:
        width = frame.face_width * width_frac * rng.uniform(0.85, 1.15)
    else:
        width = _fit_width(layer, frame, ratio, tolerance, kind, where)
    rgba = layer.render(width)
    mask = rgba[..., 3] > 0.5
    return OccluderLayer(rgba, mask, kind, where, frame.covered(mask))


class PatchRenderer:
    """Renders one RGBA patch at a given width, rotated about and centred on a pixel position."""

    def __init__(self, patch: np.ndarray, centre: tuple[float, float], angle: float, image_hw: tuple[int, int]) -> None:
        self.patch = patch.astype(np.float32) / 255.0
        # The opacity twice: OpenCV warps 2- and 4-channel float images alike, a 1-channel one differs in the last bit.
        self.opacity = np.ascontiguousarray(np.repeat(self.patch[..., 3:4], 2, axis=2))
        self.centre = centre
        self.angle = angle
        self.image_hw = image_hw
        self.opaque_fraction = max(float((patch[..., 3] > 127).mean()), 1e-3)
        self.aspect = patch.shape[0] / patch.shape[1]

    def render(self, width: float) -> np.ndarray:
        """(H, W, 4) float in [0, 1]: the patch placed on an empty image layer."""
        return self._placed(width)

    def coverage(self, width: float, frame: FaceFrame) -> float:
        # The width search renders the opacity alone: channel 3 of ``render`` bit for bit (tests/test_occlusion.py)
        # at half the work; the drawing of occluders was a fifth of a FER2013 training step on this CPU.
        return frame.covered(self._placed(width, opacity_only=True)[..., 0] > 0.5)

    def _placed(self, width: float, *, opacity_only: bool = False) -> np.ndarray:
        """The patch (or only its opacity, twice) scaled to ``width``, rotated and centred on an empty layer."""
        h, w = self.image_hw
        patch = self.opacity if opacity_only else self.patch
        scale = width / patch.shape[1]
        if scale < 1.0:
            # Shrink with area averaging first (no aliasing), then warp with the small residual scale
            # so that the width stays continuous rather than whole pixels.
            size = (max(1, int(np.ceil(patch.shape[1] * scale))), max(1, int(np.ceil(patch.shape[0] * scale))))
            if opacity_only and patch.shape[1] % size[0] == 0 and patch.shape[0] % size[1] == 0:
                # OpenCV's integer-factor area path rounds 2- and 4-channel images apart in the last bit
                patch = np.repeat(cv2.resize(self.patch, size, interpolation=cv2.INTER_AREA)[..., 3:4], 2, axis=2)
            else:
                patch = cv2.resize(patch, size, interpolation=cv2.INTER_AREA)
            scale = width / patch.shape[1]
        ph, pw = patch.shape[:2]
        matrix = cv2.getRotationMatrix2D(((pw - 1) / 2, (ph - 1) / 2), self.angle, scale)
        matrix[:, 2] += np.array(self.centre) - np.array([(pw - 1) / 2, (ph - 1) / 2])
        return cv2.warpAffine(patch, matrix, (w, h), flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_CONSTANT, borderValue=(0, 0, 0, 0))


def _fit_width(layer: PatchRenderer, frame: FaceFrame, target: float, tolerance: float, kind: str, region: str) -> float:
    """Patch width (pixels) whose covered fraction is within ``tolerance`` of ``target``."""
    max_width = 4.0 * float(np.hypot(*frame.image_hw))
    width = float(np.sqrt(target * frame.area / (layer.opaque_fraction * layer.aspect)))
    low, high = 0.0, np.inf
    best_width, best_error, best_covered = width, np.inf, 0.0
    for _ in range(12):
        width = float(np.clip(width, 0.5, max_width))
        covered = layer.coverage(width, frame)
        error = abs(covered - target)
        if error < best_error:
            best_width, best_error, best_covered = width, error, covered
        if error <= tolerance / 4:  # aim well inside the tolerance so ratios are unbiased
            return width
        if covered < target:
            low = max(low, width)
            if width >= max_width:
                break
        else:
            high = min(high, width)
        step = width * np.sqrt(target / max(covered, 1e-3))  # covered area grows ~ width^2
        width = step if low < step < high else (low + high) / 2 if np.isfinite(high) else width * 2
    if best_error <= tolerance:
        return best_width
    # Clipping at the border or hollow shapes can make coverage non-monotonic: scan before giving up.
    for width in np.geomspace(0.05 * frame.face_width, max_width, 48):
        covered = layer.coverage(float(width), frame)
        if abs(covered - target) < best_error:
            best_width, best_error, best_covered = float(width), abs(covered - target), covered
    if best_error <= tolerance:
        return best_width
    raise OcclusionRatioError(
        f"occluder {kind!r} at region {region!r} cannot cover {target:.2f} of the face (closest: {best_covered:.2f}); "
        f"ask for another occlusion_ratio, kind or region"
    )


def _composite(image: np.ndarray, rgba: np.ndarray) -> np.ndarray:
    """Alpha-blend the layer; grayscale images get the occluder's luminance (ITU-R BT.601)."""
    alpha = rgba[..., 3:4]
    colour = rgba[..., :3]
    base = image.astype(np.float32) / 255.0
    if image.ndim == 2:
        colour = colour @ np.array([0.299, 0.587, 0.114], np.float32)
        alpha = alpha[..., 0]
    out = alpha * colour + (1.0 - alpha) * base
    return np.clip(out * 255.0 + 0.5, 0, 255).astype(np.uint8)


def _check_image(image: np.ndarray) -> None:
    if not isinstance(image, np.ndarray) or image.dtype != np.uint8 or not (image.ndim == 2 or (image.ndim == 3 and image.shape[2] == 3)):
        desc = f"{image.dtype} {image.shape}" if isinstance(image, np.ndarray) else type(image).__name__
        raise ConfigError(f"image must be a (H, W) grayscale or (H, W, 3) RGB uint8 array, got {desc}")
    if min(image.shape[:2]) < 8:
        raise ConfigError(f"image is too small to occlude ({image.shape[:2]}); faces of at least 8x8 pixels are needed")
