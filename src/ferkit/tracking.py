"""Follow detected faces between detections, so a video needs the detector only every k-th frame.

Why: detection is the costliest stage of the video path (tens of ms per 640x480 frame), while moving a
known face box to where it went costs well under a millisecond: each face's patch from the last
detection is searched for (normalised cross-correlation, ``cv2.matchTemplate``) in a window around its
last box. A face whose best match scores under ``min_score`` is *lost* (it left, turned or was covered
beyond recognition): the caller then detects again on the next frame instead of waiting for the k-th.
Box sizes are kept from the detection; the regular re-detection every k frames corrects them.
"""

from __future__ import annotations

import inspect
from collections import deque
from typing import Any

import numpy as np

from ferkit.errors import ConfigError
from ferkit.faces.base import Face, clip_box
from ferkit.checks import check_count, check_number


class FaceFollower:
    """``start(gray, faces)`` after a detection, then ``follow(gray) -> (faces, lost)`` on later frames.

    ``search``: half-width of the search window around the last box, as a fraction of the box side (how far a
    face may move between two frames). ``template_size``: patches are matched at this side in pixels (smaller is
    faster). ``min_score``: normalised correlation in [-1, 1] under which a face counts as lost. ``keep_missed``:
    re-detections in a row that may miss a followed face before it is dropped.

    Defaults (min score 0.7, 10 missed re-detections; before: 0.5 and 2) from the video benchmark, confirmed on its
    held-out video (docs/realtime.md): a covered face the detector finds once stays followed while it still looks
    the same, and the stricter match drops boxes that drifted off a face.
    """

    def __init__(self, *, search: float = 0.35, template_size: int = 24, min_score: float = 0.7, keep_missed: int = 10) -> None:
        check_number("search", search, low=0.0, high=10.0, low_inclusive=False, meaning="window half-width as a fraction of the box")
        check_count("template_size (pixels)", template_size, least=8)
        if template_size > 256:  # a huge template asked OpenCV for gigabytes per face
            raise ConfigError(f"template_size must be at most 256 pixels, got {template_size}")
        check_number("min_score", min_score, low=-1.0, high=1.0, meaning="normalised correlation")
        check_count("keep_missed (re-detections a followed face may be missed by)", keep_missed, least=0)
        self.keep_missed = int(keep_missed)
        self.search = float(search)
        self.template_size = int(template_size)
        self.min_score = float(min_score)
        self._tracks: list[tuple[Face, np.ndarray, float]] = []
        self._missed: list[int] = []  # per track: re-detections in a row that did not find it

    @property
    def faces(self) -> list[Face]:
        return [face for face, _, _ in self._tracks]

    def start(self, gray: np.ndarray, faces: list[Face]) -> None:
        """Remember ``faces`` (just detected in ``gray``, (H, W) uint8) and their appearance."""
        gray = np.asarray(gray)
        if gray.ndim != 2 or gray.dtype != np.uint8:
            raise ConfigError(f"FaceFollower works on gray frames (H, W) uint8, got {gray.shape} {gray.dtype}")
        height, width = gray.shape
        outside = [face.box for face in faces if face.x >= width or face.y >= height or face.x + face.w <= 0 or face.y + face.h <= 0]
        if outside:
            raise ConfigError(f"face box {outside[0]} lies outside the {width}x{height} frame")
        self._tracks, self._missed = [], []
        for face in faces:
            self._tracks.append(self._track(gray, face))
            self._missed.append(0)

    def redetect(self, gray: np.ndarray, detections: list[Face]) -> list[Face]:
        """Merge a new detection with the followed faces; returns this frame's faces.

        Why: detectors miss a covered face on some frames and find it on others; once found, the face stays
        followed while its template still matches, for up to ``keep_missed`` re-detections that miss it. A
        detection overlapping a followed face (IoU >= 0.3) replaces it (fresh box, size and template).
        """
        from ferkit.video import box_iou

        followed, _ = self.follow(gray)  # drops faces whose template no longer matches
        kept, kept_missed = [], []
        for face, missed in zip(followed, self._missed):
            if not any(box_iou(face.box, d.box) >= 0.3 for d in detections) and missed < self.keep_missed:
                kept.append(face)
                kept_missed.append(missed + 1)
        self.start(gray, list(detections) + kept)
        self._missed = [0] * len(detections) + kept_missed
        return list(detections) + kept

    def _track(self, gray: np.ndarray, face: Face) -> tuple[Face, np.ndarray, float]:
        factor = self.template_size / max(face.w, face.h)
        return face, self._patch(gray, face.box, factor), factor

    def follow(self, gray: np.ndarray) -> tuple[list[Face], bool]:
        """Faces moved to their best match in ``gray``; ``lost`` is True when any face scored under ``min_score``.

        Lost faces are dropped (from the result and from the tracks). Landmarks move with their box; the
        patches stay those of the detection, so following does not drift with accumulated matching errors.
        """
        import cv2

        if getattr(gray, "ndim", 0) != 2 or gray.dtype != np.uint8:
            raise ConfigError(f"FaceFollower works on gray frames (H, W) uint8, got {getattr(gray, 'shape', type(gray).__name__)}")

        height, width = gray.shape[:2]
        kept, tracks, missed, lost = [], [], [], False
        for (face, template, factor), missed_before in zip(self._tracks, self._missed):
            pad = int(round(self.search * max(face.w, face.h)))
            window = clip_box(face.x - pad, face.y - pad, face.w + 2 * pad, face.h + 2 * pad, width, height)
            if window is None:
                lost = True
                continue
            region = self._patch(gray, window, factor)
            if region.shape[0] < template.shape[0] or region.shape[1] < template.shape[1]:
                lost = True  # pushed against the border: too little of the face is left in view
                continue
            scores = cv2.matchTemplate(region, template, cv2.TM_CCOEFF_NORMED)
            _, best, _, (best_x, best_y) = cv2.minMaxLoc(scores)
            if not np.isfinite(best) or best < self.min_score:
                lost = True
                continue
            dx, dy = window[0] + best_x / factor - face.x, window[1] + best_y / factor - face.y
            box = clip_box(face.x + dx, face.y + dy, face.w, face.h, width, height)
            if box is None:
                lost = True
                continue
            shift = np.array([box[0] - face.x, box[1] - face.y], np.float32)  # landmarks move exactly as the box does
            landmarks = None if face.landmarks is None else face.landmarks + shift
            moved = Face(*box, score=face.score, landmarks=landmarks)
            kept.append(moved)
            tracks.append((moved, template, factor))  # the next frame searches around the new place
            missed.append(missed_before)
        self._tracks, self._missed = tracks, missed
        return kept, lost

    @staticmethod
    def _patch(gray: np.ndarray, box: tuple[int, int, int, int], factor: float) -> np.ndarray:
        import cv2

        x, y, w, h = box
        patch = gray[y : y + h, x : x + w]
        size = (max(1, int(round(w * factor))), max(1, int(round(h * factor))))
        return cv2.resize(patch, size, interpolation=cv2.INTER_AREA)


def build_follower(options: dict[str, Any] | None = None) -> FaceFollower:
    """A FaceFollower from keyword options; an option it does not take is a ConfigError naming those it does."""
    try:
        inspect.signature(FaceFollower).bind(**(options or {}))
    except TypeError:
        accepted = ", ".join(inspect.signature(FaceFollower).parameters)
        raise ConfigError(f"unknown follower options {sorted(options or {})}; FaceFollower takes {accepted}") from None
    return FaceFollower(**(options or {}))


class DetectionSchedule:
    """When to run the detector: on the first frame, every ``every``-th frame after the last detection, and on
    the frame after a face was lost. ``every=1`` detects on every frame (no following)."""

    def __init__(self, every: int = 1) -> None:
        check_count("detect_every (1 = detect on every frame)", every, least=1)
        self.every = int(every)
        self._since = None  # frames since the last detection; None before the first

    def due(self) -> bool:
        return self._since is None or self._since >= self.every

    def record(self, *, detected: bool, lost: bool = False) -> None:
        """After a frame: ``detected`` if the detector ran on it, ``lost`` if following lost a face."""
        if detected:
            self._since = 1
        elif lost:
            self._since = self.every  # due on the next frame
        else:
            self._since = (self._since or 0) + 1


class LookBack:
    """Holds the last ``frames`` frames so that a face the detector finds late is followed back into them.

    Why: a covered face is often missed by several detections in a row before one finds it; from then on it is
    followed, but the frames before were already given out without it. On a video file nothing is lost by
    answering a few frames late: ``push`` keeps each frame's faces until ``frames`` newer frames have come, and
    every face detected in a new frame is followed backwards (``FaceFollower`` on the frames in reverse) into the
    held frames until its match is lost or it meets a face already there (IoU >= 0.3). ``frames=0`` gives each frame
    out at once, as a live camera needs.
    """

    def __init__(self, frames: int, follow_options: dict[str, Any] | None = None) -> None:
        check_count("look_back (frames held to follow late-found faces back into)", frames, least=0)
        self.frames = int(frames)
        self.follow_options = dict(follow_options or {})
        build_follower(self.follow_options)  # an unknown option fails here, before the first frame
        self._held: deque[tuple[Any, np.ndarray, list[Face]]] = deque()

    def push(self, item: Any, gray: np.ndarray, faces: list[Face], detections: list[Face] | None) -> list[tuple[Any, np.ndarray, list[Face]]]:
        """Add a frame (``item``: anything the caller needs back, ``gray``: its (H, W) uint8 image, ``faces``: its
        faces, ``detections``: what the detector found on it, None when it did not run). Returns the frames that
        leave the buffer, oldest first, as (item, gray, faces)."""
        from ferkit.video import box_iou

        for detection in (detections or []) if self.frames else []:
            follower = build_follower(self.follow_options)
            follower.start(gray, [detection])
            for _, held_gray, held_faces in reversed(self._held):
                moved, lost = follower.follow(held_gray)
                if lost or not moved or any(box_iou(moved[0].box, face.box) >= 0.3 for face in held_faces):
                    break
                held_faces.append(moved[0])
        self._held.append((item, gray, list(faces)))
        out = []
        while len(self._held) > self.frames:
            out.append(self._held.popleft())
        return out

    def flush(self) -> list[tuple[Any, np.ndarray, list[Face]]]:
        """The frames still held, oldest first (at the end of the video), as (item, gray, faces)."""
        out = list(self._held)
        self._held.clear()
        return out
