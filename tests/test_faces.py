"""Face detection (Haar on real dataset crops; YuNet through OpenCV's decoder on a stand-in model, and its missing-weights error), the registry, alignment."""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
import pytest

from data.fixtures import SHARED_DATA
from ferkit.draw import annotate
from ferkit.errors import ConfigError, ImageReadError, WeightsUnavailableError
from ferkit.faces import (
    CANONICAL_TEMPLATE_48,
    LANDMARK_NAMES,
    YUNET_FILENAME,
    Face,
    HaarDetector,
    align_face,
    build_detector,
    five_point_template,
    list_detectors,
    similarity_to_template,
)

DATA = SHARED_DATA  # ../shared/data, or $FERKIT_SHARED_DATA
needs_data = pytest.mark.skipif(not DATA.is_dir(), reason=f"real-data test: {DATA} is absent")


def _pick(pattern_root: Path, pattern: str, count: int) -> list[Path]:
    """``count`` files spread evenly over the sorted matches (deterministic, covers every class)."""
    files = sorted(pattern_root.glob(pattern))
    if len(files) < count:
        pytest.skip(f"fewer than {count} images match {pattern_root / pattern}")
    return [files[i] for i in np.linspace(0, len(files) - 1, count).astype(int)]


def _on_canvas(path: Path, size: int = 192, pad: int = 64) -> np.ndarray:
    """A 48 px dataset crop, upscaled to ``size`` px and centred on a flat gray canvas (gives Haar context)."""
    face = cv2.resize(cv2.imread(str(path), cv2.IMREAD_GRAYSCALE), (size, size), interpolation=cv2.INTER_CUBIC)
    canvas = np.full((size + 2 * pad, size + 2 * pad), 128, np.uint8)
    canvas[pad : pad + size, pad : pad + size] = face
    return canvas


# ------------------------------------------------------------------------------------------------ registry


def test_registry_lists_backends_and_rejects_unknown_names():
    assert {"haar", "yunet"} <= set(list_detectors())
    with pytest.raises(ConfigError, match="available detectors: .*haar.*yunet"):
        build_detector("retinaface")
    with pytest.raises(ConfigError, match="bad options"):
        build_detector("haar", scale_factr=1.2)
    with pytest.raises(ConfigError, match="scale_factor"):
        build_detector("haar", scale_factor=1.0)


def test_detector_rejects_bad_images():
    detector = build_detector("haar")
    with pytest.raises(ImageReadError, match="uint8"):
        detector.detect(np.zeros((64, 64), np.float32))
    with pytest.raises(ImageReadError, match="shape"):
        detector.detect(np.zeros((4, 64, 64, 3), np.uint8))


def test_face_record_is_frozen_with_readonly_landmarks():
    face = Face(1.0, 2, 30, 40, score=np.float32(0.5), landmarks=CANONICAL_TEMPLATE_48)
    assert face.box == (1, 2, 30, 40) and face.area == 1200 and face.center == (16.0, 22.0)
    assert isinstance(face.x, int) and isinstance(face.score, float)
    assert face.landmarks.shape == (5, 2) and not face.landmarks.flags.writeable
    with pytest.raises(AttributeError):
        face.x = 3  # type: ignore[misc]
    with pytest.raises(ConfigError):
        Face(0, 0, 0, 10, score=1.0)
    with pytest.raises(ConfigError):
        Face(0, 0, 10, 10, score=1.0, landmarks=np.zeros((4, 2)))
    assert LANDMARK_NAMES[0] == "right_eye" and len(LANDMARK_NAMES) == 5


def test_blank_image_has_no_face():
    assert build_detector("haar").detect(np.full((120, 160, 3), 90, np.uint8)) == []


# ------------------------------------------------------------------------------------------------ Haar, real faces

# Measured with these exact 20-image selections (OpenCV 4.14): CK+48 20/20, FER2013 PublicTest 14/20; over 100
# random crops CK+48 100%, FER2013 ~77% (FER2013 holds turned, occluded and drawn faces). The thresholds
# leave two images of margin for OpenCV version drift.


@needs_data
@pytest.mark.realdata
@pytest.mark.parametrize(
    "root, pattern, min_rate",
    [("ckplus48", "*/*.png", 0.9), ("fer2013/test", "*/PublicTest_*.jpg", 0.6)],
)
def test_haar_finds_faces_in_dataset_crops(root, pattern, min_rate):
    detector = build_detector("haar", largest_only=True)
    images = [_on_canvas(path) for path in _pick(DATA / root, pattern, 20)]
    found = 0
    for gray in images:
        faces = detector.detect(gray)
        if faces:
            face = faces[0]
            # The face was placed at (64, 64)-(256, 256): the box centre must lie on it.
            cx, cy = face.center
            assert 64 <= cx <= 256 and 64 <= cy <= 256
            assert 0.0 < face.score < 1.0 and face.landmarks is None
            found += 1
    assert found / len(images) >= min_rate, f"Haar found {found}/{len(images)} faces in {root}"


@needs_data
@pytest.mark.realdata
def test_haar_finds_several_faces_and_largest_only_keeps_the_biggest():
    paths = _pick(DATA / "ckplus48", "*/*.png", 4)
    sizes = [200, 170, 150, 130]
    corners = [(40, 40), (300, 40), (40, 300), (300, 300)]
    canvas = np.full((520, 520, 3), 128, np.uint8)
    for path, size, (x, y) in zip(paths, sizes, corners):
        face = cv2.resize(cv2.imread(str(path)), (size, size), interpolation=cv2.INTER_CUBIC)
        canvas[y : y + size, x : x + size] = face
    faces = build_detector("haar").detect(canvas)
    assert len(faces) == 4  # measured: all four found, no false positive on the flat canvas
    areas = [face.area for face in faces]
    assert areas == sorted(areas, reverse=True)
    largest = build_detector("haar", largest_only=True).detect(canvas)
    assert len(largest) == 1 and largest[0].box == faces[0].box
    # The biggest pasted face (200 px at (40, 40)) is the one kept.
    cx, cy = largest[0].center
    assert 40 <= cx <= 240 and 40 <= cy <= 240


def test_haar_missing_cascade_file_is_a_clear_error(tmp_path):
    with pytest.raises(WeightsUnavailableError, match="cascade_path"):
        HaarDetector(cascade_path=tmp_path / "nope.xml")


# ------------------------------------------------------------------------------------------------ YuNet


def test_yunet_without_weights_names_the_file(tmp_path, monkeypatch):
    monkeypatch.setenv("FERKIT_CACHE_DIR", str(tmp_path / "cache"))
    with pytest.raises(WeightsUnavailableError) as info:
        build_detector("yunet")
    message = str(info.value)
    assert YUNET_FILENAME in message and str(tmp_path / "cache") in message and "download" in message
    with pytest.raises(WeightsUnavailableError, match="elsewhere.onnx"):
        build_detector("yunet", model_path=tmp_path / "elsewhere.onnx")


def test_yunet_corrupt_weights_are_a_clear_error(tmp_path):
    bad = tmp_path / YUNET_FILENAME
    bad.write_bytes(np.random.default_rng(0).bytes(2000))
    with pytest.raises(WeightsUnavailableError, match="corrupt"):
        build_detector("yunet", model_path=bad)


# ------------------------------------------------------------------------------------------------ alignment


def test_template_is_inside_the_crop_and_in_yunet_order():
    for size in (48, 96):
        template = five_point_template(size)
        assert template.shape == (5, 2) and template.dtype == np.float32
        assert (template > 0).all() and (template < size).all()
        # subject's right eye / mouth corner at the smaller x; eyes above nose above mouth
        assert template[0, 0] < template[1, 0] and template[3, 0] < template[4, 0]
        assert template[:2, 1].max() < template[2, 1] < template[3:, 1].min()
    np.testing.assert_allclose(five_point_template(96) / 2, CANONICAL_TEMPLATE_48, atol=1e-4)
    # margin shrinks the face towards the centre
    assert np.ptp(five_point_template(48, 0.5)[:, 0]) < np.ptp(CANONICAL_TEMPLATE_48[:, 0])


def test_alignment_of_template_landmarks_is_the_identity():
    image = np.random.default_rng(0).integers(0, 256, (48, 48), dtype=np.uint8)
    matrix = similarity_to_template(CANONICAL_TEMPLATE_48, CANONICAL_TEMPLATE_48)
    np.testing.assert_allclose(matrix, [[1, 0, 0], [0, 1, 0]], atol=1e-6)
    face = Face(10, 10, 28, 28, score=1.0, landmarks=CANONICAL_TEMPLATE_48)
    aligned = align_face(image, face, output_size=48)
    assert aligned.shape == (48, 48) and aligned.dtype == np.uint8
    np.testing.assert_array_equal(aligned, image)


def test_alignment_undoes_a_rotation_and_scale():
    rng = np.random.default_rng(1)
    template = five_point_template(96)
    angle = np.deg2rad(25.0)
    rotation = 2.5 * np.array([[np.cos(angle), -np.sin(angle)], [np.sin(angle), np.cos(angle)]])
    landmarks = (template - 48) @ rotation.T + [200, 150]
    matrix = similarity_to_template(landmarks, template)
    mapped = landmarks @ matrix[:, :2].T + matrix[:, 2]
    np.testing.assert_allclose(mapped, template, atol=1e-3)
    # A bright square drawn around the (rotated) nose lands on the template nose after alignment.
    image = rng.integers(0, 60, (320, 400, 3), dtype=np.uint8)
    nose = landmarks[2].round().astype(int)
    image[nose[1] - 6 : nose[1] + 7, nose[0] - 6 : nose[0] + 7] = 255
    face = Face(100, 50, 200, 200, score=0.9, landmarks=landmarks)
    aligned = align_face(image, face, output_size=96, grayscale=False)
    assert aligned.shape == (96, 96, 3) and aligned.dtype == np.uint8
    tx, ty = template[2].round().astype(int)
    assert aligned[ty, tx].min() > 200


def _padded_whole_image_crop(source, face, output_size, margin):
    """The crop as it was cut before: the whole image padded by replication, then the square sliced and resized."""
    height, width = source.shape[:2]
    side = max(1, int(round(max(face.w, face.h) * (1.0 + margin))))
    x0, y0 = int(round(face.center[0] - side / 2.0)), int(round(face.center[1] - side / 2.0))
    left, top, right, bottom = max(0, -x0), max(0, -y0), max(0, x0 + side - width), max(0, y0 + side - height)
    padded = cv2.copyMakeBorder(source, top, bottom, left, right, cv2.BORDER_REPLICATE)
    crop = padded[y0 + top : y0 + top + side, x0 + left : x0 + left + side]
    return cv2.resize(crop, (output_size, output_size), interpolation=cv2.INTER_AREA if side > output_size else cv2.INTER_LINEAR)


def test_box_crop_builds_only_the_square_and_matches_padding_the_whole_image():
    """Same pixels as padding the whole image (faces inside, across the edge, wholly outside), without the whole copy:
    a 1,000,000 x 1 image framed whole (detector "none") asked for a 10^12-pixel padded copy."""
    from ferkit.faces.align import _box_crop

    rng = np.random.default_rng(0)
    for _ in range(300):
        height, width = rng.integers(1, 120, 2)
        image = rng.integers(0, 256, (height, width), dtype=np.uint8)
        face = Face(int(rng.integers(-80, 160)), int(rng.integers(-80, 160)), int(rng.integers(1, 160)), int(rng.integers(1, 160)), score=1.0)
        np.testing.assert_array_equal(_box_crop(image, face, 48, 0.2), _padded_whole_image_crop(image, face, 48, 0.2))
    wide = np.tile(np.arange(250, dtype=np.uint8), 4000)[None, :]  # 1 x 1,000,000
    crop = _box_crop(wide, Face(0, 0, 1_000_000, 1, score=1.0), 48, 0.0)
    assert crop.shape == (48, 48) and abs(float(crop.mean()) - float(wide.mean())) < 2  # the row, squeezed, then repeated


def test_box_crop_pads_outside_the_image():
    image = np.zeros((100, 100, 3), np.uint8)
    image[:, 50:] = 200  # right half bright
    face = Face(60, 0, 40, 40, score=1.0)  # touches the top and right borders
    crop = align_face(image, face, output_size=48, margin=0.5)
    assert crop.shape == (48, 48) and crop.dtype == np.uint8
    # gray conversion of (200, 200, 200) is 200; replicated border keeps the bright value
    assert crop.min() == 200
    crop_color = align_face(image[:, :, 0], face, output_size=32, margin=0.0, grayscale=False)
    assert crop_color.shape == (32, 32, 3)
    with pytest.raises(ConfigError):
        align_face(image, face, output_size=4)


def test_degenerate_landmarks_fall_back_to_the_box():
    image = np.random.default_rng(2).integers(0, 256, (80, 80), dtype=np.uint8)
    face = Face(16, 16, 48, 48, score=1.0, landmarks=np.full((5, 2), 40.0))
    np.testing.assert_array_equal(align_face(image, face), align_face(image, Face(16, 16, 48, 48, score=1.0)))


# ------------------------------------------------------------------------------------------------ drawing


def test_annotate_returns_a_new_image_of_the_same_shape():
    image = np.full((120, 160, 3), 50, np.uint8)
    faces = [Face(10, 30, 50, 50, 0.9, landmarks=five_point_template(50) + [10, 30]), Face(90, 5, 40, 40, 0.5)]
    out = annotate(image, faces, ["happy", "sad"], [0.87, 0.4])
    assert out.shape == image.shape and out.dtype == np.uint8
    assert (image == 50).all() and not np.array_equal(out, image)
    gray = annotate(image[:, :, 0], faces, None, None)
    assert gray.shape == (120, 160)
    with pytest.raises(ConfigError, match="one per face"):
        annotate(image, faces, ["happy"], [0.9, 0.1])


def test_yunet_backend_through_opencvs_decoder(tmp_path, monkeypatch):
    # A stand-in ONNX file with YuNet's inputs and outputs (tests/data/fake_yunet.py): the real
    # cv2.FaceDetectorYN decodes it, and ferkit must return its box, score and landmarks unchanged.
    from data.fake_yunet import bright_cell_image, expected_face, write_fake_yunet

    model = write_fake_yunet(tmp_path / YUNET_FILENAME)
    detector = build_detector("yunet", model_path=model, score_threshold=0.5)
    faces = detector.detect(bright_cell_image(4, 5))
    assert len(faces) == 1
    (x, y, w, h), landmarks = expected_face(4, 5)
    face = faces[0]
    assert abs(face.x - x) <= 1 and abs(face.y - y) <= 1 and abs(face.w - w) <= 1 and abs(face.h - h) <= 1
    assert face.score > 0.99
    np.testing.assert_allclose(face.landmarks, landmarks, atol=0.5)
    # Two bright cells far apart: two faces; largest_only keeps one. Non-square input works too.
    image = bright_cell_image(1, 1, size=320)
    image[6 * 32:7 * 32, 7 * 32:8 * 32] = 255
    assert len(detector.detect(image)) == 2
    assert len(build_detector("yunet", model_path=model, score_threshold=0.5, largest_only=True).detect(image)) == 1
    assert detector.detect(np.zeros((240, 352, 3), np.uint8)) == []
    # The model file can also come from the cache directory.
    monkeypatch.setenv("FERKIT_CACHE_DIR", str(tmp_path))
    assert len(build_detector("yunet", score_threshold=0.5).detect(bright_cell_image(2, 3))) == 1
