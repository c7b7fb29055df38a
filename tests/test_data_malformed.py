"""Malformed datasets, written here: each is refused with a DatasetError naming the file (and line) and the fix,
or reported by ``inspect`` as the loader would raise it; nothing is dropped without a word."""

import os
import re
import shutil

import cv2
import numpy as np
import pytest

from data.fixtures import write_ckplus, write_fer2013_csv, write_fer2013_folder
from ferkit.data import experiment_splits, load_ckplus48, load_fer2013, load_image_folder, load_split
from ferkit.data.inspect import format_report, inspect_dataset
from ferkit.data.registry import detect_family
from ferkit.errors import DatasetError
from ferkit.labels import FER2013_LABELS

PIXELS = " ".join(["7"] * 2304)
GOOD_ROWS = [["0", PIXELS, "Training"], ["3", PIXELS, "PublicTest"], ["6", PIXELS, "PrivateTest"]]


def _csv(path, rows, header="emotion,pixels,Usage", encoding="utf-8"):
    path.write_bytes((header + "\n" + "".join(",".join(r) + "\n" for r in rows)).encode(encoding))
    return path


def _image(path, value=128):
    path.parent.mkdir(parents=True, exist_ok=True)
    cv2.imwrite(str(path), np.full((48, 48), value, np.uint8))
    return path


def _image_folder(root, classes, n=2):
    for name in classes:
        for i in range(n):
            _image(root / name / f"img{i}.png", 40 * i)
    return root


# --- FER2013 CSV --------------------------------------------------------------------------------

def test_csv_usage_case_and_spaces_are_normalised(tmp_path):
    path = _csv(tmp_path / "f.csv", GOOD_ROWS + [["4", PIXELS, "privatetest"], ["5", PIXELS, " PrivateTest "]])
    test = load_fer2013(path, "PrivateTest")
    assert [FER2013_LABELS[i] for i in test.labels] == ["neutral", "sadness", "surprise"]
    assert inspect_dataset(path).splits["PrivateTest"]["surprise"] == 1


def test_csv_unknown_usage_is_refused_naming_line_and_value(tmp_path):
    path = _csv(tmp_path / "f.csv", GOOD_ROWS + [["4", PIXELS, "PrivateTset"]])
    expected = f"{path} line 5: Usage 'PrivateTset' is not one of Training, PublicTest, PrivateTest"
    for split in ("PrivateTest", "Training"):  # whichever split is loaded: the row is not dropped unseen
        with pytest.raises(DatasetError) as info:
            load_fer2013(path, split)
        assert str(info.value) == expected
    assert inspect_dataset(path).problems == [expected]
    renamed = _csv(tmp_path / "v.csv", [r[:2] + ["Validation" if r[2] == "PublicTest" else r[2]] for r in GOOD_ROWS])
    with pytest.raises(DatasetError, match="line 3: Usage 'Validation' is not one of"):
        load_fer2013(renamed, "PublicTest")


def test_csv_rows_with_missing_or_extra_fields_name_the_line(tmp_path):
    short = _csv(tmp_path / "short.csv", GOOD_ROWS + [["4", PIXELS]])
    long = _csv(tmp_path / "long.csv", GOOD_ROWS[:1] + [["3", "1 2 3", "PrivateTest", "junk"]] + GOOD_ROWS[1:])
    for path, line, n in ((short, 5, 2), (long, 3, 4)):
        message = f"{path} line {line}: {n} field(s) where the header has 3; a comma is missing or extra"
        with pytest.raises(DatasetError) as info:
            load_fer2013(path, "Training")
        assert str(info.value) == message
        report = inspect_dataset(path)
        assert report.problems == [message]
        assert sum(report.splits["PrivateTest"].values()) == 1 and "1 problem(s)" in format_report(report)


def test_csv_encodings(tmp_path):
    latin = _csv(tmp_path / "latin.csv", GOOD_ROWS, header="emotion,pixels,Usage,n\xf6te", encoding="latin-1")
    utf16 = _csv(tmp_path / "utf16.csv", GOOD_ROWS, encoding="utf-16")
    for path in (latin, utf16):
        with pytest.raises(DatasetError, match=f"{path}: not UTF-8 text .*; re-save it as UTF-8"):
            load_fer2013(path, "Training")
        assert "not UTF-8 text" in inspect_dataset(path).problems[0]
    bom = _csv(tmp_path / "bom.csv", GOOD_ROWS, header="\ufeffemotion,pixels,Usage")
    assert len(load_fer2013(bom, "Training")) == 1
    assert inspect_dataset(bom).problems == []


def test_inspect_checks_the_csv_as_the_loader_does(tmp_path):
    cases = {
        "no_usage.csv": ([r[:2] for r in GOOD_ROWS], "emotion,pixels", "missing column(s) ['Usage']"),
        "spaces.csv": (GOOD_ROWS, "emotion, pixels, Usage", "the header has ' pixels', ' Usage'"),
        "short_pixels.csv": (GOOD_ROWS + [["1", "1 2 3", "PublicTest"]], "emotion,pixels,Usage", "line 5: expected 2304 pixel values (48x48), got 3"),
    }
    for name, (rows, header, expected) in cases.items():
        path = _csv(tmp_path / name, rows, header=header)
        with pytest.raises(DatasetError, match=re.escape(expected)):
            load_fer2013(path, "PublicTest")
        problems = inspect_dataset(path).problems
        assert len(problems) == 1 and expected in problems[0]
    (tmp_path / "empty.csv").write_bytes(b"")
    assert inspect_dataset(tmp_path / "empty.csv").problems == [f"{tmp_path / 'empty.csv'} is empty; a FER2013 CSV starts with the header line emotion,pixels,Usage"]


def test_inspect_reads_a_folder_holding_fer2013_csv(tmp_path):
    (tmp_path / "fer").mkdir()
    write_fer2013_csv(tmp_path / "fer" / "fer2013.csv", per_class=1)
    report = inspect_dataset(tmp_path / "fer")
    assert report.family == "fer2013" and report.problems == []
    assert {split: sum(c.values()) for split, c in report.splits.items()} == {"Training": 7, "PublicTest": 7, "PrivateTest": 7}


def test_out_of_range_pixel_is_named(tmp_path):
    path = _csv(tmp_path / "f.csv", [["0", "7 256 " + " ".join(["7"] * 2302), "Training"]])
    with pytest.raises(DatasetError, match=r"line 2: pixel value 256 \(value 2 of 2304\) is outside 0\.\.255"):
        load_fer2013(path, "Training")


# --- FER2013 folders ----------------------------------------------------------------------------

@pytest.mark.parametrize("name", ["privatetest_1.jpg", "img_0001.jpg", "PrivateTest-2.jpg", "Training_3.jpg"])
def test_fer_folder_file_without_its_split_prefix_is_refused(tmp_path, name):
    root = write_fer2013_folder(tmp_path / "fer", per_class=1)
    stray = _image(root / "test" / "happy" / name)
    for split in ("PublicTest", "PrivateTest"):
        with pytest.raises(DatasetError, match=f"{stray}: file names in the FER2013 test/ folder must start with PublicTest_ or PrivateTest_"):
            load_fer2013(root, split)
    problems = inspect_dataset(root).problems
    assert len(problems) == 1 and str(stray) in problems[0]  # test/ is scanned once, not once per Usage


def test_fer_folder_with_a_val_folder_names_it(tmp_path):
    root = write_fer2013_folder(tmp_path / "fer", per_class=1)
    _image(root / "val" / "happy" / "PublicTest_99.jpg")
    with pytest.raises(DatasetError, match=r"fer: unexpected folder\(s\) val/; the FER2013 re-pack has only train/ and test/ .*PublicTest.* lives in test/"):
        load_fer2013(root, "PublicTest")
    assert "val/" in inspect_dataset(root).problems[0]
    shutil.rmtree(root / "val")
    _image(root / "PublicTest_98.jpg")
    with pytest.raises(DatasetError, match=r"1 image file\(s\) directly in .*fer, e.g. PublicTest_98.jpg"):
        load_fer2013(root, "PublicTest")


# --- class folders ------------------------------------------------------------------------------

def test_class_folder_contents_are_all_taken_or_refused(tmp_path):
    root = _image_folder(tmp_path / "faces", ["happy", "sad"])
    nested = _image(root / "happy" / "more" / "x.png").parent
    with pytest.raises(DatasetError, match=f"folder inside a class folder: {nested}"):
        load_image_folder(root)
    (nested / "x.png").unlink()
    nested.rmdir()
    link = root / "sad" / "gone.png"
    os.symlink(root / "sad" / "missing.png", link)
    with pytest.raises(DatasetError, match=f"broken link: {link}"):
        load_image_folder(root)
    link.unlink()
    _image(root / "loose.png")
    with pytest.raises(DatasetError, match=f"1 image file\\(s\\) directly in {root}, e.g. loose.png"):
        load_image_folder(root)
    (root / "loose.png").unlink()
    os.symlink(root / "happy" / "img0.png", root / "sad" / "linked.png")  # a working link is an image like any other
    assert len(load_image_folder(root)) == 5


# --- image folders split into train/val/test ---------------------------------------------------

def test_split_folders_under_other_tools_names_are_read(tmp_path):
    """Keras/Hugging Face "validation", Kaggle "valid", and any case: refused before, now the same splits."""
    root = tmp_path / "faces"
    _image_folder(root / "Training", ["happy", "sad"], n=3)
    _image_folder(root / "validation", ["happy"], n=2)
    _image_folder(root / "TEST", ["sad"], n=1)
    (split,) = experiment_splits(f"imagefolder:{root}")
    assert (len(split.train), len(split.val), len(split.test)) == (6, 2, 1)
    assert [split.val.class_names[i] for i in split.val.labels] == ["happiness", "happiness"]
    assert len(load_split(f"imagefolder:{root}", "val")) == 2
    report = inspect_dataset(f"imagefolder:{root}")
    assert report.problems == [] and {name: sum(c.values()) for name, c in report.splits.items()} == {"train": 6, "val": 2, "test": 1}
    _image_folder(root / "val", ["happy"], n=1)
    with pytest.raises(DatasetError, match=r"faces: val/ and validation/ are both the val split; keep one"):
        experiment_splits(f"imagefolder:{root}")
    assert "are both the val split" in inspect_dataset(f"imagefolder:{root}").problems[0]


def test_split_image_folder_refuses_unknown_and_missing_split_folders(tmp_path):
    root = tmp_path / "faces"
    for part in ("train", "test", "anger"):
        _image_folder(root / part, ["happy", "sad"])
    _image(root / "loose.png")
    with pytest.raises(DatasetError, match=r"faces: anger/, loose.png beside train/, test/: a split image folder holds only"):
        load_split(f"imagefolder:{root}", "train")
    only_train = _image_folder(tmp_path / "only" / "train", ["happy", "sad"]).parent
    with pytest.raises(DatasetError, match=r"has train/ but no test/: a split image folder needs train/<class>/<images> and test/"):
        load_split(f"imagefolder:{only_train}", "train")


def test_val_and_test_labels_index_train_classes(tmp_path):
    root = tmp_path / "faces"
    _image_folder(root / "train", ["happy", "sad", "angry"])
    _image_folder(root / "val", ["happy", "angry"])
    _image_folder(root / "test", ["angry"])
    (split,) = experiment_splits(f"imagefolder:{root}")
    assert split.val.class_names == split.test.class_names == split.train.class_names == ("happiness", "sadness", "anger")
    val_names = [split.val.class_names[i] for i in split.val.labels]
    assert val_names == ["happiness", "happiness", "anger", "anger"]
    assert [i.split("/")[0] for i in split.val.ids] == ["happy", "happy", "angry", "angry"]
    assert [split.test.class_names[i] for i in split.test.labels] == ["anger", "anger"]
    _image_folder(root / "val", ["fear"])
    with pytest.raises(DatasetError, match=r"val: class\(es\) \['fear'\] are not among the training classes \['happiness', 'sadness', 'anger'\]"):
        experiment_splits(f"imagefolder:{root}")
    assert any("['fear'] are not among the training classes" in p for p in inspect_dataset(f"imagefolder:{root}").problems)


def test_inspect_takes_one_name_in_two_class_folders_as_two_images(tmp_path):
    root = _image_folder(tmp_path / "faces", ["happy", "sad"], n=5)  # img0.png .. img4.png in both
    report = inspect_dataset(f"imagefolder:{root}")
    assert report.problems == [] and report.splits == {"all": {"happiness": 5, "sadness": 5}}


# --- CK+ ---------------------------------------------------------------------------------------

def test_ckplus_with_upper_case_png_is_recognised_with_its_subjects(tmp_path):
    root = write_ckplus(tmp_path / "ck", subjects=12)
    for path in list(root.glob("*/*.png")):
        path.rename(path.with_suffix(".PNG"))
    assert detect_family(root) == "ckplus48"
    data = load_split(str(root), "all")
    assert data.groups is not None and len(set(data.groups)) == 12


def test_ckplus_too_small_for_the_protocol_says_what_it_needs(tmp_path):
    root = write_ckplus(tmp_path / "ck", subjects=3)
    n_images = len(load_ckplus48(root))
    with pytest.raises(DatasetError, match=f"{root}: protocol kfold10 .* needs at least 10 subjects; found 3 subject\\(s\\) in {n_images} images"):
        experiment_splits(f"ckplus48:{root}", "kfold10")
    with pytest.raises(DatasetError, match=f"{root}: protocol random800 .* needs more than 800 images; found {n_images}"):
        experiment_splits(f"ckplus48:{root}", "random800")


def test_ckplus_inspect_reports_what_loading_refuses(tmp_path):
    root = write_ckplus(tmp_path / "ck", subjects=4)
    _image(root / "neutral" / "S999_001_00000001.png")
    with pytest.raises(DatasetError, match=r"classes \['neutral'\] are not CK\+ classes"):
        load_ckplus48(root)
    assert any("['neutral'] are not CK+ classes" in p for p in inspect_dataset(f"ckplus48:{root}").problems)


def test_ckplus_frame_in_two_class_folders_is_refused(tmp_path):
    root = write_ckplus(tmp_path / "ck", subjects=4)
    frame = sorted((root / "anger").iterdir())[0]
    (root / "happy" / frame.name).write_bytes(frame.read_bytes())
    expected = f"{root}: 1 frame(s) in more than one class folder ({frame.stem} in anger/ and happy/); a frame has one label"
    with pytest.raises(DatasetError) as info:
        load_ckplus48(root)
    assert str(info.value).startswith(expected)
    assert inspect_dataset(root).problems[0].startswith(expected)
