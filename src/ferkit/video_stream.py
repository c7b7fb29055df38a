"""``Recognizer.predict_video``'s loop: decode, detect or follow, hold back, classify, smooth, annotate, write.

Kept apart from the recognizer (which owns the model, the detector and one image's path) because it is a
pipeline of its own: the stages of ``ferkit.video`` and ``ferkit.tracking`` in order, each timed when a
``ferkit.timing.StageTimer`` is given. It takes the recognizer as an argument, as ``ferkit.bulk`` does.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any, Iterator

import numpy as np

from ferkit.checks import check_count, check_fraction
from ferkit.constants import DEFAULT_LOOK_BACK
from ferkit.errors import ConfigError
from ferkit.predictions import ImagePrediction
from ferkit.timing import timed

if TYPE_CHECKING:
    from ferkit.recognizer import Recognizer
    from ferkit.video import VideoInfo


def stream_video(recognizer: "Recognizer", source: str | Path | int, *, every_n: int, max_frames: int | None, smooth: float,
                 annotated_path: str | Path | None, overwrite: bool, detect_every: int, detect_scale: float, read_ahead: int,
                 look_back: int | None, timer: Any, follow_options: dict[str, Any] | None) -> Iterator[ImagePrediction]:
    """The arguments of ``Recognizer.predict_video`` checked now, before a frame is decoded; the iterator opens the
    video on its first ``next``."""
    from ferkit.faces import ScaledDetector
    from ferkit.tracking import DetectionSchedule, LookBack, build_follower
    from ferkit.video import TemporalSmoother, VideoInfo, check_sampling, check_video_output, iter_frames
    from ferkit.video import read_ahead as decode_ahead

    check_sampling(every_n, max_frames)
    check_count("read_ahead", read_ahead, least=0)
    smooth = check_fraction("smooth", smooth, meaning="weight of the newest frame; 1 = no smoothing")
    detect_scale = check_fraction("detect_scale", detect_scale, meaning="0.5 detects on a half-size frame")  # checked without a detector too
    if timer is not None and not callable(getattr(timer, "stage", None)):
        raise ConfigError(f"timer must be a ferkit.timing.StageTimer (or None), got {type(timer).__name__}")
    if annotated_path is not None:
        check_video_output(annotated_path, overwrite=overwrite)
    if look_back is None:
        look_back = 0 if isinstance(source, int) else DEFAULT_LOOK_BACK
    detector = recognizer.detector
    if detector is not None and detect_scale != 1.0:
        detector = ScaledDetector(detector, detect_scale)
    schedule, follower, smoother = DetectionSchedule(detect_every), build_follower(follow_options), TemporalSmoother(alpha=smooth)
    held = LookBack(look_back, follow_options)  # checks the value even where it is not used
    if detector is None:  # the whole frame is the face: nothing is found late
        held = LookBack(0)
    info = VideoInfo()  # the source's frame rate, known once it opens: the annotated copy plays at its speed
    output = VideoOutput(recognizer, str(source), smoother, annotated_path, overwrite, info, every_n, timer)
    frames = decode_ahead(iter_frames(source, every_n=every_n, max_frames=max_frames, info=info), read_ahead)
    return _results(frames, detector, schedule, follower, held, output, timer)


def _results(frames: Iterator[tuple[int, float, np.ndarray]], detector: Any, schedule: Any, follower: Any, held: Any,
             output: "VideoOutput", timer: Any) -> Iterator[ImagePrediction]:
    """The loop over checked arguments: decode, detect or follow, hold back, classify and write."""
    import cv2

    try:
        while True:
            with timed(timer, "decode"):
                item = next(frames, None)
            if item is None:
                break
            index, timestamp, frame = item
            with timed(timer, "align"):
                gray = cv2.cvtColor(frame, cv2.COLOR_BGR2GRAY)
            faces, detections = _frame_faces(frame, gray, detector, schedule, follower, timer)
            with timed(timer, "follow"):
                ready = held.push((index, timestamp, frame), gray, faces, detections)
            for (index, timestamp, frame), gray, faces in ready:
                yield output.result(index, timestamp, frame, gray, faces)
        for (index, timestamp, frame), gray, faces in held.flush():
            yield output.result(index, timestamp, frame, gray, faces)
    finally:
        frames.close()
        with timed(timer, "write"):  # finishing the annotated file (release, rename) is part of writing it
            output.close()


def _frame_faces(frame: np.ndarray, gray: np.ndarray, detector: Any, schedule: Any, follower: Any, timer: Any) -> tuple[list, list | None]:
    """This frame's faces (detected when the schedule says so, else followed from the last detection) and the
    detector's own boxes (None when it did not run on this frame)."""
    from ferkit.faces import Face

    if detector is None:
        return [Face(0, 0, frame.shape[1], frame.shape[0], 1.0)], None
    if schedule.due():
        with timed(timer, "detect"):
            detections = detector.detect(frame)
        with timed(timer, "follow"):
            faces = follower.redetect(gray, detections) if schedule.every > 1 else detections
        schedule.record(detected=True)
        return faces, detections
    with timed(timer, "follow"):
        faces, lost = follower.follow(gray)
    schedule.record(detected=False, lost=lost)
    return faces, None


class VideoOutput:
    """The end of the video path: a frame's final faces classified in one batch, smoothed per track, annotated and
    written when asked, as an ImagePrediction. Frames must come in order (the smoother follows tracks in time)."""

    def __init__(self, recognizer: "Recognizer", source: str, smoother: Any, annotated_path: str | Path | None, overwrite: bool,
                 info: "VideoInfo", every_n: int, timer: Any) -> None:
        self.recognizer, self.source, self.smoother, self.timer = recognizer, source, smoother, timer
        self.annotated_path, self.overwrite, self.info, self.every_n = annotated_path, overwrite, info, every_n
        self.writer = None

    def result(self, index: int, timestamp: float, frame: np.ndarray, gray: np.ndarray, faces: list) -> ImagePrediction:
        from ferkit.video import VideoWriter

        recognizer, timer = self.recognizer, self.timer
        predictions = recognizer.classify_faces(gray, faces, timer)
        if predictions:
            with timed(timer, "smooth"):
                raw = np.array([[f.probabilities[n] for n in recognizer.class_names] for f in predictions])
                _, smoothed = self.smoother.update([f.box for f in predictions], raw)
                predictions = [recognizer.with_probabilities(f, p) for f, p in zip(predictions, smoothed)]
        result = ImagePrediction(self.source, frame.shape[1], frame.shape[0], predictions, index, round(timestamp, 3))
        if self.annotated_path is not None:
            if self.writer is None:
                self.writer = VideoWriter(self.annotated_path, fps=self.info.sampled_fps(self.every_n), frame_size=(frame.shape[1], frame.shape[0]),
                                          overwrite=self.overwrite)
            with timed(timer, "annotate"):
                annotated = recognizer.annotate(frame, result)
            with timed(timer, "write"):
                self.writer.write(annotated)
        return result

    def close(self) -> None:
        if self.writer is not None:
            self.writer.close()
