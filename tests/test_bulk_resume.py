"""`ferkit predict --resume` keeps rows only of this run: the outputs' inputs must be among the run's inputs, and the
run record beside each output must name this run's model, detector and TTA. A refusal leaves every file as it was."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import cv2
import numpy as np
import pytest

from data.fixtures import class_pattern
from ferkit.bulk_resume import RECORD_SUFFIX, inputs_to_predict
from ferkit.cli import main
from ferkit.errors import ConfigError


def _faces(folder: Path, names: list[str], seed: int = 0) -> list[Path]:
    rng = np.random.default_rng(seed)
    folder.mkdir(parents=True, exist_ok=True)
    for i, name in enumerate(names):
        cv2.imwrite(str(folder / name), class_pattern(i % 7, rng))
    return [folder / name for name in names]


def _predict(model: Path, *argv: str) -> list[str]:
    return ["predict", *argv, "--detector", "none", "--model", str(model), "--quiet"]


def _cut_to(path: Path, rows: int) -> None:
    """The file as a run killed after ``rows`` rows (and a header line for CSV) left it."""
    lines = path.read_bytes().splitlines(keepends=True)
    path.write_bytes(b"".join(lines[: rows + (path.suffix == ".csv")]))


def _files(*paths: Path) -> dict[Path, bytes]:
    return {path: path.read_bytes() for path in paths if path.exists()}


def test_resume_of_another_runs_output_is_refused_and_the_output_kept(tiny_checkpoint, tmp_path, capsys):
    """The trial's case: s.jsonl from small/ copied to s2.jsonl and resumed over fercrops/; it kept the rows, appended and
    said "--resume skipped 3 inputs already in the output" though it skipped none."""
    _faces(tmp_path / "small", ["a.png", "b.png", "c.png", "d.png"])
    _faces(tmp_path / "fercrops", ["e.png", "f.png", "g.png"], seed=1)
    first = tmp_path / "s.jsonl"
    assert main(_predict(tiny_checkpoint, str(tmp_path / "small"), "--jsonl", str(first))) == 0
    copy = tmp_path / "s2.jsonl"
    shutil.copyfile(first, copy)  # without its run record
    before = copy.read_bytes()
    code = main(_predict(tiny_checkpoint, str(tmp_path / "fercrops"), "--jsonl", str(copy), "--resume"))
    err = capsys.readouterr().err
    assert code == 2 and "Traceback" not in err and "skipped" not in err, err
    assert "4 input(s) that are not among this run's inputs" in err and "small/a.png" in err
    assert copy.read_bytes() == before and not Path(str(copy) + RECORD_SUFFIX).exists()


def test_resume_counts_the_inputs_it_skips_and_redoes_the_rest(tiny_checkpoint, tmp_path, capsys):
    folder = tmp_path / "small"
    _faces(folder, ["a.png", "b.png", "c.png", "d.png"])
    jsonl, csv_path = tmp_path / "s.jsonl", tmp_path / "s.csv"
    outputs = ["--jsonl", str(jsonl), "--csv", str(csv_path)]
    assert main(_predict(tiny_checkpoint, str(folder), *outputs)) == 0
    full = _files(jsonl, csv_path)
    _cut_to(jsonl, 3)
    _cut_to(csv_path, 3)
    capsys.readouterr()
    assert main(_predict(tiny_checkpoint, str(folder), *outputs, "--resume")) == 0
    assert "--resume skipped 2 inputs already in the output" in capsys.readouterr().err  # the third may be incomplete: redone
    assert _files(jsonl, csv_path) == full


def test_resume_with_another_model_detector_or_tta_is_refused(tiny_checkpoint, tmp_path, capsys):
    folder = tmp_path / "small"
    _faces(folder, ["a.png", "b.png", "c.png"])
    jsonl, csv_path = tmp_path / "s.jsonl", tmp_path / "s.csv"
    outputs = ["--jsonl", str(jsonl), "--csv", str(csv_path)]
    assert main(_predict(tiny_checkpoint, str(folder), *outputs, "--tta", "none")) == 0
    _cut_to(jsonl, 2)
    _cut_to(csv_path, 2)
    onnx = tmp_path / "x.onnx"
    assert main(["export", str(tiny_checkpoint), "--out", str(onnx)]) == 0
    capsys.readouterr()
    kept = _files(jsonl, csv_path, Path(str(jsonl) + RECORD_SUFFIX), Path(str(csv_path) + RECORD_SUFFIX))
    refusals = [(["--tta", "flip"], 'tta "none" (now "flip")'), (["--model", str(onnx), "--tta", "none"], f"another model ({tiny_checkpoint})"),
                (["--tta", "none", "--every-n", "3"], "every_n 5 (now 3)"), (["--tta", "none", "--detector", "haar"], 'detector "none" (now "haar")')]
    for extra, reason in refusals:
        code = main([*_predict(tiny_checkpoint, str(folder), *outputs, "--resume"), *extra])  # a later --model, --detector wins
        err = capsys.readouterr().err
        assert code == 2 and reason in err and "Traceback" not in err, err
        assert _files(*kept) == kept
    same_model = tmp_path / "copied.pt"  # the same bytes elsewhere are the same model
    shutil.copyfile(tiny_checkpoint, same_model)
    assert main(_predict(same_model, str(folder), *outputs, "--resume", "--tta", "none")) == 0
    assert "--resume skipped 1 inputs" in capsys.readouterr().err


def test_an_output_without_a_run_record_resumes_with_a_warning_and_gets_one(tiny_checkpoint, tmp_path, capsys):
    folder = tmp_path / "small"
    _faces(folder, ["a.png", "b.png", "c.png"])
    jsonl = tmp_path / "s.jsonl"
    assert main(_predict(tiny_checkpoint, str(folder), "--jsonl", str(jsonl))) == 0
    record = Path(str(jsonl) + RECORD_SUFFIX)
    written = json.loads(record.read_text())
    assert written["format"] == "ferkit-predict-run" and written["settings"]["detector"] == "none"
    record.unlink()  # as an older ferkit left it
    _cut_to(jsonl, 2)
    capsys.readouterr()
    assert main(_predict(tiny_checkpoint, str(folder), "--jsonl", str(jsonl), "--resume")) == 0
    err = capsys.readouterr().err
    assert "warning:" in err and "has no run record" in err and "--resume skipped 1 inputs" in err
    assert json.loads(record.read_text())["settings"] == written["settings"]


def test_jsonl_rows_of_a_model_with_other_classes_are_refused_without_a_record(tiny_checkpoint, tmp_path, capsys):
    [face] = _faces(tmp_path / "in", ["a.png"])
    jsonl = tmp_path / "old.jsonl"
    row = {"file": str(face), "frame": None, "face": 0, "box": [0, 0, 48, 48], "landmarks": None, "label": "cat",
           "confidence": 0.9, "probabilities": {"cat": 0.9, "dog": 0.1}}
    jsonl.write_text(json.dumps(row) + "\n" + json.dumps(row) + "\n")
    before = jsonl.read_bytes()
    code = main(_predict(tiny_checkpoint, str(face), "--jsonl", str(jsonl), "--resume"))
    err = capsys.readouterr().err
    assert code == 2 and "model with other classes (cat, dog)" in err, err
    assert jsonl.read_bytes() == before


def test_inputs_to_predict_reads_only_as_far_as_the_outputs_go():
    def endless():
        n = 0
        while True:
            yield f"x{n}"
            n += 1

    todo, skipped = inputs_to_predict(endless(), ["x0", "x1", "x2"], {"x0", "x1"}, "o.jsonl")
    assert skipped == 2 and [next(todo) for _ in range(3)] == ["x2", "x3", "x4"]
    todo, skipped = inputs_to_predict(["b", "a", "c", "a"], ["a", "b"], {"a"}, "o.jsonl")  # a file given twice is predicted twice
    assert skipped == 1 and list(todo) == ["b", "c", "a"]
    with pytest.raises(ConfigError, match=r"2 input\(s\) that are not among .* \(y, z\)"):
        inputs_to_predict(["a", "b"], ["a", "y", "z"], {"a", "y"}, "o.jsonl")
