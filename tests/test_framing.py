"""Box framing (ferkit.faces.framing): the reframing arithmetic, its measurement against a detector whose boxes
are known, the calibration file the package ships, and the Recognizer's "box" vs "square" alignment."""

from pathlib import Path

import cv2
import numpy as np
import pytest

from data.fixtures import SHARED_DATA
from ferkit.errors import ConfigError
from ferkit.faces import Face, FaceDetector, ScaledDetector, align_face, build_detector
from ferkit.faces.framing import IDENTITY, BoxFraming, framing_for, load_framings, measure_framing


def test_frame_puts_the_square_where_the_framing_says():
    # longer side 60: side 0.9 * 60 = 54, centre (120 + 6, 80 - 3) = (126, 77)
    framed = BoxFraming(side=0.9, shift_x=0.1, shift_y=-0.05).frame(Face(100, 50, 40, 60, 0.8, np.zeros((5, 2))))
    assert (framed.x, framed.y, framed.w, framed.h, framed.score, framed.landmarks) == (99, 50, 54, 54, 0.8, None)
    assert IDENTITY.frame(Face(10, 20, 30, 40, 1.0)).box == (5, 20, 40, 40)  # the plain square of the longer side
    assert BoxFraming(side=1.5).frame(Face(0, 0, 20, 20, 1.0)).box == (-5, -5, 30, 30)  # may reach past the image


@pytest.mark.parametrize("bad", [{"side": 0.1}, {"side": float("nan")}, {"shift_x": 2.0}])
def test_an_impossible_framing_is_refused(bad):
    with pytest.raises(ConfigError, match="box framing needs"):
        BoxFraming(**bad)


class KnownBoxDetector(FaceDetector):
    """Finds the pasted white square and reports a box drawn from it by a known framing (box = crop / framing),
    narrower than tall as MTCNN's are."""

    name = "known"

    def __init__(self, side: float, shift_x: float, shift_y: float):
        super().__init__()
        self.side, self.shift_x, self.shift_y = side, shift_x, shift_y

    def _detect(self, bgr, gray):
        rows, cols = np.flatnonzero((gray == 255).sum(1) > 5), np.flatnonzero((gray == 255).sum(0) > 5)
        x, y, s = cols[0], rows[0], cols[-1] - cols[0] + 1
        longer = s / self.side
        centre_x, centre_y = x + s / 2 - self.shift_x * longer, y + s / 2 - self.shift_y * longer
        return [Face(round(centre_x - 0.4 * longer), round(centre_y - longer / 2), round(0.8 * longer), round(longer), 0.9)]


def test_measure_framing_recovers_the_framing_of_a_detector_with_known_boxes():
    faces = [np.full((48, 48), 255, np.uint8)] * 40
    result = measure_framing(KnownBoxDetector(0.9, 0.05, -0.04), faces, seed=3)
    assert (result["faces"], result["found"]) == (40, 40)
    got = result["framing"]
    assert got["side"] == pytest.approx(0.9, abs=0.02) and got["shift_x"] == pytest.approx(0.05, abs=0.02) and got["shift_y"] == pytest.approx(-0.04, abs=0.02)


class NothingDetector(FaceDetector):
    def _detect(self, bgr, gray):
        return []


def test_a_detector_that_finds_nothing_gets_a_clear_error():
    with pytest.raises(ConfigError, match="found none of the 3 pasted faces"):
        measure_framing(NothingDetector(), [np.zeros((48, 48), np.uint8)] * 3)


def test_the_shipped_calibration_covers_the_default_detectors_and_is_looked_up_through_wrappers():
    framings = load_framings()
    assert {"haar", "mtcnn"} <= set(framings)
    assert all(0.8 < f.side < 1.25 and abs(f.shift_x) < 0.1 and abs(f.shift_y) < 0.1 for f in framings.values())
    assert framing_for(ScaledDetector(build_detector("haar"), 0.5)) == framings["haar"]
    assert framing_for(build_detector("auto")) == framings[build_detector("auto").name]
    assert framing_for(NothingDetector()) == IDENTITY and framing_for(None) == IDENTITY


@pytest.mark.parametrize("text", ["{not json", '{"detectors": {"mtcnn": {"side": 0.9}}}', '{"detectors": {"mtcnn": {"side": 9, "shift_x": 0, "shift_y": 0}}}'])
def test_a_damaged_framing_file_gets_a_clear_error(tmp_path, text):
    path = tmp_path / "framing.json"
    path.write_text(text)
    with pytest.raises(ConfigError, match="is not a box-framing file"):
        load_framings(path)
    assert load_framings(tmp_path / "missing.json") == {}


def test_box_alignment_crops_the_framed_box_and_square_the_plain_one(tiny_checkpoint):
    from ferkit.recognizer import Recognizer

    gray = np.random.default_rng(0).integers(0, 256, (200, 200), dtype=np.uint8)
    face = Face(60, 50, 70, 90, 0.99)
    box = Recognizer(tiny_checkpoint, detector="haar")
    square = Recognizer(tiny_checkpoint, detector="haar", alignment="square")
    assert box.framing == load_framings()["haar"] and square.framing == IDENTITY
    np.testing.assert_array_equal(box._aligned_crops(gray, [face])[0], align_face(gray, load_framings()["haar"].frame(face)))
    np.testing.assert_array_equal(square._aligned_crops(gray, [face])[0], align_face(gray, face))
    assert np.abs(box._aligned_crops(gray, [face]).astype(int) - square._aligned_crops(gray, [face]).astype(int)).mean() > 5


@pytest.mark.skipif(not (SHARED_DATA / "fer2013").is_dir(), reason="needs ../shared/data/fer2013")
def test_the_shipped_haar_framing_is_what_fer2013_training_faces_measure():
    """Real data: 200 FER2013 training faces (not the calibration's draw) measure the shipped Haar framing again."""
    files = sorted((SHARED_DATA / "fer2013" / "train").glob("*/*"))[::120][:200]
    faces = [cv2.imread(str(path), cv2.IMREAD_GRAYSCALE) for path in files]
    result = measure_framing(build_detector("haar"), faces, seed=7)
    assert result["found"] > 100
    assert result["framing"]["side"] == pytest.approx(load_framings()["haar"].side, abs=0.04)
