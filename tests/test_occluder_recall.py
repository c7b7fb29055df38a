"""The per-occluder detection table (benchmarks/occluder_recall.py): which part an occluder hides is measured from
its mask, faces are grouped by it, the rows count what they claim, and the report renders them."""

import json
import sys
from pathlib import Path

import numpy as np
import pytest

from data.fixtures import SHARED_DATA

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "benchmarks"))
import occluder_recall as orc  # noqa: E402
import report_realtime as rt  # noqa: E402
from make_realtime_video import covered_parts  # noqa: E402

FER2013 = SHARED_DATA / "fer2013"  # ../shared/data, or $FERKIT_SHARED_DATA


def test_covered_parts_reads_eyes_and_mouth_from_the_mask():
    mask = np.zeros((100, 100), bool)
    mask[30:48, :] = True  # a band over both eye boxes (y 0.30-0.48)
    parts = covered_parts(mask)
    assert parts == {"face": 0.18, "eyes": 1.0, "mouth": 0.0}
    mask[:] = False
    mask[68:78, 30:70] = True  # the upper half of the mouth box (y 0.68-0.88, x 0.30-0.70)
    assert covered_parts(mask) == {"face": 0.04, "eyes": 0.0, "mouth": 0.5}


@pytest.mark.parametrize("covered, group", [
    ({"face": 0.0, "eyes": 0.0, "mouth": 0.0}, "clean"),
    ({"face": 0.3, "eyes": 0.9, "mouth": 0.1}, "eyes hidden"),
    ({"face": 0.3, "eyes": 0.2, "mouth": 0.5}, "mouth hidden"),
    ({"face": 0.6, "eyes": 0.7, "mouth": 0.8}, "eyes and mouth hidden"),
    ({"face": 0.2, "eyes": 0.49, "mouth": 0.1}, "neither hidden"),
])
def test_hidden_group(covered, group):
    assert orc.hidden_group(covered) == group


def test_summarise_counts_recall_and_accuracy_per_group(monkeypatch):
    monkeypatch.setattr(orc, "DETECTORS", (("default", "mtcnn", {}, 0.5), ("other", "haar", {}, 1.0)))
    faces = [
        {"group": "eyes hidden", "kind": "sunglasses", "correct": True, "found": {"default": True, "other": False}},
        {"group": "eyes hidden", "kind": "sunglasses", "correct": True, "found": {"default": False, "other": False}},
        {"group": "eyes hidden", "kind": "hand", "correct": False, "found": {"default": False, "other": True}},
        {"group": "clean", "kind": "none", "correct": False, "found": {"default": True, "other": True}},
    ]
    rows = orc.summarise(faces, "group", orc.GROUPS)
    assert [r["group"] for r in rows] == ["clean", "eyes hidden"]  # groups without faces are left out
    eyes = rows[1]
    assert eyes["faces"] == 3
    assert eyes["recall"] == {"default": round(1 / 3, 4), "other": round(1 / 3, 4)}
    assert eyes["accuracy_true_box"] == round(2 / 3, 4)
    assert eyes["accuracy_found"] == 1.0 and eyes["accuracy_missed"] == 0.5
    assert eyes["face_accuracy_default"] == round(1 / 3, 4)  # found and right
    assert rows[0]["accuracy_missed"] is None  # nothing missed: no accuracy, not a zero
    by_kind = orc.summarise(faces, "kind", ["none", "sunglasses", "hand", "scarf"])
    assert [(r["kind"], r["faces"]) for r in by_kind] == [("none", 1), ("sunglasses", 2), ("hand", 1)]


def test_report_renders_both_tables(tmp_path, monkeypatch):
    monkeypatch.setattr(rt, "RESULTS", tmp_path)
    assert "occluder_recall.py" in rt.block_occluders()  # not run yet: the command to run
    row = {"faces": 10, "recall": {"a": 0.5, "b": 0.25}, "accuracy_true_box": 0.6, "accuracy_found": 0.8, "accuracy_missed": None, "face_accuracy_default": 0.4}
    (tmp_path / "occluder_recall_cpu.json").write_text(json.dumps({
        "source": "FER2013 PublicTest", "faces": 20, "frames": 5, "seed": 0, "hidden_threshold": 0.5, "classifier": "member 0",
        "detectors": [{"label": "a", "false_positives_per_frame": {"on_faces": 0.2, "background": 0.05}},
                      {"label": "b", "false_positives_per_frame": {"on_faces": 0.0, "background": 0.0}}],
        "by_group": [{"group": "eyes hidden", **row}], "by_kind": [{"kind": "sunglasses", **row}],
        "real_photos": [{"label": "a", "extra_boxes": 2, "photos": {"china.jpg": {"boxes": 2, "faces": 0}, "astronaut.jpg": {"boxes": 1, "faces": 1}}}],
        "device": "cpu: test", "commit": "abc1234", "date": "2026-12-01 00:00 UTC"}))
    table = rt.block_occluders()
    assert "| eyes hidden | 10 | 50.0 | 25.0 | 60.0 | 80.0 | – | 40.0 |" in table
    assert "| sunglasses | 10 | 50.0 | 25.0 |" in table
    assert "Recall: a | Recall: b" in table and "a 0.200 on faces + 0.050 on the background; b 0.000" in table
    assert "| a | 2 / 0 | 1 / 1 | 2 |" in table


@pytest.mark.skipif(not FER2013.is_dir(), reason="needs ../shared/data/fer2013")
def test_faces_are_publictest_occluded_as_grouped_and_pasted_where_their_box_says():
    import cv2

    faces = orc.make_faces(per_kind=1, clean=2, seed=3)
    from ferkit.occlusion import OCCLUDER_KINDS

    assert len(faces) == 2 + len(OCCLUDER_KINDS)
    assert sum(f["group"] == "clean" for f in faces) == 2 and all((f["kind"] == "none") == (f["group"] == "clean") for f in faces)
    frames = orc.compose_frames(faces, seed=3)
    assert len(frames) == -(-len(faces) // 4) and [i for _, members in frames for i in members] == list(range(len(faces)))
    for canvas, members in frames:
        assert canvas.shape == (480, 640, 3)
        boxes = [faces[i]["box"] for i in members]
        for i, (x, y, w, h) in zip(members, boxes):
            assert 0 <= x and x + w <= 640 and 0 <= y and y + h <= 480 and 64 <= w == h <= 150
            expected = cv2.resize(faces[i]["image"], (w, h), interpolation=cv2.INTER_LINEAR)
            assert np.array_equal(canvas[y : y + h, x : x + w], expected)
        for a in range(len(boxes)):  # one face per quarter: no two overlap
            for b in range(a + 1, len(boxes)):
                (xa, ya, wa, ha), (xb, yb, wb, hb) = boxes[a], boxes[b]
                assert xa + wa <= xb or xb + wb <= xa or ya + ha <= yb or yb + hb <= ya


def test_a_box_centred_on_a_face_is_a_fragment_not_background():
    assert orc._centre_inside((10, 10, 20, 20), (0, 0, 40, 40))
    assert not orc._centre_inside((50, 0, 20, 20), (0, 0, 40, 40))


def test_real_photos_ship_with_the_dependencies():
    photos = orc.real_photos()
    assert [faces for _, _, faces in photos] == [0, 0, 1, 1]
    assert all(path.is_file() for _, path, _ in photos)
