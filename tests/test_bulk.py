"""Streamed bulk inference: Recognizer.predict_many, `ferkit predict --jsonl/--csv --resume --workers`."""

import itertools
import json
import os
import subprocess
import sys
from pathlib import Path

import cv2
import numpy as np
import pytest

from data.fixtures import class_pattern
from ferkit.bulk import FailedInput, iter_input_paths
from ferkit.cli import main
from ferkit.errors import ConfigError, ImageReadError
from ferkit.recognizer import Recognizer

SRC = Path(__file__).resolve().parents[1] / "src"



def write_faces(folder: Path, n: int, seed: int = 0) -> list[Path]:
    rng = np.random.default_rng(seed)
    folder.mkdir(parents=True, exist_ok=True)
    paths = [folder / f"face_{i:04d}.png" for i in range(n)]
    for i, path in enumerate(paths):
        cv2.imwrite(str(path), class_pattern(i % 7, rng))
    return paths


def write_clip(path: Path, frames: int = 12) -> Path:
    rng = np.random.default_rng(1)
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"MJPG"), 10, (96, 96))
    for i in range(frames):
        writer.write(cv2.cvtColor(cv2.resize(class_pattern(i % 7, rng), (96, 96)), cv2.COLOR_GRAY2BGR))
    writer.release()
    return path


def test_predict_many_gives_each_input_once_in_order_and_as_predict_does(tiny_checkpoint, tmp_path):
    paths = write_faces(tmp_path / "faces", 11)
    (tmp_path / "faces" / "face_0005.png").write_bytes(b"broken")
    recognizer = Recognizer(tiny_checkpoint, detector="none", tta="none")
    results = list(recognizer.predict_many(paths, workers=2, batch_size=4, errors="record"))
    assert [r.source for r in results] == [str(p) for p in paths]
    assert isinstance(results[5], FailedInput) and "face_0005.png" in results[5].error
    for path, result in zip(paths, results):
        if path.name != "face_0005.png":
            single = recognizer.predict(path).faces[0].probabilities
            assert result.faces[0].probabilities == pytest.approx(single, abs=1e-5)
    with pytest.raises(ImageReadError, match="face_0005.png"):
        list(recognizer.predict_many(paths, workers=2, batch_size=4))


def test_predict_many_pulls_inputs_lazily(tiny_checkpoint):
    # An endless input: results must come while only a bounded window of inputs has been read.
    pulled = []

    def endless():
        rng = np.random.default_rng(0)
        for i in itertools.count():
            pulled.append(i)
            yield class_pattern(i % 7, rng)

    recognizer = Recognizer(tiny_checkpoint, detector="none", tta="none")
    first = list(itertools.islice(recognizer.predict_many(endless(), workers=2, batch_size=8), 20))
    assert [r.source for r in first] == [f"<input {i}>" for i in range(20)]
    assert len(pulled) <= 20 + 8 + 2 * 2  # batch_size + 2 * workers images in flight at most


def test_input_folders_are_walked_lazily_in_sorted_order(tmp_path):
    for name in ("b/2.png", "b/1.jpg", "a.png", "c/notes.txt", "c/clip.avi"):
        (tmp_path / name).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / name).write_bytes(b"x")
    found = [p.relative_to(tmp_path).as_posix() for p in iter_input_paths([tmp_path])]
    assert found == ["a.png", "b/1.jpg", "b/2.png", "c/clip.avi"]


CRASH_AFTER_WRITES = """
import os, sys
from ferkit import bulk_output
from ferkit.cli import main

limit = int(sys.argv[1])
real_write, count = bulk_output._Stream.write, [0]

def write(self, item):
    real_write(self, item)
    if isinstance(self, bulk_output.JsonlOutput):
        count[0] += 1
        if count[0] == limit:  # half a line of the next input, then a hard kill: nothing cleaned up
            self.file.write('{"file": "torn'); self.file.flush()
            os._exit(137)

bulk_output._Stream.write = write
sys.exit(main(sys.argv[2:]))
"""


def run_predict(argv: list[str], crash_after: int | None = None) -> subprocess.CompletedProcess:
    code = CRASH_AFTER_WRITES if crash_after else "import sys; from ferkit.cli import main; sys.exit(main(sys.argv[2:]))"
    env = {**os.environ, "PYTHONPATH": str(SRC)}
    return subprocess.run([sys.executable, "-c", code, str(crash_after or 0), "predict", *argv], capture_output=True, text=True, env=env, timeout=300)


@pytest.fixture(scope="module")
def uninterrupted(tiny_checkpoint, tmp_path_factory) -> tuple[Path, list[str]]:
    """A folder of faces, a broken file and a short video, and the outputs of one uninterrupted run over it."""
    root = tmp_path_factory.mktemp("bulk")
    folder = root / "in"
    write_faces(folder, 18)
    write_clip(folder / "face_0010_clip.avi")  # sorted among the images: face_0010.png, face_0010_clip.avi, face_0011.png
    (folder / "face_0003.png").write_bytes(b"broken")
    common = [str(folder), "--model", str(tiny_checkpoint), "--detector", "none", "--every-n", "2", "--workers", "2", "--batch-size", "4", "--quiet"]
    full = run_predict([*common, "--jsonl", str(root / "full.jsonl"), "--csv", str(root / "full.csv")])
    assert full.returncode == 1 and "face_0003.png" in full.stderr  # the broken file is an error row, the rest complete
    return root, common


def test_uninterrupted_run_writes_every_input_in_order(uninterrupted):
    root, _ = uninterrupted
    rows = [json.loads(line) for line in (root / "full.jsonl").read_text().splitlines()]
    files = [Path(r["file"]).name for r in rows]
    assert files[:4] == ["face_0000.png", "face_0001.png", "face_0002.png", "face_0003.png"] and "error" in rows[3]
    assert [r["frame"] for r in rows if r["file"].endswith(".avi")] == [0, 2, 4, 6, 8, 10]
    assert len(rows) == 17 + 1 + 6 and files[11] == "face_0010_clip.avi"


# Writes (one per image or video frame): 11 images (one broken), then the video's 6 frames (writes 12-17), then 7 images.
@pytest.mark.parametrize("crash_after", [7, 14])  # among the images; inside the video
def test_killed_predict_resumes_to_the_output_of_an_uninterrupted_run(uninterrupted, tmp_path, crash_after, capsys):
    root, common = uninterrupted
    parts = ["--jsonl", str(tmp_path / "part.jsonl"), "--csv", str(tmp_path / "part.csv")]
    crashed = run_predict([*common, *parts], crash_after=crash_after)
    assert crashed.returncode == 137
    cut = (tmp_path / "part.jsonl").read_text()
    assert cut.endswith('{"file": "torn') and cut.count("\n") == crash_after
    assert main(["predict", *common, *parts]) == 2  # existing outputs are not replaced without --resume or --overwrite
    assert "--resume" in capsys.readouterr().err
    resumed = run_predict([*common, *parts, "--resume"])
    # The broken file's error row was written before the crash: this run skips it and meets no error.
    assert resumed.returncode == 0 and "--resume skipped" in resumed.stderr

    full_rows = (root / "full.jsonl").read_text().splitlines()
    part_rows = (tmp_path / "part.jsonl").read_text().splitlines()
    keys = [(r["file"], r.get("frame"), r.get("face")) for r in map(json.loads, part_rows)]
    assert len(keys) == len(set(keys))  # nothing written twice
    assert part_rows == full_rows  # nothing lost, same order and values
    assert (tmp_path / "part.csv").read_text() == (root / "full.csv").read_text()


def test_resume_refuses_mismatched_or_unresumable_outputs(tiny_checkpoint, tmp_path, capsys):
    folder = tmp_path / "in"
    write_faces(folder, 3)
    base = ["predict", str(folder), "--model", str(tiny_checkpoint), "--detector", "none", "--quiet"]
    (tmp_path / "other.csv").write_text("file,frame,face,x,y,w,h,landmarks,label,confidence,cat,dog,error\nx.png,,0,0,0,1,1,,cat,0.9,0.9,0.1,\n")
    assert main([*base, "--csv", str(tmp_path / "other.csv"), "--resume"]) == 2
    assert "another header" in capsys.readouterr().err
    assert main([*base, "--json", str(tmp_path / "a.json"), "--resume"]) == 2
    assert "cannot be resumed" in capsys.readouterr().err
    assert main([*base, "--jsonl", str(tmp_path / "a.jsonl"), "--resume", "--overwrite"]) == 2
    with pytest.raises(ConfigError, match="workers"):
        list(Recognizer(tiny_checkpoint, detector="none").predict_many([], workers=-1))


def test_streamed_outputs_match_the_json_document(tiny_checkpoint, tmp_path, capsys):
    folder = tmp_path / "in"
    write_faces(folder, 5)
    out = tmp_path / "out"
    assert main(["predict", str(folder), "--model", str(tiny_checkpoint), "--detector", "none", "--quiet", "--workers", "1",
                 "--json", str(out.with_suffix(".json")), "--jsonl", str(out.with_suffix(".jsonl")), "--csv", str(out.with_suffix(".csv"))]) == 0
    document = json.loads(out.with_suffix(".json").read_text())
    lines = [json.loads(line) for line in out.with_suffix(".jsonl").read_text().splitlines()]
    assert lines == document["faces"] and len(lines) == 5
    csv_lines = out.with_suffix(".csv").read_text().splitlines()
    assert csv_lines[0].endswith(",error") and len(csv_lines) == 6
    assert capsys.readouterr().out.count("face_") == 5  # the table, a line per face as it comes


def test_a_renamed_annotated_copy_is_announced_only_when_it_is_written(tiny_checkpoint, tmp_path, capsys):
    """vids/trunc.mp4 (undecodable) was announced as written to trunc_mp4_annotated.avi, then failed and wrote nothing."""
    vids, out = tmp_path / "vids", tmp_path / "vann"
    vids.mkdir()
    write_clip(vids / "trunc.avi", frames=4)
    (vids / "trunc.mp4").write_bytes(np.random.default_rng(0).bytes(4096))
    argv = ["predict", str(vids), "--save-annotated", str(out), "--model", str(tiny_checkpoint), "--detector", "none", "--every-n", "2", "--quiet"]
    assert main(argv) == 1
    err = capsys.readouterr().err
    assert f"cannot decode video {vids / 'trunc.mp4'}" in err and "annotated copy written as" not in err, err
    assert sorted(p.name for p in out.iterdir()) == ["trunc_annotated.avi"]
    write_clip(vids / "trunc.mp4", frames=4)  # now a video that decodes: its copy is written, and the new name said
    assert main(argv + ["--overwrite"]) == 0
    err = capsys.readouterr().err
    assert f"annotated copy written as {out / 'trunc_mp4_annotated.avi'}" in err, err
    assert sorted(p.name for p in out.iterdir()) == ["trunc_annotated.avi", "trunc_mp4_annotated.avi"]
