"""Following faces between detections, the detection schedule, downscaled detection and read-ahead decoding."""

import numpy as np
import pytest

from ferkit.errors import ConfigError
from ferkit.faces import Face, FaceDetector, ScaledDetector
from ferkit.faces.framing import BoxFraming
from ferkit.tracking import DetectionSchedule, FaceFollower
from ferkit.video import read_ahead


def textured_patch(size: int = 60, seed: int = 0) -> np.ndarray:
    """A face-sized patch with structure at several scales, so correlation has one clear peak."""
    import cv2

    coarse = np.random.default_rng(seed).integers(0, 255, (6, 6)).astype(np.uint8)
    return cv2.resize(coarse, (size, size), interpolation=cv2.INTER_CUBIC)


def scene(x: int, y: int, patch: np.ndarray, shape=(240, 320)) -> np.ndarray:
    gray = np.full(shape, 128, np.uint8)
    gray[y : y + patch.shape[0], x : x + patch.shape[1]] = patch
    return gray


def test_follower_moves_the_box_and_its_landmarks_with_the_face():
    patch = textured_patch()
    landmarks = np.array([[60, 60], [90, 60], [75, 75], [62, 90], [88, 90]], np.float32)
    follower = FaceFollower()
    follower.start(scene(40, 40, patch), [Face(40, 40, 60, 60, 0.9, landmarks)])
    for step in range(1, 6):  # 6 px right and 3 px down per frame, for five frames
        faces, lost = follower.follow(scene(40 + 6 * step, 40 + 3 * step, patch))
        assert not lost and len(faces) == 1
        assert abs(faces[0].x - (40 + 6 * step)) <= 2 and abs(faces[0].y - (40 + 3 * step)) <= 2
    np.testing.assert_allclose(faces[0].landmarks, landmarks + [faces[0].x - 40, faces[0].y - 40])
    assert faces[0].score == pytest.approx(0.9)


def test_follower_reports_a_face_that_disappeared_as_lost_and_drops_it():
    patch = textured_patch()
    follower = FaceFollower()
    follower.start(scene(40, 40, patch), [Face(40, 40, 60, 60, 0.9)])
    faces, lost = follower.follow(np.full((240, 320), 128, np.uint8) + np.random.default_rng(1).integers(0, 3, (240, 320)).astype(np.uint8))
    assert lost and faces == []
    assert follower.faces == []


def test_schedule_detects_every_kth_frame_and_right_after_a_loss():
    schedule = DetectionSchedule(every=3)
    due = []
    lost_at = {4}
    for frame in range(10):
        due.append(schedule.due())
        schedule.record(detected=due[-1], lost=frame in lost_at and not due[-1])
    # 0 detect; 1, 2 follow; 3 detect; 4 follow and loses a face; 5 detect; 6, 7 follow; 8 detect
    assert [i for i, d in enumerate(due) if d] == [0, 3, 5, 8]
    with pytest.raises(ConfigError, match="detect_every"):
        DetectionSchedule(every=0)


def test_recognizer_video_path_detects_only_on_schedule(monkeypatch):
    """predict_video with detect_every=4 calls the detector on frames 0, 4, 8 and follows in between."""
    from ferkit.recognizer import Recognizer

    calls = []

    class CountingDetector(FaceDetector):
        def _detect(self, bgr, gray):
            calls.append(len(calls))
            x = int(np.flatnonzero((gray != 128).any(axis=0))[0])  # where the patch is: a perfect detector
            return [Face(x, 40, 60, 60, 0.9)]

    patch = textured_patch()
    frames = [(i, i / 10, np.dstack([scene(40 + 2 * i, 40, patch)] * 3)) for i in range(10)]
    monkeypatch.setattr("ferkit.video.iter_frames", lambda source, every_n=1, max_frames=None, info=None: iter(frames))
    recognizer = Recognizer.__new__(Recognizer)
    recognizer.detector = CountingDetector()
    recognizer.class_names = ("a", "b")
    recognizer.loaded = type("Loaded", (), {"image_size": 48})()
    recognizer.alignment = "square"
    recognizer.framing = BoxFraming()  # the plain square
    recognizer.classify_crops = lambda crops: np.tile([0.25, 0.75], (len(crops), 1))
    results = list(recognizer.predict_video("clip.avi", every_n=1, detect_every=4, read_ahead=0))
    assert len(calls) == 3  # frames 0, 4, 8
    assert [len(r.faces) for r in results] == [1] * 10
    assert abs(results[9].faces[0].box[0] - (40 + 2 * 9)) <= 2  # followed, not frozen at the last detection
    assert all(r.faces[0].label == "b" for r in results)


class FixedDetector(FaceDetector):
    """Finds one face at a fixed fraction of the image it is given, and records that image's size."""

    def __init__(self):
        super().__init__()
        self.seen = []

    def _detect(self, bgr, gray):
        h, w = bgr.shape[:2]
        self.seen.append((w, h))
        landmarks = np.array([[0.3 * w, 0.3 * h], [0.6 * w, 0.3 * h], [0.45 * w, 0.45 * h], [0.33 * w, 0.6 * h], [0.57 * w, 0.6 * h]])
        return [Face(int(0.25 * w), int(0.2 * h), int(0.4 * w), int(0.5 * h), 0.8, landmarks)]


def test_scaled_detection_runs_on_the_small_frame_and_maps_boxes_to_full_size():
    inner = FixedDetector()
    face = ScaledDetector(inner, 0.5).detect(np.zeros((480, 640, 3), np.uint8))[0]
    assert inner.seen == [(320, 240)]
    assert (face.x, face.y, face.w, face.h) == (160, 96, 256, 240)
    np.testing.assert_allclose(face.landmarks[0], [0.3 * 640, 0.3 * 480])
    np.testing.assert_allclose(face.landmarks[4], [0.57 * 640, 0.6 * 480])
    assert face.score == pytest.approx(0.8)
    with pytest.raises(ConfigError, match="detect scale"):
        ScaledDetector(inner, 1.5)


def test_read_ahead_keeps_order_raises_producer_errors_and_stops_early():
    assert list(read_ahead(iter(range(20)), depth=3)) == list(range(20))
    assert list(read_ahead(iter(range(5)), depth=0)) == list(range(5))

    def broken():
        yield 1
        raise ValueError("decoder failed")

    with pytest.raises(ValueError, match="decoder failed"):
        list(read_ahead(broken(), depth=2))
    closed = []

    def endless():
        try:
            i = 0
            while True:
                yield i
                i += 1
        finally:
            closed.append(True)

    consumer = read_ahead(endless(), depth=2)
    assert [next(consumer) for _ in range(3)] == [0, 1, 2]
    consumer.close()
    assert closed == [True]  # the source (a video capture in practice) was closed


def test_redetect_keeps_a_followed_face_the_detector_misses_for_keep_missed_rounds():
    patch, other = textured_patch(), textured_patch(seed=3)
    follower = FaceFollower(keep_missed=2)
    frame = scene(40, 40, patch)
    frame[100:160, 200:260] = other
    follower.start(frame, [Face(40, 40, 60, 60, 0.9)])
    # The detector now finds only the second face: the first is still followed, up to two re-detections that miss it.
    for round_ in range(3):
        faces = follower.redetect(frame, [Face(200, 100, 60, 60, 0.8)])
        boxes = sorted(f.box for f in faces)
        if round_ < 2:
            assert len(boxes) == 2 and boxes[1] == (200, 100, 60, 60)
            assert np.abs(np.subtract(boxes[0], (40, 40, 60, 60))).max() <= 2  # followed, to the template's 2.5 px grid
        else:
            assert boxes == [(200, 100, 60, 60)]
    # A detection overlapping a followed face replaces it (its box and size come from the detector).
    follower.start(frame, [Face(40, 40, 60, 60, 0.9)])
    faces = follower.redetect(frame, [Face(38, 42, 64, 64, 0.95)])
    assert [f.box for f in faces] == [(38, 42, 64, 64)]


def _stub_recognizer(detector: FaceDetector):
    from ferkit.recognizer import Recognizer

    recognizer = Recognizer.__new__(Recognizer)
    recognizer.detector = detector
    recognizer.class_names = ("a", "b")
    recognizer.loaded = type("Loaded", (), {"image_size": 48})()
    recognizer.alignment = "square"
    recognizer.framing = BoxFraming()
    recognizer.classify_crops = lambda crops: np.tile([0.25, 0.75], (len(crops), 1))
    return recognizer


@pytest.mark.parametrize("keep_missed, faces_after", [(0, 0), (5, 1)])
def test_follow_options_reach_the_follower(monkeypatch, keep_missed, faces_after):
    """A detector that finds the face on frame 0 only: the follower keeps it through later re-detections
    (frames 4 and 8) only when ``keep_missed`` allows."""

    class FirstFrameOnly(FaceDetector):
        def __init__(self):
            super().__init__()
            self.calls = 0

        def _detect(self, bgr, gray):
            self.calls += 1
            return [Face(40, 40, 60, 60, 0.9)] if self.calls == 1 else []

    patch = textured_patch()
    frames = [(i, i / 10, np.dstack([scene(40 + i, 40, patch)] * 3)) for i in range(10)]
    monkeypatch.setattr("ferkit.video.iter_frames", lambda source, every_n=1, max_frames=None, info=None: iter(frames))
    results = list(_stub_recognizer(FirstFrameOnly()).predict_video("clip.avi", every_n=1, detect_every=4, read_ahead=0,
                                                                      follow_options={"keep_missed": keep_missed}))
    assert [len(r.faces) for r in results[:4]] == [1, 1, 1, 1]
    assert len(results[9].faces) == faces_after


def test_unknown_follow_option_is_refused_with_the_accepted_names(monkeypatch):
    monkeypatch.setattr("ferkit.video.iter_frames", lambda source, every_n=1, max_frames=None, info=None: iter([]))
    with pytest.raises(ConfigError, match="keep_missed"):
        list(_stub_recognizer(FixedDetector()).predict_video("clip.avi", follow_options={"keep": 3}))


class LateDetector(FaceDetector):
    """Finds the patch (a perfect box) only from ``first`` calls on: a covered face the detector misses at first."""

    def __init__(self, first: int):
        super().__init__()
        self.first, self.calls = first, 0

    def _detect(self, bgr, gray):
        self.calls += 1
        if self.calls <= self.first:
            return []
        cols, rows = np.flatnonzero((gray != 128).any(axis=0)), np.flatnonzero((gray != 128).any(axis=1))
        return [Face(int(cols[0]), int(rows[0]), 60, 60, 0.9)] if len(cols) else []


def _late_face_video(monkeypatch, pulled: list | None = None):
    """Frames 0-1 empty, then the patch moving 2 px right per frame from frame 2 to frame 11."""
    patch = textured_patch()

    def frames(source, every_n=1, max_frames=None, info=None):
        for i in range(12):
            if pulled is not None:
                pulled.append(i)
            gray = np.full((240, 320), 128, np.uint8) if i < 2 else scene(40 + 2 * i, 40, patch)
            yield i, i / 10, np.dstack([gray] * 3)

    monkeypatch.setattr("ferkit.video.iter_frames", frames)


@pytest.mark.parametrize("look_back, found_from", [(0, 6), (3, 3), (8, 2)])
def test_look_back_follows_a_late_found_face_back_into_the_held_frames(monkeypatch, look_back, found_from):
    """Detection on frames 0, 3, 6, 9 (every 3rd); the detector first finds the face on frame 6 (third call).
    Held back 3 frames, the face reaches frames 3-5; held back 8, frames 2-5 (where it appeared), never the
    empty frames 0-1 (its match is lost there). Without look-back it starts at frame 6."""
    _late_face_video(monkeypatch)
    results = list(_stub_recognizer(LateDetector(first=2)).predict_video("clip.avi", every_n=1, detect_every=3, read_ahead=0, look_back=look_back))
    assert [r.frame_index for r in results] == list(range(12))  # every frame, in order, the held ones flushed at the end
    assert [len(r.faces) for r in results] == [0] * found_from + [1] * (12 - found_from)
    for r in results[found_from:]:
        assert abs(r.faces[0].box[0] - (40 + 2 * r.frame_index)) <= 3 and abs(r.faces[0].box[1] - 40) <= 3


def test_look_back_adds_no_second_box_where_the_face_was_already_followed(monkeypatch):
    _late_face_video(monkeypatch)
    results = list(_stub_recognizer(LateDetector(first=0)).predict_video("clip.avi", every_n=1, detect_every=3, read_ahead=0, look_back=8))
    assert [len(r.faces) for r in results] == [0, 0] + [1] * 10


def test_look_back_defaults_to_holding_a_file_but_never_a_camera(monkeypatch):
    """A camera answers each frame before the next is read; a file's answers come DEFAULT_LOOK_BACK frames late."""
    from ferkit.constants import DEFAULT_LOOK_BACK

    for source, late in (("clip.avi", DEFAULT_LOOK_BACK), (0, 0)):
        pulled: list[int] = []
        _late_face_video(monkeypatch, pulled)
        stream = _stub_recognizer(LateDetector(first=0)).predict_video(source, every_n=1, read_ahead=0)
        assert next(stream).frame_index == 0
        assert len(pulled) == 1 + late
        stream.close()


def test_negative_look_back_is_refused(monkeypatch):
    _late_face_video(monkeypatch)
    with pytest.raises(ConfigError, match="look_back"):
        list(_stub_recognizer(LateDetector(first=0)).predict_video("clip.avi", look_back=-1))


def test_closing_the_annotated_output_is_timed_as_write():
    """The annotated file is finished (released, renamed) when the loop ends: that time belongs to the write stage,
    or a benchmark's per-stage table leaves it out while its frames/s includes it."""
    import contextlib

    from ferkit.tracking import LookBack
    from ferkit.video_stream import _results

    active: list[str] = []

    class RecordingTimer:
        @contextlib.contextmanager
        def stage(self, name):
            active.append(name)
            try:
                yield
            finally:
                active.pop()

    class Output:
        stage_at_close = "never closed"

        def result(self, index, timestamp, frame, gray, faces):
            return index

        def close(self):
            Output.stage_at_close = active[-1] if active else None

    frames = (item for item in [(i, i / 25, np.zeros((24, 32, 3), np.uint8)) for i in range(3)])  # a generator: closed at the end
    out = list(_results(frames, None, DetectionSchedule(1), None, LookBack(0), Output(), RecordingTimer()))
    assert out == [0, 1, 2] and Output.stage_at_close == "write"
