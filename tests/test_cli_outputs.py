"""`ferkit` outputs under bad input: refused before any work, existing files kept, no traceback, no silent overwrite."""

import json
import os
import subprocess
import sys
from pathlib import Path

import cv2
import numpy as np
import pytest

from data.fixtures import class_pattern
from ferkit import cli
from ferkit.bulk import AnnotatedNames
from ferkit.cli import main
from ferkit.errors import FerkitWarning, OutputError
from ferkit.io_utils import check_writable_file


def _faces(folder: Path, names: list[str]) -> list[Path]:
    rng = np.random.default_rng(0)
    folder.mkdir(parents=True, exist_ok=True)
    for i, name in enumerate(names):
        cv2.imwrite(str(folder / name), class_pattern(i % 7, rng))
    return [folder / name for name in names]


def _predict(tiny_checkpoint, *argv: str) -> list[str]:
    return ["predict", *argv, "--detector", "none", "--model", str(tiny_checkpoint), "--quiet"]


def _one_line_error(capsys, code: int, *words: str) -> str:
    err = capsys.readouterr().err
    assert code == 2 and "Traceback" not in err, err
    for word in words:
        assert word in err, err
    return err


@pytest.mark.parametrize("flag,value", [("--batch-size", "0"), ("--workers", "-1"), ("--every-n", "0"), ("--max-frames", "0")])
def test_a_bad_number_is_refused_by_its_flag_before_the_outputs_are_touched(tiny_checkpoint, tmp_path, capsys, flag, value):
    [face] = _faces(tmp_path / "in", ["a.png"])
    kept = tmp_path / "kept.jsonl"
    kept.write_text('{"file": "earlier run"}\n')
    code = main(_predict(tiny_checkpoint, str(face), "--jsonl", str(kept), "--overwrite", flag, value))
    _one_line_error(capsys, code, f"{flag} must be >=")
    assert kept.read_text() == '{"file": "earlier run"}\n'  # --overwrite had not emptied it


def test_an_output_that_is_a_folder_or_under_a_file_is_refused_up_front(tiny_checkpoint, tmp_path, capsys):
    [face] = _faces(tmp_path / "in", ["a.png"])
    folder = tmp_path / "results.jsonl"
    folder.mkdir()
    not_a_folder = tmp_path / "notes.txt"
    not_a_folder.write_text("x")
    for option, target in [("--jsonl", folder), ("--json", folder), ("--csv", not_a_folder / "out.csv"), ("--json", not_a_folder / "out.json")]:
        for extra in ([], ["--overwrite"]):  # the advice of "exists; pass --overwrite" must not lead to a traceback
            code = main(_predict(tiny_checkpoint, str(face), option, str(target), *extra))
            _one_line_error(capsys, code, str(target))
    assert not_a_folder.read_text() == "x"


def test_streamed_outputs_create_their_folder_as_json_does(tiny_checkpoint, tmp_path, capsys):
    [face] = _faces(tmp_path / "in", ["a.png"])
    jsonl, csv_path = tmp_path / "new" / "deep" / "out.jsonl", tmp_path / "new2" / "out.csv"
    assert main(_predict(tiny_checkpoint, str(face), "--jsonl", str(jsonl), "--csv", str(csv_path))) == 0
    assert json.loads(jsonl.read_text().splitlines()[0])["file"] == str(face)
    assert csv_path.read_text().count("\n") == 2  # header and the face


def test_save_annotated_onto_a_file_is_refused_before_the_model_loads(tiny_checkpoint, tmp_path, capsys, monkeypatch):
    [face] = _faces(tmp_path / "in", ["a.png"])
    taken = tmp_path / "annotated"
    taken.write_text("mine")
    monkeypatch.setattr("ferkit.recognizer.Recognizer.__init__", lambda *a, **k: pytest.fail("model loaded before the check"))
    code = main(_predict(tiny_checkpoint, str(face), "--save-annotated", str(taken)))
    _one_line_error(capsys, code, "not a folder")
    assert taken.read_text() == "mine"


def test_resume_of_a_file_this_command_did_not_write_names_the_line(tiny_checkpoint, tmp_path, capsys):
    [face] = _faces(tmp_path / "in", ["a.png"])
    other = tmp_path / "other.jsonl"
    other.write_text("file,frame,face\nx.png,0,0\n")
    code = main(_predict(tiny_checkpoint, str(face), "--jsonl", str(other), "--resume"))
    _one_line_error(capsys, code, "line 1", "not a ferkit predict JSON Lines row")
    assert other.read_text() == "file,frame,face\nx.png,0,0\n"


def test_annotated_copies_keep_the_folder_layout_and_never_overwrite_each_other(tiny_checkpoint, tmp_path, capsys):
    root = tmp_path / "photos"
    _faces(root / "s1", ["face.png"])
    _faces(root / "s2", ["face.png", "b.jpg", "b.png"])
    out = tmp_path / "annotated"
    assert main(_predict(tiny_checkpoint, str(root), "--save-annotated", str(out), "--jsonl", str(tmp_path / "r.jsonl"))) == 0
    written = sorted(str(p.relative_to(out)) for p in out.rglob("*.png"))
    assert written == ["s1/face_annotated.png", "s2/b_annotated.png", "s2/b_png_annotated.png", "s2/face_annotated.png"]
    err = capsys.readouterr().err
    assert "ferkit predict: warning:" in err and "b_png_annotated.png" in err and "Traceback" not in err
    rows = [json.loads(line) for line in (tmp_path / "r.jsonl").read_text().splitlines()]
    assert len(rows) == 4 and not any("error" in row for row in rows)


def test_annotated_names_outside_the_roots_get_suffix_then_number(tmp_path):
    names = AnnotatedNames(tmp_path / "out")
    targets = [names.target(Path(p), ".png") for p in ("x/face.png", "y/face.png", "z/face.png", "z/face.jpg")]
    assert [t.name for t in targets] == ["face_annotated.png", "face_png_annotated.png", "face_png_2_annotated.png", "face_jpg_annotated.png"]
    with pytest.warns(FerkitWarning, match="took"):  # said once the renamed copy is written, not when its name is given
        names.written(targets[1])


def test_evaluate_export_and_train_refuse_an_unwritable_out_before_the_work(tiny_checkpoint, tmp_path, capsys, monkeypatch):
    monkeypatch.chdir(tmp_path)
    a_file = tmp_path / "taken.txt"
    a_file.write_text("keep")
    monkeypatch.setattr("ferkit.artifacts.load_model", lambda *a, **k: pytest.fail("model loaded before the check"))
    _one_line_error(capsys, main(["evaluate", str(tiny_checkpoint), "--data", "fer2013:/nowhere", "--out", str(a_file)]), "not a folder")
    _one_line_error(capsys, main(["export", str(tiny_checkpoint), "--out", str(a_file / "m.onnx")]), "is a file, not a folder")
    _one_line_error(capsys, main(["train", "--recipe", "tiny-smoke-v1", "--data", "fer2013:/nowhere", "--out", str(a_file)]), "not a folder")
    assert a_file.read_text() == "keep"


def test_an_unforeseen_file_system_error_is_one_line_and_an_interrupt_names_what_is_kept(monkeypatch, capsys):
    def disk_full(args):
        raise OSError(28, "No space left on device", "/data/out.jsonl")

    monkeypatch.setitem(cli.COMMANDS, "recipes", disk_full)
    _one_line_error(capsys, main(["recipes"]), "ferkit recipes: error: /data/out.jsonl: No space left on device")

    def interrupted(args):
        raise KeyboardInterrupt

    monkeypatch.setitem(cli.COMMANDS, "recipes", interrupted)
    assert main(["recipes"]) == 130
    err = capsys.readouterr().err
    assert err.strip() == "ferkit recipes: interrupted" and "last.pt" not in err


@pytest.mark.parametrize("first,second", [("--jsonl", "--csv"), ("--json", "--csv"), ("--json", "--jsonl")])
def test_two_outputs_in_one_file_are_refused_before_the_model_loads(tiny_checkpoint, tmp_path, capsys, monkeypatch, first, second):
    """They mixed JSONL and CSV rows in one file, or the --json document replaced the CSV, and the run exited 0."""
    [face] = _faces(tmp_path / "in", ["a.jpg"])
    monkeypatch.setattr("ferkit.recognizer.Recognizer.__init__", lambda *a, **k: pytest.fail("model loaded before the check"))
    same = tmp_path / "same.txt"
    code = main(_predict(tiny_checkpoint, str(face), first, str(same), second, str(same)))
    _one_line_error(capsys, code, f"{first} and {second} name the same file ({same})")
    assert not same.exists()
    kept = tmp_path / "kept.jsonl"  # another name of one file: a link, and a path through "."
    kept.write_text("mine\n")
    (tmp_path / "link.txt").symlink_to(kept)
    for other in (tmp_path / "link.txt", tmp_path / "." / "kept.jsonl"):
        code = main(_predict(tiny_checkpoint, str(face), first, str(kept), second, str(other), "--overwrite"))
        _one_line_error(capsys, code, "name the same file")
    assert kept.read_text() == "mine\n"


def test_standard_output_takes_one_output_and_an_annotated_folder_is_no_output_file(tiny_checkpoint, tmp_path, capsys, monkeypatch):
    [face] = _faces(tmp_path / "in", ["a.jpg"])
    monkeypatch.setattr("ferkit.recognizer.Recognizer.__init__", lambda *a, **k: pytest.fail("model loaded before the check"))
    _one_line_error(capsys, main(_predict(tiny_checkpoint, str(face), "--json", "-", "--csv", "-")), "only one output may be '-'", "--json and --csv")
    target = tmp_path / "out"
    _one_line_error(capsys, main(_predict(tiny_checkpoint, str(face), "--jsonl", str(target), "--save-annotated", str(target))),
                    "--jsonl and --save-annotated name the same file")
    assert not target.exists()


def test_outputs_may_share_dev_null_and_writing_to_dev_stdout_is_writing_to_standard_output(tmp_path):
    from ferkit.bulk_output import check_output_paths, writes_to_stdout

    if not Path(os.devnull).exists():
        pytest.skip("no null device")
    check_output_paths({"--json": os.devnull, "--jsonl": os.devnull, "--csv": os.devnull}, overwrite=False, resume=False)
    assert writes_to_stdout("-") and not writes_to_stdout(None) and not writes_to_stdout(str(tmp_path / "x.csv"))
    if Path("/dev/stdout").exists():  # standard output is a real file only outside pytest's capture: a process of its own
        script = "import sys; from ferkit.cli import main; sys.exit(main(sys.argv[1:]))"
        argv = ["predict", "a.jpg", "--json", "-", "--csv", "/dev/stdout", "--detector", "none"]
        env = {**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parents[1] / "src")}
        done = subprocess.run([sys.executable, "-c", script, *argv], capture_output=True, text=True, env=env, cwd=tmp_path, timeout=120)
        assert done.returncode == 2 and "--json and --csv name the same file (standard output)" in done.stderr, done.stderr


def test_an_existing_json_output_is_not_advised_to_be_resumed(tiny_checkpoint, tmp_path, capsys):
    [face] = _faces(tmp_path / "in", ["a.jpg"])
    out = tmp_path / "out1.json"
    out.write_text("{}")
    err = _one_line_error(capsys, main(_predict(tiny_checkpoint, str(face), "--json", str(out))), f"{out} exists; pass --overwrite")
    assert "pass --resume" not in err
    err = _one_line_error(capsys, main(_predict(tiny_checkpoint, str(face), "--json", str(out), "--resume")), "cannot be resumed")
    assert out.read_text() == "{}"


@pytest.mark.skipif(not Path("/proc/self").is_dir(), reason="needs Linux /proc")
def test_a_folder_that_cannot_hold_files_is_named_as_such(tmp_path):
    """`--json /proc/x.json` said "/proc: No such file or directory" of a folder that plainly exists."""
    with pytest.raises(OutputError, match=r"cannot write /proc/x.json: the folder /proc does not accept new files"):
        check_writable_file("/proc/x.json")


def test_a_failed_input_is_named_once_on_stderr(tiny_checkpoint, tmp_path, capsys):
    """The error of an input names it already: the line must not read 'x.png: cannot decode x.png ...'."""
    folder = tmp_path / "in"
    _faces(folder, ["a.png"])
    (folder / "broken.png").write_bytes(b"not an image")
    status = main(["predict", str(folder), "--model", str(tiny_checkpoint), "--detector", "none", "--tta", "none", "--quiet",
                   "--jsonl", str(tmp_path / "out.jsonl")])
    lines = [line for line in capsys.readouterr().err.splitlines() if "broken.png" in line]
    assert status == 1 and len(lines) == 1 and lines[0].count("broken.png") == 1, lines


def test_a_bad_pixel_limit_is_refused_before_any_output_is_written(tiny_checkpoint, tmp_path, capsys, monkeypatch):
    _faces(tmp_path / "in", ["a.png"])
    monkeypatch.setenv("FERKIT_MAX_IMAGE_PIXELS", "lots")
    out = tmp_path / "out.csv"
    assert main(["predict", str(tmp_path / "in"), "--model", str(tiny_checkpoint), "--detector", "none", "--csv", str(out)]) == 2
    captured = capsys.readouterr()
    assert "FERKIT_MAX_IMAGE_PIXELS" in captured.err and "file" not in captured.out and not out.exists()  # no table header, no file
