"""docs/realtime.md's tables come from the results JSON: the targets rows pick the named runs and state how the CPU
was shared, the breakdown lays crops out by clean/occluded, and a missing section says how to produce it."""

import json
import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "benchmarks"))
import report_realtime as rt  # noqa: E402
from data.fixtures import SHARED_DATA  # noqa: E402

PROVENANCE = {"device": "cpu: test", "commit": "abc1234", "date": "2026-11-30 00:00 UTC", "loadavg": [1.0, 1.0, 1.0]}


@pytest.fixture
def results(tmp_path, monkeypatch):
    monkeypatch.setattr(rt, "RESULTS", tmp_path)
    return tmp_path


def write(results: Path, **sections) -> None:
    (results / "realtime_cpu.json").write_text(json.dumps(sections))


def test_missing_section_names_the_command(results):
    write(results)
    assert rt.block_breakdown() == rt.NOT_RUN.format("breakdown")


def test_breakdown_rows_by_crop_and_occlusion(results):
    rows = [{"crop": crop, "occluded": occluded, "faces": faces, "accuracy": acc, "detector": "auto", "model": "single", "every_nth": 5}
            for crop, occluded, faces, acc in (("true box", False, 10, 0.7), ("true box", True, 4, 0.5), ("detector box, FER2013 framing", False, 9, 0.6), ("retired crop name", False, 3, 0.1))]
    write(results, breakdown={"rows": rows, **PROVENANCE, "cpu_note": "quiet"})
    table = rt.block_breakdown()
    assert "| true box | 70.0 (10) | 50.0 (4) |" in table
    assert "| detector box, FER2013 framing | 60.0 (9) | – |" in table  # no occluded face found: a dash, not a zero
    assert "retired crop name" not in table  # rows from crops the benchmark no longer measures are left out
    assert "| detector landmarks | – | – |" in table
    assert "every 5th frame" in table and "quiet" in table


def test_targets_take_the_named_runs_and_say_how_the_cpu_was_shared(results):
    crop = {"backend": "onnx", "faces_per_s": 2500.0, "faces_per_cpu_s": 1300.0}
    video = {"model": "single", "tta": "none", "detector": "mtcnn", "detect_every": 3, "detect_scale": 0.5, "frames_per_s_median": 65.0,
             "accuracy": 0.483, "cpu_ms_per_frame": 26.0}
    write(results, crops={"rows": [{"model": "single int8", "tta": "none", **crop}], **PROVENANCE, "cpu_note": "paused"},
          video={"rows": [{"name": "mtcnn, scale 0.5, every 3", **video}, {"name": "not a target row", **video, "accuracy": 0.9}],
                 **PROVENANCE, "cpu_note": "shared"})
    table = rt.block_targets()
    assert "single int8, ONNX Runtime, TTA none | 2500 faces/s" in table
    assert "65.0 frames/s, 48.3%" in table and "90.0%" not in table
    assert "crops paused; video shared" in table


def test_heldout_rows_side_by_side_per_video(results):
    score = {"accuracy": 0.5, "accuracy_clean": 0.6, "accuracy_occluded": 0.2, "false_positives_per_frame": 0.05}
    rows = [{"name": "defaults", "video_seed": 0, "distinct_faces": 71, "distinct_occluded_faces": 24, **score},
            {"name": "defaults", "video_seed": 1, "distinct_faces": 74, "distinct_occluded_faces": 13, **score, "accuracy": 0.57},
            {"name": "tuned", "video_seed": 0, "distinct_faces": 71, "distinct_occluded_faces": 24, **score, "accuracy": 0.53, "look_back": 9}]
    write(results, heldout={"rows": rows, **PROVENANCE, "cpu_note": "shared"})
    table = rt.block_heldout()
    assert "| defaults | 0 | 50.0 / 60.0 / 20.0, 0.050 | 57.0 / 60.0 / 20.0, 0.050 |" in table  # rows from before look-back: 0
    assert "| tuned | 9 | 53.0 / 60.0 / 20.0, 0.050 | – |" in table  # not run on the held-out video: a dash
    assert "seed 0: 71 faces, 24 occluded; seed 1: 74 faces, 13 occluded, some shared with the benchmark video" in table
    assert "(the benchmark)" in table and "(held out)" in table
    rows[1]["excludes_faces_of_seed"] = 0  # made with the benchmark's faces left out
    write(results, heldout={"rows": rows, **PROVENANCE, "cpu_note": "shared"})
    assert "seed 1: 74 faces, 13 occluded, none of them in the benchmark video" in rt.block_heldout()


@pytest.mark.skipif(not (SHARED_DATA / "fer2013").is_dir(), reason="needs ../shared/data/fer2013")
def test_a_heldout_video_shows_none_of_the_benchmark_videos_faces(tmp_path):
    import make_realtime_video as mv

    benchmark = mv.build_tracks(300, seed=0, occluded_share=1 / 3)
    truth = tmp_path / "benchmark.json"
    truth.write_text(json.dumps({"seed": 0, "faces": [{"source_id": t.source_id} for t in benchmark]}))
    excluded, seed = mv.excluded_faces(truth)
    assert seed == 0 and excluded == {t.source_id for t in benchmark}
    shared = mv.build_tracks(1500, seed=1, occluded_share=1 / 3)
    held = mv.build_tracks(1500, seed=1, occluded_share=1 / 3, exclude_sources=excluded)
    assert {t.source_id for t in held}.isdisjoint(excluded)
    assert {t.source_id for t in shared} & excluded  # without the exclusion this seed does reuse benchmark faces
    # the exclusion changes which faces are drawn, not how the video moves
    assert [(t.cell, t.start, t.end, t.size0) for t in held] == [(t.cell, t.start, t.end, t.size0) for t in shared]


def test_heldout_videos_are_named_by_seed_and_frames():
    import realtime

    assert realtime.heldout_videos(["1:3000", "2:6000"]) == [(1, 3000), (2, 6000)]
    for bad in ("2", "two:600", "2:0", "2:-5"):
        with pytest.raises(SystemExit, match="SEED:FRAMES"):
            realtime.heldout_videos([bad])


def test_heldout_section_refuses_an_unknown_setting_before_any_work():
    import realtime

    with pytest.raises(SystemExit, match="unknown held-out runs \\['tuned'\\]"):
        realtime.heldout_section({}, {}, only=["tuned"])


def test_score_video_counts_misses_as_wrong_and_says_where_they_lie():
    """Face 0 (occluded) is missed on frame 0, then found on frames 1-2 (right, then wrong); face 1 (clean) is never
    found; one box on frame 2 matches no face."""
    from types import SimpleNamespace as NS

    import realtime

    face0 = {"face_id": 0, "box": [10, 10, 50, 50], "label": "happiness", "occluded": True}
    face1 = {"face_id": 1, "box": [200, 10, 50, 50], "label": "anger", "occluded": False}
    truth = [[face0, face1]] * 3
    results = [NS(frame_index=0, faces=[]),
               NS(frame_index=1, faces=[NS(box=(12, 10, 50, 50), label="happiness")]),
               NS(frame_index=2, faces=[NS(box=(10, 12, 50, 50), label="sadness"), NS(box=(400, 300, 40, 40), label="anger")])]
    score = realtime.score_video(results, truth)
    assert score["accuracy"] == round(1 / 6, 4) and score["accuracy_occluded"] == round(1 / 3, 4) and score["accuracy_clean"] == 0
    assert score["recall_occluded"] == round(2 / 3, 4) and score["recall_clean"] == 0 and score["faces"] == 6
    assert score["false_positives_per_frame"] == round(1 / 3, 3)
    assert score["missed_before_first_found"] == 1 and score["faces_never_found"] == 1 and score["missed_in_faces_never_found"] == 3
    assert score["occluded_faces_never_found"] == 0  # the face never found is the clean one
    covered = dict(face1, occluded=True)
    assert realtime.score_video(results, [[face0, covered]] * 3)["occluded_faces_never_found"] == 1


def test_heldout_table_names_the_benchmark_by_its_seed_not_by_sort_order(results):
    score = {"accuracy": 0.5, "accuracy_clean": 0.6, "accuracy_occluded": 0.2, "false_positives_per_frame": 0.05, "distinct_faces": 71, "distinct_occluded_faces": 24}
    rows = [{"name": "defaults", "video_seed": 3, **score}, {"name": "defaults", "video_seed": 1, **score}]
    write(results, benchmark_video={"seed": 3}, heldout={"rows": rows, **PROVENANCE, "cpu_note": "shared"})
    table = rt.block_heldout()
    assert "Video seed 3 (the benchmark)" in table and "Video seed 1 (held out)" in table
    assert table.index("Video seed 3") < table.index("Video seed 1")  # the benchmark's column first


def test_a_heldout_video_with_the_benchmarks_seed_is_refused():
    import realtime

    assert realtime.heldout_videos(["1:3000"], benchmark_seed=0) == [(1, 3000)]
    with pytest.raises(SystemExit, match="benchmark video's"):
        realtime.heldout_videos(["0:3000"], benchmark_seed=0)  # it would replace the benchmark's rows under seed 0


def test_match_ignores_pairs_under_the_threshold_when_assigning(monkeypatch):
    """Faces A and B, boxes 1 and 2: the valid pairs A-1 (0.6), A-2 and B-1 (0.35) allow two matches; B-2 (0.29) is under
    the threshold and must not pull the assignment towards A-1 + B-2, which keeps one."""
    import realtime

    import ferkit.video

    iou = {("A", 1): 0.6, ("A", 2): 0.35, ("B", 1): 0.35, ("B", 2): 0.29}
    monkeypatch.setattr(ferkit.video, "box_iou", lambda t, b: iou[t, b])
    assert realtime.match([{"box": "A"}, {"box": "B"}], [1, 2]) == {0: 1, 1: 0}


def test_camera_frames_per_s_runs_to_the_commands_end_not_to_the_last_read(monkeypatch, tmp_path):
    """With read-ahead the camera is read a few frames before they are classified: 10 frames, 5 read at once, then one a
    second while each takes a second to classify, are 10 frames in 10 s, not 9 intervals in the 5 s of reads."""
    from types import SimpleNamespace

    import cv2

    import ferkit.cli
    import realtime

    clock = [0.0]
    monkeypatch.setattr(realtime, "time", SimpleNamespace(perf_counter=lambda: clock[0]))

    def fake_cli(argv):
        camera = cv2.VideoCapture(0)
        for _ in range(5):
            camera.read()
        for _ in range(5):
            clock[0] += 1.0
            camera.read()
        clock[0] += 5.0  # the last frames classified after the last read
        return 0

    monkeypatch.setattr(ferkit.cli, "main", fake_cli)
    row = realtime.camera_section(tmp_path / "missing.avi", frames=10)
    assert row["frames"] == 10 and row["frames_per_s"] == 1.0


def test_rows_kept_from_earlier_runs_are_not_credited_to_the_last_runs_commit(results):
    """``--runs`` and ``--heldout-runs`` keep the other rows: the footer's commit and date are the last run's only."""
    score = {"accuracy": 0.5, "accuracy_clean": 0.6, "accuracy_occluded": 0.2, "false_positives_per_frame": 0.05, "distinct_faces": 71, "distinct_occluded_faces": 24}
    fresh = {"name": "defaults", "video_seed": 0, **score, "measured": {"commit": "abc1234", "date": "2026-11-30 00:00 UTC"}}
    write(results, heldout={"rows": [fresh], **PROVENANCE, "cpu_note": "shared"})
    assert "kept from earlier runs" not in rt.block_heldout()
    old = {"name": "no look-back", "video_seed": 0, **score, "measured": {"commit": "0ld0001", "date": "2026-11-01 00:00 UTC"}}
    write(results, heldout={"rows": [fresh, old, {"name": "older", "video_seed": 0, **score}], **PROVENANCE, "cpu_note": "shared"})
    assert "Of 3 rows, 1 were kept from earlier runs at commit(s) 0ld0001 and 1 do not name their run" in rt.block_heldout()
