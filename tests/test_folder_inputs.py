"""Folder runs on odd file systems and names (an audit's findings: each crashed the process, lost or repeated rows,
or answered differently for the same photo before)."""

from __future__ import annotations

import os
from pathlib import Path

import cv2
import numpy as np
import pytest

from ferkit.bulk import FailedInput, iter_input_paths
from ferkit.bulk_output import CsvOutput, JsonlOutput, open_outputs
from ferkit.errors import FerkitError, VideoError
from ferkit.io_utils import atomic_write_text
from ferkit.video import open_video

CLASSES = ("anger", "happiness")


def png(path: Path) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    ok, data = cv2.imencode(".png", np.full((20, 20), 128, np.uint8))
    path.write_bytes(data.tobytes())
    return path


def test_a_name_that_is_not_utf8_is_walked_without_crashing_opencv(tmp_path):
    """OpenCV's file functions crashed the process (segmentation fault) on such a name; the folder run died with no output."""
    folder = tmp_path / "d"
    png(folder / "a.png")
    bad_image = Path(os.fsdecode(bytes(folder) + b"/b\xe9.png"))
    bad_text = Path(os.fsdecode(bytes(folder) + b"/zz\xe9.txt"))
    png(bad_image)
    bad_text.write_text("not an image")
    skipped: list[Path] = []
    assert list(iter_input_paths([folder], skipped=skipped)) == [folder / "a.png", bad_image]
    assert skipped == [bad_text]
    video = Path(os.fsdecode(bytes(tmp_path) + b"/clip\xff.avi"))
    video.write_bytes(b"\0" * 100)
    with pytest.raises(VideoError, match=r"clip\\xff.avi: OpenCV reads only file names in UTF-8"):
        with open_video(video):
            pass


def test_each_folder_is_walked_once_through_links_and_the_excluded_folder_not_at_all(tmp_path):
    root = tmp_path / "loop"
    png(root / "a" / "0.png")
    png(root / "b" / "1.png")
    (root / "a" / "tob").symlink_to("../b")  # a -> b -> a: walked 20 levels deep before, then an OSError
    (root / "b" / "toa").symlink_to("../a")
    png(root / "out" / "0_annotated.png")  # the run's own annotated copies, read back as inputs before
    skipped: list[Path] = []
    found = list(iter_input_paths([root], skipped=skipped, exclude=[root / "out"]))
    assert sorted(p.resolve() for p in found) == sorted([(root / "a" / "0.png").resolve(), (root / "b" / "1.png").resolve()])
    assert len(found) == 2 and len(skipped) == 1 and skipped[0].is_symlink()


def test_a_refused_resume_leaves_every_output_as_it_was(tmp_path):
    jsonl, csv_path = tmp_path / "o.jsonl", tmp_path / "o.csv"
    first = open_outputs(jsonl=str(jsonl), csv_path=None, json_path=None, table=None, resume=False, model="m", class_names=CLASSES)
    for name in ("x1", "x2", "x3"):
        first.write(FailedInput(name, "boom"))
    first.close()
    other = open_outputs(jsonl=None, csv_path=str(csv_path), json_path=None, table=None, resume=False, model="m", class_names=CLASSES)
    for name in ("y1", "y2", "y3"):
        other.write(FailedInput(name, "boom"))
    other.close()
    before = jsonl.read_bytes(), csv_path.read_bytes()
    with pytest.raises(FerkitError, match="hold different inputs"):
        open_outputs(jsonl=str(jsonl), csv_path=str(csv_path), json_path=None, table=None, resume=True, model="m", class_names=CLASSES)
    assert (jsonl.read_bytes(), csv_path.read_bytes()) == before  # the JSONL was cut to its header first


@pytest.mark.parametrize("stream_class", [CsvOutput, JsonlOutput])
def test_resume_reads_back_names_with_newlines_carriage_returns_and_foreign_bytes(tmp_path, stream_class):
    names = ["plain.jpg", "two\nlines.jpg", "cr\r.jpg", 'quo"te,comma.jpg', os.fsdecode(b"latin\xe9.jpg"), "last.jpg"]
    path = tmp_path / "o.out"
    stream = stream_class(str(path), CLASSES) if stream_class is CsvOutput else stream_class(str(path))
    stream.open(keep_until=None)
    for name in names:
        stream.write(FailedInput(name, "boom"))
    stream.close()
    runs, _ = stream.input_runs()  # CSV parsed line by line before: 10 % duplicated rows, or a _csv.Error traceback
    assert [key for key, _ in runs] == [*names[:4], "latin\\xe9.jpg", "last.jpg"]  # as written: the byte not UTF-8 escaped
    offsets = [offset for _, offset in runs]
    assert offsets == sorted(offsets) and len(set(offsets)) == len(names)


def test_an_annotated_copy_with_a_long_but_legal_name_is_written(tmp_path):
    target = tmp_path / ("y" * 240 + "_annotated.png")  # 254 characters: legal; its temporary name was not
    assert atomic_write_text(target, "x").read_text() == "x"


def test_a_pil_image_is_turned_upright_by_its_exif_orientation_as_its_path_is(tmp_path):
    from PIL import Image

    from ferkit.recognizer import to_bgr

    path = tmp_path / "exif6.jpg"
    exif = Image.Exif()
    exif[0x0112] = 6  # rotate 90 degrees clockwise to display
    Image.fromarray(np.tile(np.arange(60, dtype=np.uint8), (40, 1))).convert("RGB").save(path, exif=exif)
    from_path, from_pil = to_bgr(str(path)), to_bgr(Image.open(path))
    assert from_path.shape[:2] == (60, 40)  # OpenCV applies the orientation
    assert from_pil.shape == from_path.shape and np.abs(from_pil.astype(int) - from_path.astype(int)).max() <= 2


def test_names_that_are_not_utf8_are_escaped_alike_in_every_output_and_resumed(tiny_checkpoint, tmp_path, capsys):
    """Such a name went to the CSV as a raw byte (not UTF-8: readers raised UnicodeDecodeError) and to the JSONL and
    JSON as a lone surrogate "\\udcff" (strict JSON parsers refuse it). Now every output holds "\\xff" as text."""
    import csv
    import json

    from ferkit.cli import main

    folder = tmp_path / "d"
    png(folder / "a.png")
    png(Path(os.fsdecode(bytes(folder) + b"/b\xff.png")))
    png(folder / "z.png")
    jsonl, csv_path, document = tmp_path / "o.jsonl", tmp_path / "o.csv", tmp_path / "o.json"
    base = ["predict", str(folder), "--detector", "none", "--model", str(tiny_checkpoint), "--quiet"]
    assert main([*base, "--jsonl", str(jsonl), "--csv", str(csv_path), "--json", str(document)]) == 0
    escaped = f"{folder}/b\\xff.png"
    jsonl_files = [json.loads(line)["file"] for line in jsonl.read_bytes().decode("utf-8").splitlines()]
    with open(csv_path, encoding="utf-8", newline="") as f:  # strict UTF-8
        csv_files = [row[0] for row in csv.reader(f)][1:]
    document_files = [row["file"] for row in json.loads(document.read_bytes().decode("utf-8"))["faces"]]
    assert jsonl_files == csv_files == document_files == [f"{folder}/a.png", escaped, f"{folder}/z.png"]
    assert all(name.encode("utf-8") for name in jsonl_files)  # no lone surrogate (it would raise here)
    assert "\\udc" not in jsonl.read_text()

    full = jsonl.read_bytes(), csv_path.read_bytes()
    for old_form in (False, True):  # as this ferkit wrote them, and as older ones did (raw byte, "\udcff")
        jsonl.write_bytes(b"".join(full[0].splitlines(keepends=True)[:3]))
        csv_path.write_bytes(b"".join(full[1].splitlines(keepends=True)[:4]))
        if old_form:
            jsonl.write_bytes(jsonl.read_bytes().replace(b"\\\\xff", b"\\udcff"))
            csv_path.write_bytes(csv_path.read_bytes().replace(b"\\xff", b"\xff"))
        capsys.readouterr()
        assert main([*base, "--jsonl", str(jsonl), "--csv", str(csv_path), "--resume"]) == 0
        assert "--resume skipped 2 inputs" in capsys.readouterr().err  # the name not UTF-8 matched its row
        if not old_form:
            assert (jsonl.read_bytes(), csv_path.read_bytes()) == full
