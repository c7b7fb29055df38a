"""Researchers' own datasets with odd files (an audit's findings: each raised a traceback, misreported the mistake or
trained on wrong data without a word before)."""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
import pytest

from ferkit.data.dataset import FaceDataset
from ferkit.data.ferplus import CSV_COLUMNS, read_ferplus_votes
from ferkit.data.folders import manifest_rows, read_manifest_text
from ferkit.data.image_io import read_gray
from ferkit.data.imagefolder import load_image_folder
from ferkit.data.inspect import ProblemLog, inspect_dataset
from ferkit.data.registry import ExperimentSplit
from ferkit.errors import FerkitError
from ferkit.train.config import Recipe
from ferkit.train.loop import check_output


def test_manifests_drop_a_byte_order_mark_and_name_the_line_that_is_not_utf8(tmp_path):
    bom = tmp_path / "bom.csv"
    bom.write_bytes(b"\xef\xbb\xbfpath,label\nclip.avi,happy\n")  # the first column was "\ufeffpath": "missing column(s) ['path']"
    assert manifest_rows(bom).fieldnames == ["path", "label"]
    latin = tmp_path / "latin.csv"
    latin.write_bytes("path,label\nclip.avi,happy\ncaf\u00e9.avi,sad\n".encode("latin-1"))
    with pytest.raises(FerkitError, match=r"latin.csv line 3: not UTF-8 text \(byte 0xe9\)"):  # UnicodeDecodeError before
        read_manifest_text(latin)


def test_a_ferplus_vote_of_inf_is_a_problem_naming_its_line(tmp_path):
    votes = tmp_path / "fer2013new.csv"
    row = ["Training", "fer0000000.png", "10", "0", "0", "0", "0", "0", "0", "0", "0", "0"]
    bad = row[:2] + ["inf"] + row[3:]
    votes.write_text("\n".join(",".join(r) for r in (CSV_COLUMNS, row, bad)) + "\n")
    with pytest.raises(FerkitError, match="line 3: vote counts must be integers"):  # OverflowError from int() before
        read_ferplus_votes(votes, ProblemLog(strict=True))


def test_16_bit_images_keep_their_top_8_bits_like_8_bit_copies(tmp_path):
    low8 = np.tile(np.linspace(100, 140, 48).astype(np.uint8), (48, 1))
    cv2.imwrite(str(tmp_path / "low8.png"), low8)
    cv2.imwrite(str(tmp_path / "low16.png"), low8.astype(np.uint16) * 257)
    cv2.imwrite(str(tmp_path / "flat16.png"), np.full((48, 48), 30000, np.uint16))
    assert np.array_equal(read_gray(tmp_path / "low16.png"), read_gray(tmp_path / "low8.png"))  # was stretched to 0..255
    assert (read_gray(tmp_path / "flat16.png") == 30000 >> 8).all()  # was all 0


def test_a_one_class_training_set_is_refused_before_any_work(tmp_path):
    one = FaceDataset(images=np.zeros((4, 48, 48), np.uint8), labels=np.zeros(4, np.int64), class_names=("happiness",),
                      ids=tuple("abcd"), name="one")
    recipe = Recipe(name="r", version=1, model="modified_resnet18")
    with pytest.raises(FerkitError, match=r"holds 1 class \(happiness\); an expression classifier needs images of at least 2"):
        check_output(tmp_path / "out", recipe, ExperimentSplit("one", one, None, one), resume=False)
    assert not (tmp_path / "out").exists()


def test_inspect_names_a_misspelt_family_as_training_does(tmp_path):
    with pytest.raises(FerkitError, match="imagfolder.*did you mean 'imagefolder'"):  # "dataset path not found" before
        inspect_dataset(f"imagfolder:{tmp_path}")


def test_video_folders_name_what_they_do_not_use(tmp_path):
    from ferkit.data.videos import list_clips
    from ferkit.errors import FerkitWarning

    root = tmp_path / "v"
    for rel in ("happy/a.avi", "happy/b.avi", "sadness/c.avi"):
        (root / rel).parent.mkdir(parents=True, exist_ok=True)
        (root / rel).write_bytes(b"clip")
    assert len(list_clips(root)) == 3
    (root / "happy" / "subj1").mkdir()
    (root / "happy" / "subj1" / "x.avi").write_bytes(b"clip")  # skipped without a word before
    (root / "loose.avi").write_bytes(b"clip")
    (root / "sadness" / "c.avi.bak").write_bytes(b"old")
    log = ProblemLog(strict=False)
    assert len(list_clips(root, log)) == 3
    assert len(log.messages) == 3 and any("subj1: not a video clip (a folder)" in m for m in log.messages)
    with pytest.raises(FerkitError, match="subj1: not a video clip"):  # strict (training): the first problem stops it
        list_clips(root)
    for extra in (root / "loose.avi", root / "sadness" / "c.avi.bak"):
        extra.unlink()
    (root / "list.csv").write_text("path,label,subject\nhappy/a.avi,happy,s1\nsadness/c.avi,sad,s2\n")
    with pytest.warns(FerkitWarning, match=r"lists 2 clip\(s\); 2 other clip\(s\) under .* are not used"):
        assert len(list_clips(root)) == 2
    (root / "other.csv").write_text("path,label\n")  # the class folders were read instead, subjects lost
    with pytest.raises(FerkitError, match="holds 2 CSV manifests"):
        list_clips(root)


def test_ferplus_usage_is_read_like_fer2013s_and_an_unknown_one_is_named(tmp_path):
    votes = tmp_path / "fer2013new.csv"
    rows = [CSV_COLUMNS] + [[usage, f"fer{i:07d}.png", "10", "0", "0", "0", "0", "0", "0", "0", "0", "0"]
                            for i, usage in enumerate(("Training", "training", "Training ", "PublicTest", "Holdout"))]
    votes.write_text("\n".join(",".join(r) for r in rows) + "\n")
    log = ProblemLog(strict=False)
    usages, _, _ = read_ferplus_votes(votes, log)
    assert usages == ["Training", "Training", "Training", "PublicTest", ""]
    assert len(log.messages) == 1 and "line 6: unknown FER2013 split 'Holdout'" in log.messages[0]


def test_inspect_names_rafdb_images_the_label_file_leaves_out(tmp_path):
    from test_data_native import RAF_LINES, make_rafdb, write_image

    from ferkit.data import rafdb

    root = make_rafdb(tmp_path / "basic", RAF_LINES)
    log = ProblemLog(strict=False)
    rafdb.rafdb_counts(root, log)
    assert log.messages == []
    write_image(root / "Image" / "aligned" / "train_09999_aligned.jpg", 50, (100, 100, 3))
    rafdb.rafdb_counts(root, log)  # "no problems found" before
    assert len(log.messages) == 1 and "1 image(s) in" in log.messages[0] and "are not used" in log.messages[0] and "train_09999_aligned.jpg" in log.messages[0]


def test_a_gif_in_a_class_folder_is_an_image_as_in_a_prediction_run(tmp_path):
    from PIL import Image

    from ferkit.data.image_io import is_image_file

    path = tmp_path / "face.gif"
    Image.fromarray(np.full((48, 48), 90, np.uint8)).save(path)
    assert is_image_file(path) and read_gray(path).shape == (48, 48) and int(read_gray(path)[0, 0]) == 90


def test_train_refuses_a_fold_given_twice_before_any_work(tmp_path, capsys):
    from ferkit.cli import main

    out = tmp_path / "out"
    assert main(["train", "--recipe", "tiny-smoke-v1", "--data", "ckplus48:/nonexistent", "--out", str(out), "--fold", "0", "0"]) != 0
    assert "--fold names a fold twice (0 0)" in capsys.readouterr().err and not out.exists()


def _write_faces(folder: Path, names: list[str]) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    for name in names:
        cv2.imwrite(str(folder / name), np.full((48, 48), 128, np.uint8))


def test_inspect_counts_the_good_classes_beside_a_bad_class_folder(tmp_path):
    root = tmp_path / "mine"
    _write_faces(root / "train" / "happy", ["a.png", "b.png"])
    _write_faces(root / "train" / "sad", ["c.png"])
    (root / "train" / "sad" / "notes.txt").write_text("x")  # a stray file: named, sad still counted by its image
    _write_faces(root / "train" / "smirk", ["d.png"])  # no such class
    (root / "train" / "angry").mkdir()  # empty
    _write_faces(root / "val" / "happy", ["e.png"])
    _write_faces(root / "val" / "sad", ["f.png"])
    report = inspect_dataset(f"imagefolder:{root}")
    assert report.splits["train"] == {"anger": 0, "happiness": 2, "sadness": 1}  # every class showed 0 before
    assert report.splits["val"] == {"happiness": 1, "sadness": 1}
    problems = "\n".join(report.problems)
    assert "smirk" in problems and "empty class folder" in problems and "notes.txt" in problems
    with pytest.raises(FerkitError, match="smirk|empty class folder|notes.txt"):  # loading still refuses the tree
        load_image_folder(root / "train")


def test_inspect_counts_ckplus_classes_beside_an_unknown_folder(tmp_path):
    root = tmp_path / "ck"
    _write_faces(root / "happy", ["S005_001_00000011.png", "S010_006_00000015.png"])
    _write_faces(root / "mystery", ["S011_001_00000016.png"])
    report = inspect_dataset(f"ckplus48:{root}")
    assert report.splits["all"] == {"happiness": 2}  # was {} before
    assert any("mystery" in p for p in report.problems)
