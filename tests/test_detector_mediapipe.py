"""The MediaPipe BlazeFace detector (optional ``mediapipe`` extra, model file supplied by the user).

The detection tests need the mediapipe package and a BlazeFace ``.tflite`` in the ferkit cache directory
(``$FERKIT_CACHE_DIR``); they skip, saying which, when either is missing. The error-message tests run without.
"""

import sys
from pathlib import Path

import cv2
import numpy as np
import pytest

from ferkit.errors import ConfigError, WeightsUnavailableError
from ferkit.faces import (
    LANDMARK_NAMES,
    MediaPipeUnavailableError,
    build_detector,
    list_detectors,
    mediapipe_available,
)
from ferkit.faces.mediapipe import MODEL_FILENAMES, five_landmarks, full_range_supported, resolve_mediapipe_model
from ferkit.faces.yunet import cache_dir

EXAMPLES = Path(__file__).resolve().parents[1] / "examples"


# The user's cache directory, read at import: conftest points $FERKIT_CACHE_DIR at an empty folder per test.
MODEL_DIR = cache_dir()


def _model_file(model: str) -> Path | None:
    return next((MODEL_DIR / name for name in MODEL_FILENAMES[model] if (MODEL_DIR / name).is_file()), None)


SHORT, FULL = _model_file("short"), _model_file("full")
needs_mediapipe = pytest.mark.skipif(not mediapipe_available(), reason="the mediapipe detector needs the mediapipe package (ferkit[mediapipe])")
needs_short = pytest.mark.skipif(SHORT is None, reason=f"no BlazeFace short-range model in {MODEL_DIR}: {MODEL_FILENAMES['short']}")
needs_full = pytest.mark.skipif(FULL is None, reason=f"no BlazeFace full-range model in {MODEL_DIR}: {MODEL_FILENAMES['full']}")


def test_missing_package_is_a_clear_error(monkeypatch):
    for name in [n for n in sys.modules if n == "mediapipe" or n.startswith("mediapipe.")] + ["mediapipe"]:
        monkeypatch.setitem(sys.modules, name, None)  # importing mediapipe (or a submodule) now raises ImportError
    with pytest.raises(MediaPipeUnavailableError, match=r"pip install \"ferkit\[mediapipe\]\".*mtcnn"):
        build_detector("mediapipe")
    assert not mediapipe_available()


def test_listed_only_when_installed(monkeypatch):
    import ferkit.faces.mediapipe as module

    monkeypatch.setattr(module.importlib.util, "find_spec", lambda name: None)
    assert "mediapipe" not in list_detectors() and "haar" in list_detectors()


@needs_mediapipe
def test_missing_model_file_names_the_file_and_the_directory(tmp_path, monkeypatch):
    monkeypatch.setenv("FERKIT_CACHE_DIR", str(tmp_path))
    with pytest.raises(WeightsUnavailableError, match=f"{MODEL_FILENAMES['full'][0]}.*{tmp_path}"):
        build_detector("mediapipe", model="full")
    with pytest.raises(WeightsUnavailableError, match="corrupt"):
        (tmp_path / "broken.tflite").write_bytes(b"not a model")
        build_detector("mediapipe", model_path=tmp_path / "broken.tflite")


def test_option_errors():
    with pytest.raises(ConfigError, match="short"):
        resolve_mediapipe_model("medium")
    with pytest.raises(ConfigError, match="score_threshold"):
        build_detector("mediapipe", score_threshold=1.5)


def test_five_landmarks_put_mouth_corners_around_the_mouth_centre():
    keypoints = np.array([[40, 50], [80, 50], [60, 70], [60, 90], [20, 55], [100, 55]], np.float32)
    landmarks = five_landmarks(keypoints)
    assert landmarks.shape == (len(LANDMARK_NAMES), 2)
    np.testing.assert_allclose(landmarks[:3], keypoints[:3])
    np.testing.assert_allclose(landmarks[3:].mean(axis=0), keypoints[3])
    assert landmarks[3, 0] < 60 < landmarks[4, 0] and landmarks[4, 0] - landmarks[3, 0] == pytest.approx(40 * 0.828, abs=0.1)


@pytest.fixture(scope="module")
def astronaut():
    """The example photo and the face BlazeFace (short range) finds on it."""
    image = cv2.imread(str(EXAMPLES / "astronaut.jpg"))
    faces = build_detector("mediapipe", model_path=SHORT).detect(image)
    assert len(faces) == 1
    return image, faces[0]


@needs_mediapipe
@needs_short
def test_finds_the_astronaut_with_boxes_in_the_frame(astronaut):
    image, face = astronaut
    height, width = image.shape[:2]
    assert 0.8 <= face.score <= 1.0
    assert 0 <= face.x and 0 <= face.y and face.x + face.w <= width and face.y + face.h <= height
    assert 60 <= face.w <= 160 and 60 <= face.h <= 160  # the face is about 100 px wide in this 512x512 photo
    right_eye, left_eye, nose, right_mouth, left_mouth = face.landmarks
    assert right_eye[0] < left_eye[0] and right_mouth[0] < left_mouth[0]
    assert max(right_eye[1], left_eye[1]) < nose[1] < min(right_mouth[1], left_mouth[1])
    assert all(face.x <= x <= face.x + face.w and face.y <= y <= face.y + face.h for x, y in face.landmarks)


@needs_mediapipe
@needs_short
def test_finds_the_astronaut_behind_a_drawn_mask(astronaut):
    from test_realtime import surgical_mask

    from ferkit.video import box_iou

    image, clean = astronaut
    covered = surgical_mask(image, clean.landmarks)
    assert np.abs(covered.astype(int) - image.astype(int)).sum() > 0
    faces = build_detector("mediapipe", model_path=SHORT).detect(covered)
    assert len(faces) == 1
    assert box_iou(faces[0].box, clean.box) > 0.6


@needs_mediapipe
@needs_short
def test_blank_and_noise_images_have_no_face():
    detector = build_detector("mediapipe", model_path=SHORT)
    assert detector.detect(np.full((480, 640, 3), 128, np.uint8)) == []
    assert detector.detect(np.random.default_rng(0).integers(0, 256, (480, 640), dtype=np.uint8)) == []


@needs_mediapipe
@needs_full
def test_full_range_model_finds_the_astronaut_or_says_which_mediapipe_it_needs(astronaut):
    from ferkit.video import box_iou

    image, clean = astronaut
    if not full_range_supported():
        with pytest.raises(ConfigError, match="mediapipe >= 1.0"):
            build_detector("mediapipe", model="full", model_path=FULL)
        return
    faces = build_detector("mediapipe", model="full", model_path=FULL).detect(image)
    assert len(faces) == 1 and box_iou(faces[0].box, clean.box) > 0.6
