"""The face-detector interface, the ``Face`` record every backend returns, and the backend registry.

``build_detector("haar")`` works offline with the cascade that ships inside opencv-python;
``build_detector("yunet", model_path=...)`` needs the YuNet ONNX file on disk (ferkit never downloads).
"""

from __future__ import annotations

import math
import types
import typing
from abc import ABC, abstractmethod
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Sequence

import numpy as np

from ferkit.errors import ConfigError, ImageReadError
from ferkit.registry import Registry

# Landmark order used everywhere in ferkit: YuNet's output order (OpenCV FaceDetectorYN docs).
# "Right"/"left" are the *subject's*: in an unmirrored frontal photo the subject's right eye is the
# one on the viewer's left, i.e. landmark 0 has the smaller x. Same order as the InsightFace/ArcFace
# five-point template.
LANDMARK_NAMES: tuple[str, ...] = ("right_eye", "left_eye", "nose_tip", "right_mouth_corner", "left_mouth_corner")


@dataclass(frozen=True, eq=False)
class Face:
    """One detected face, in the pixel coordinates of the image it was found in.

    ``x, y, w, h``: integer box (top-left corner, width, height), clipped to the image.
    ``score``: detector confidence in [0, 1] (for Haar a squashed neighbour count, not a probability).
    ``landmarks``: (5, 2) float32 read-only array of (x, y) in ``LANDMARK_NAMES`` order, or None when the
    backend gives none (Haar).
    """

    x: int
    y: int
    w: int
    h: int
    score: float
    landmarks: np.ndarray | None = None

    def __post_init__(self) -> None:
        for name in ("x", "y", "w", "h"):
            object.__setattr__(self, name, int(getattr(self, name)))
        object.__setattr__(self, "score", float(self.score))
        if not math.isfinite(self.score):
            raise ConfigError(f"Face score must be a finite number, got {self.score}")
        if self.w <= 0 or self.h <= 0:
            raise ConfigError(f"Face box must have positive width and height, got w={self.w}, h={self.h}")
        if self.landmarks is not None:
            points = np.array(self.landmarks, dtype=np.float32).reshape(-1, 2)
            if points.shape != (5, 2):
                raise ConfigError(f"Face landmarks must have shape (5, 2), got {np.shape(self.landmarks)}")
            if not np.isfinite(points).all():  # a NaN point broke drawing and alignment far from here
                raise ConfigError(f"Face landmarks must be finite numbers, got {points.tolist()}")
            points.setflags(write=False)
            object.__setattr__(self, "landmarks", points)

    @property
    def box(self) -> tuple[int, int, int, int]:
        return (self.x, self.y, self.w, self.h)

    @property
    def area(self) -> int:
        return self.w * self.h

    @property
    def center(self) -> tuple[float, float]:
        return (self.x + self.w / 2.0, self.y + self.h / 2.0)


class FaceDetector(ABC):
    """``detect(image) -> list[Face]``, largest face first.

    Subclasses implement ``_detect`` on a validated (H, W, 3) BGR uint8 image (and its gray version);
    sorting by area and the ``largest_only`` choice (paper 002 keeps only the largest face) happen here.
    """

    name: str = ""  # the registry name, set by register_detector ("" for an unregistered detector)

    def __init__(self, *, largest_only: bool = False) -> None:
        self.largest_only = bool(largest_only)

    def detect(self, image: np.ndarray) -> list[Face]:
        """Faces in ``image`` ((H, W, 3) BGR or (H, W) gray, uint8), sorted by box area, descending."""
        bgr, gray = as_bgr_and_gray(image)
        faces = sorted(self._detect(bgr, gray), key=lambda face: face.area, reverse=True)
        return faces[:1] if self.largest_only else faces

    @abstractmethod
    def _detect(self, bgr: np.ndarray, gray: np.ndarray) -> list[Face]: ...


def as_bgr_and_gray(image: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Validate a detector input and return it both as (H, W, 3) BGR and (H, W) gray uint8."""
    import cv2

    if not isinstance(image, np.ndarray):
        raise ImageReadError(f"image must be a numpy array, got {type(image).__name__}")
    if image.dtype != np.uint8:
        raise ImageReadError(f"image must be uint8 (0..255), got dtype {image.dtype}; convert with image.astype(np.uint8)")
    if image.ndim == 3 and image.shape[2] == 1:
        image = image[:, :, 0]
    if image.ndim == 2:
        gray = np.ascontiguousarray(image)
        return cv2.cvtColor(gray, cv2.COLOR_GRAY2BGR), gray
    if image.ndim == 3 and image.shape[2] in (3, 4):
        bgr = np.ascontiguousarray(image[:, :, :3])
        return bgr, cv2.cvtColor(bgr, cv2.COLOR_BGR2GRAY)
    raise ImageReadError(f"image must have shape (H, W) or (H, W, 3), got {image.shape}")


def clip_box(x: float, y: float, w: float, h: float, width: int, height: int) -> tuple[int, int, int, int] | None:
    """Round a float box and intersect it with the image; None when nothing is left."""
    x0, y0 = max(0, int(round(x))), max(0, int(round(y)))
    x1, y1 = min(width, int(round(x + w))), min(height, int(round(y + h)))
    if x1 <= x0 or y1 <= y0:
        return None
    return x0, y0, x1 - x0, y1 - y0


DetectorBuilder = Callable[..., FaceDetector]
DETECTOR_REGISTRY: Registry[DetectorBuilder] = Registry("face detector", plural="detectors")


def register_detector(name: str, **metadata: Any) -> Callable[[DetectorBuilder], DetectorBuilder]:
    """Register a detector builder under ``name``; a FaceDetector class also learns its ``name`` (framing looks it up)."""
    register = DETECTOR_REGISTRY.register(name, **metadata)

    def named(builder: DetectorBuilder) -> DetectorBuilder:
        if isinstance(builder, type) and issubclass(builder, FaceDetector):
            builder.name = name
        return register(builder)

    return named


def list_detectors() -> list[str]:
    """Registered detectors whose optional package is installed (a backend may register ``available=callable``)."""
    return [name for name in DETECTOR_REGISTRY.names() if DETECTOR_REGISTRY.metadata(name).get("available", lambda: True)()]


def build_detector(name: str = "haar", **options: Any) -> FaceDetector:
    """Build face detector ``name``; ``options`` are the backend's keyword arguments (e.g. ``largest_only``).

    Values are checked against the backend's annotations first (ints become floats where a float is wanted, lists
    tuples), so ``--detector-option score_threshold=abc`` is a ConfigError naming the option, not a TypeError."""
    builder = DETECTOR_REGISTRY.get(name)
    return DETECTOR_REGISTRY.build(name, **_typed_options(name, builder, options))


def _typed_options(name: str, builder: Any, options: dict[str, Any]) -> dict[str, Any]:
    try:
        hints = typing.get_type_hints(builder.__init__ if isinstance(builder, type) else builder)
    except Exception:  # a builder whose annotations cannot be resolved: the call itself decides
        return options
    typed = dict(options)
    for key, value in options.items():
        if key not in hints:
            continue  # unknown keys: the registry names them
        ok, typed[key] = _conform(value, hints[key])
        if not ok:
            raise ConfigError(f"detector {name!r}: option {key}={value!r} must be {_describe(hints[key])}")
    return typed


def _conform(value: Any, hint: Any) -> tuple[bool, Any]:
    """(value fits ``hint``, value converted: int -> float, list -> tuple); hints ferkit's detectors use."""
    origin, args = typing.get_origin(hint), typing.get_args(hint)
    if origin in (typing.Union, types.UnionType):
        for arm in args:
            ok, converted = _conform(value, arm)
            if ok:
                return True, converted
        return False, value
    if hint is type(None):
        return value is None, value
    if hint is bool:
        return isinstance(value, bool), value
    number = isinstance(value, (int, float)) and not isinstance(value, bool)
    if hint is int:
        return number and float(value).is_integer(), int(value) if number and float(value).is_integer() else value
    if hint is float:
        return number, float(value) if number else value
    if origin is tuple:
        if not isinstance(value, (tuple, list)):
            return False, value
        element_hints = [args[0]] * len(value) if len(args) == 2 and args[1] is Ellipsis else list(args)
        if len(element_hints) != len(value):
            return False, value
        conformed = [_conform(v, h) for v, h in zip(value, element_hints)]
        return all(ok for ok, _ in conformed), tuple(v for _, v in conformed)
    if hint is Path:
        return isinstance(value, (str, Path)), value
    if isinstance(hint, type):
        return isinstance(value, hint), value
    return True, value  # Any and hints not used by the detectors


def _describe(hint: Any) -> str:
    origin, args = typing.get_origin(hint), typing.get_args(hint)
    if origin in (typing.Union, types.UnionType):
        return " or ".join(dict.fromkeys(_describe(a) for a in args if a is not type(None)))
    if origin is tuple:
        return f"{len(args)} comma-separated values ({', '.join(_describe(a) for a in args)})" if Ellipsis not in args else "comma-separated values"
    return {bool: "true or false", int: "a whole number", float: "a number", str: "text", Path: "a path"}.get(hint, getattr(hint, "__name__", str(hint)))


def _option_value(text: str) -> Any:
    """``"0.3"`` -> 0.3, ``"40"`` -> 40, ``"true"`` -> True, anything else stays a string."""
    lowered = text.strip().lower()
    if lowered in ("true", "false"):
        return lowered == "true"
    for cast in (int, float):
        try:
            return cast(text)
        except ValueError:
            pass
    return text.strip()


def parse_detector_options(pairs: Sequence[str]) -> dict[str, Any]:
    """``["score_threshold=0.2", "steps_threshold=0.3,0.3,0.2"]`` -> detector keyword options (a comma makes a
    tuple), as ``--detector-option`` takes them; which keys a detector accepts is checked when it is built."""
    options: dict[str, Any] = {}
    for pair in pairs:
        key, sep, value = pair.partition("=")
        if not sep or not key.strip() or not value.strip():
            raise ConfigError(f"detector option {pair!r} is not KEY=VALUE (e.g. score_threshold=0.2 or steps_threshold=0.3,0.3,0.2)")
        options[key.strip()] = tuple(_option_value(v) for v in value.split(",")) if "," in value else _option_value(value)
    return options
