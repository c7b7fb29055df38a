"""Native-layout loaders (RAF-DB, AffectNet, JAFFE, SFEW, FER+, videos) and ``datasets inspect``,
each on a miniature copy of the provider's layout written to tmp_path."""

from __future__ import annotations

import csv
import sys
import types
from pathlib import Path

import cv2
import numpy as np
import pytest

from ferkit.data import affectnet, ferplus, jaffe, rafdb, sfew, videos
from ferkit.data.dataset import FaceDataset
from ferkit.data.grouped import leave_one_group_out, stratified_holdout, subset_with_extra
from ferkit.data.inspect import describe_formats, format_report, inspect_dataset
from ferkit.data.registry import detect_family, experiment_splits
from ferkit.errors import DatasetError


@pytest.fixture(autouse=True)
def _cache_in_tmp(tmp_path, monkeypatch):
    monkeypatch.setenv("FERKIT_CACHE_DIR", str(tmp_path / "cache"))


def write_image(path: Path, value: int = 128, shape: tuple[int, ...] = (20, 20, 3)) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    cv2.imwrite(str(path), np.full(shape, value, np.uint8))


def write_csv(path: Path, header: list[str], rows: list[list]) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "w", newline="") as f:
        w = csv.writer(f)
        w.writerow(header)
        w.writerows(rows)
    return path


def no_shared_groups(split) -> bool:
    sides = [set(d.groups) for d in (split.train, split.val, split.test) if d is not None]
    return all(not (a & b) for i, a in enumerate(sides) for b in sides[i + 1:])


# --- RAF-DB -------------------------------------------------------------------------------------

def make_rafdb(root: Path, lines: list[str], missing: tuple[str, ...] = ()) -> Path:
    (root / "EmoLabel").mkdir(parents=True)
    (root / "EmoLabel" / "list_patition_label.txt").write_text("\n".join(lines) + "\n")
    for line in lines:
        stem = line.split()[0].removesuffix(".jpg")
        if stem not in missing:
            write_image(root / "Image" / "aligned" / f"{stem}_aligned.jpg", 10 * int(line.split()[1]), (100, 100, 3))
    return root


RAF_LINES = [f"train_{i:05d}.jpg {i % 7 + 1}" for i in range(1, 15)] + ["test_00001.jpg 5", "test_00002.jpg 7", "test_00003.jpg 1"]


def test_rafdb_labels_splits_and_protocol(tmp_path):
    root = make_rafdb(tmp_path / "RAF-DB" / "basic", RAF_LINES)
    test = rafdb.load_rafdb(tmp_path / "RAF-DB", "test")  # the dataset root or basic/ both work
    assert test.images.shape == (3, 48, 48) and test.images.dtype == np.uint8
    assert [test.class_names[i] for i in test.labels] == ["sadness", "neutral", "surprise"]  # RAF 5, 7, 1
    assert test.ids == ("test_00001", "test_00002", "test_00003")
    (split,) = experiment_splits(f"rafdb:{root}")
    assert len(split.train) + len(split.val) == 14 and len(split.test) == 3
    assert not set(split.train.ids) & set(split.val.ids) and split.val is not split.test


def test_rafdb_problems_raise(tmp_path):
    with pytest.raises(DatasetError, match="unknown label 8"):
        rafdb.read_rafdb_labels(make_rafdb(tmp_path / "a", ["train_00001.jpg 8"]))
    with pytest.raises(DatasetError, match="1 image.*missing"):
        rafdb.read_rafdb_labels(make_rafdb(tmp_path / "b", ["train_00001.jpg 1", "test_00001.jpg 2"], missing=("test_00001",)))
    with pytest.raises(DatasetError, match="duplicate id"):
        rafdb.read_rafdb_labels(make_rafdb(tmp_path / "c", ["train_00001.jpg 1", "train_00001.jpg 1"]))
    with pytest.raises(DatasetError, match="label file not found"):
        rafdb.read_rafdb_labels(tmp_path)


# --- AffectNet ----------------------------------------------------------------------------------

AFFECTNET_HEADER = ["subDirectory_filePath", "face_x", "face_y", "face_width", "face_height", "facial_landmarks", "expression", "valence", "arousal"]


def make_affectnet(root: Path, codes_train: list[int], codes_val: list[int]) -> Path:
    """Full 100x100 images, dark except a bright 40x40 face box at (30, 20)."""
    for manifest, codes in (("training.csv", codes_train), ("validation.csv", codes_val)):
        rows = []
        for i, code in enumerate(codes):
            rel = f"{i % 3}/{manifest[0]}{i}.jpg"
            image = np.zeros((100, 100, 3), np.uint8)
            image[20:60, 30:70] = 250
            write_image(root / "Manually_Annotated_Images" / rel, 0)
            cv2.imwrite(str(root / "Manually_Annotated_Images" / rel), image)
            rows.append([rel, 30, 20, 40, 40, "1;2;3", code, 0.5, -0.25])
        write_csv(root / manifest, AFFECTNET_HEADER, rows)
    return root


def test_affectnet_classes_crop_and_extras(tmp_path):
    root = make_affectnet(tmp_path / "an", [0, 1, 7, 8, 10, 6] * 3, [0, 7, 9, 3])
    eight = affectnet.load_affectnet(root, "test")
    assert eight.class_names[-1] == "contempt" and [eight.class_names[i] for i in eight.labels] == ["neutral", "contempt", "surprise"]
    assert eight.images.min() > 200  # cropped to the bright face box
    seven = affectnet.load_affectnet(root, "test", num_classes=7)
    assert "contempt" not in seven.class_names and len(seven) == 2
    whole = affectnet.load_affectnet(root, "test", crop="none", use_cache=False)
    assert whole.images.min() < 50
    assert np.allclose(eight.extra["valence"], 0.5) and eight.extra["arousal"].shape == (3,)
    splits = experiment_splits(f"affectnet:{root}", "7class")
    assert len(splits[0].train) + len(splits[0].val) == 9 and len(splits[0].test) == 2
    assert len(splits[0].train.extra["valence"]) == len(splits[0].train)


def test_affectnet_precropped_image_is_used_whole(tmp_path):
    write_image(tmp_path / "Manually_Annotated_Images" / "1" / "a.jpg", 90, (30, 30, 3))
    write_csv(tmp_path / "validation.csv", AFFECTNET_HEADER, [["1/a.jpg", 50, 60, 100, 100, "", 1, 0, 0]])
    data = affectnet.load_affectnet(tmp_path, "test")
    assert data.images.shape == (1, 48, 48) and abs(int(data.images.mean()) - 90) <= 2


def test_affectnet_broken_manifests(tmp_path):
    write_csv(tmp_path / "a" / "training.csv", ["subDirectory_filePath", "expression"], [["x.jpg", 1]])
    with pytest.raises(DatasetError, match=r"missing column.*face_x"):
        affectnet.load_affectnet(tmp_path / "a", "train")
    root = make_affectnet(tmp_path / "b", [1], [12])
    with pytest.raises(DatasetError, match="unknown expression code 12"):
        affectnet.load_affectnet(root, "test")
    (root / "Manually_Annotated_Images" / "0" / "t0.jpg").unlink()
    with pytest.raises(DatasetError, match="missing"):
        affectnet.load_affectnet(root, "train")


# --- JAFFE --------------------------------------------------------------------------------------

def make_jaffe(root: Path, subjects=("KA", "KL", "KM")) -> Path:
    number = 1
    for s in subjects:
        for code in ("AN", "DI", "FE", "HA", "NE", "SA", "SU"):
            write_image(root / f"{s}.{code}1.{number}.tiff", number, (64, 64))
            number += 1
    (root / "README").write_text("not an image")
    return root


def test_jaffe_names_loso_and_random(tmp_path):
    root = make_jaffe(tmp_path / "jaffe")
    data = jaffe.load_jaffe(root)
    assert len(data) == 21 and data.image_size == (48, 48) and set(data.groups) == {"KA", "KL", "KM"}
    assert data.class_names[data.labels[data.ids.index("KA.AN1.1")]] == "anger"
    folds = experiment_splits(f"jaffe:{root}", "loso")
    assert len(folds) == 3 and all(no_shared_groups(f) for f in folds)
    assert all(len(set(f.test.groups)) == 1 and not f.leaks_subjects for f in folds)
    (rand,) = experiment_splits(f"jaffe:{root}", "random70", seed=1)
    assert rand.leaks_subjects and rand.val is None and (len(rand.train), len(rand.test)) == (15, 6)


def test_jaffe_unknown_code(tmp_path):
    root = make_jaffe(tmp_path / "j")
    write_image(root / "KA.XX1.99.tiff", 1, (64, 64))
    with pytest.raises(DatasetError, match="unknown expression code 'XX'"):
        jaffe.load_jaffe(root)


# --- SFEW ---------------------------------------------------------------------------------------

def test_sfew_folders_and_splits(tmp_path):
    root = tmp_path / "SFEW_2.0"
    for split, n in (("Train", 6), ("Val", 2)):
        for folder in ("Angry", "Happy", "Sad"):
            for i in range(n):
                write_image(root / split / folder / f"{folder}_{i}.png", 40, (181, 143, 3))
    test = sfew.load_sfew(root, "test")
    assert test.class_names == sfew.SFEW_LABELS and test.class_counts()["happiness"] == 2 and test.image_size == (48, 48)
    (split,) = experiment_splits(f"sfew:{root}")
    assert len(split.train) + len(split.val) == 18 and len(split.test) == 6
    write_image(root / "Val" / "Bored" / "x.png")
    with pytest.raises(DatasetError, match="Bored"):
        sfew.load_sfew(root, "test")


# --- FER+ ---------------------------------------------------------------------------------------

# neutral,happiness,surprise,sadness,anger,disgust,fear,contempt,unknown,NF
VOTES = {
    "clear": [8, 2, 0, 0, 0, 0, 0, 0, 0, 0],  # majority neutral; soft [1, 0, ...]
    "split": [0, 5, 4, 0, 0, 0, 0, 0, 1, 0],  # majority happiness (5 > 4.5 after dropping the single vote); soft 5/9, 4/9
    "tie": [0, 4, 0, 4, 2, 0, 0, 0, 0, 0],  # no majority (dropped); soft 1/2, 1/2
    "unknown": [0, 4, 0, 0, 0, 0, 0, 0, 6, 0],  # unknown wins: dropped in both modes
    "after_unknown": [0, 6, 0, 0, 0, 0, 0, 0, 3, 0],  # unknown second: its votes dropped; soft [0, 1, ...]
    "nf": [0, 0, 0, 0, 0, 0, 0, 0, 0, 10],  # not a face: dropped
}


def test_ferplus_targets_match_the_authors_rules():
    votes = np.array(list(VOTES.values()))
    keep, targets = ferplus.ferplus_targets(votes, "majority")
    assert keep.tolist() == [True, True, False, False, True, False]
    assert targets[keep].argmax(1).tolist() == [0, 1, 1]
    keep, targets = ferplus.ferplus_targets(votes, "soft")
    assert keep.tolist() == [True, True, True, False, True, False]
    np.testing.assert_allclose(targets[1], [0, 5 / 9, 4 / 9, 0, 0, 0, 0, 0], atol=1e-6)
    np.testing.assert_allclose(targets[2], [0, 0.5, 0, 0.5, 0, 0, 0, 0], atol=1e-6)
    np.testing.assert_allclose(targets[4], [0, 1, 0, 0, 0, 0, 0, 0], atol=1e-6)


def make_ferplus(root: Path, usages: list[str], votes: list[list[int]], names: list[str]) -> Path:
    pixels = [" ".join([str(10 * i)] * 2304) for i in range(len(usages))]
    write_csv(root / "fer2013.csv", ["emotion", "pixels", "Usage"], [[0, p, u] for p, u in zip(pixels, usages)])
    write_csv(root / "fer2013new.csv", list(ferplus.CSV_COLUMNS), [[u, n, *v] for u, n, v in zip(usages, names, votes)])
    return root


def test_ferplus_loads_aligned_rows_and_soft_labels(tmp_path):
    usages = ["Training"] * 6 + ["PublicTest", "PrivateTest"]
    votes = list(VOTES.values()) + [VOTES["clear"], VOTES["split"]]
    names = [f"fer{i:07d}.png" for i in range(8)]
    names[1] = ""  # rows without an image name were removed by the FER+ authors
    root = make_ferplus(tmp_path / "FERPlus", usages, votes, names)
    soft = ferplus.load_ferplus(root, "train", mode="soft")
    assert soft.ids == ("fer0000000.png", "fer0000002.png", "fer0000004.png")
    assert soft.extra["soft_labels"].shape == (3, 8) and soft.extra["soft_labels"].dtype == np.float32
    assert soft.images[1, 0, 0] == 20  # pixels of fer2013.csv row 2
    assert [soft.class_names[i] for i in soft.labels] == ["neutral", "happiness", "happiness"]
    majority = ferplus.load_ferplus(root, "train")
    assert majority.ids == ("fer0000000.png", "fer0000004.png") and "soft_labels" not in majority.extra
    (split,) = experiment_splits(f"ferplus:{root}", "soft")
    assert split.test.ids == ("fer0000007.png",) and split.val.ids == ("fer0000006.png",)
    assert "soft_labels" in split.train.extra and "soft_labels" not in split.test.extra


def test_ferplus_broken_inputs(tmp_path):
    root = make_ferplus(tmp_path / "a", ["Training", "PublicTest"], [VOTES["clear"]] * 2, ["a.png", "b.png"])
    write_csv(root / "fer2013.csv", ["emotion", "pixels", "Usage"], [[0, " ".join(["0"] * 2304), u] for u in ("PublicTest", "Training")])
    with pytest.raises(DatasetError, match="not aligned"):
        ferplus.load_ferplus(root, "train")
    write_csv(root / "fer2013new.csv", ["Usage", "Image name", "neutral"], [["Training", "a.png", 3]])
    with pytest.raises(DatasetError, match=r"missing column.*contempt"):
        ferplus.load_ferplus(root, "train")
    (root / "fer2013.csv").unlink()
    with pytest.raises(DatasetError, match="fer2013.csv"):
        ferplus.load_ferplus(root, "train")


# --- videos -------------------------------------------------------------------------------------

def write_clip(path: Path, n_frames: int = 10, base: int = 0) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"MJPG"), 10, (32, 24))
    for i in range(n_frames):
        writer.write(np.full((24, 32, 3), (base + 20 * i) % 256, np.uint8))
    writer.release()


def make_videos(root: Path) -> Path:
    for label in ("anger", "happy"):
        for k in range(3):
            write_clip(root / label / f"{label}{k}.avi")
    return root


def test_videos_fallback_frames_and_grouped_splits(tmp_path, monkeypatch):
    monkeypatch.setitem(sys.modules, "ferkit.video", None)  # extractor not importable -> evenly spaced frames
    root = make_videos(tmp_path / "mmi")
    data = videos.load_video_frames(root, frames_per_clip=4)
    assert len(data) == 24 and data.image_size == (48, 48) and data.class_names == ("happiness", "anger")
    assert data.ids[:4] == ("anger/anger0#0", "anger/anger0#3", "anger/anger0#6", "anger/anger0#9")
    assert data.groups[0] == "anger/anger0" and data.extra["clips"].shape == (24,)
    (split,) = experiment_splits(f"videos:{root}")  # 20 frames asked, 10 in each clip: all are kept
    assert no_shared_groups(split) and len(split.train) + len(split.val) + len(split.test) == 60
    (rand,) = experiment_splits(f"videos:{root}", "random70")
    assert rand.leaks_subjects


def test_videos_with_the_real_extractor_and_a_too_short_clip(tmp_path):
    pytest.importorskip("ferkit.video")
    write_clip(tmp_path / "v" / "sad" / "long.avi", n_frames=60)
    write_clip(tmp_path / "v" / "sad" / "short.avi", n_frames=10)
    data = videos.load_video_frames(tmp_path / "v", frames_per_clip=5)
    how = dict(zip(data.extra["clips"], data.extra["frame_selection"]))
    assert how == {"sad/long": "extractor", "sad/short": "even"} and len(data) <= 10


def test_videos_use_the_extractor_and_csv_subjects(tmp_path, monkeypatch):
    calls = []
    fake = types.ModuleType("ferkit.video")
    fake.representative_frames = lambda clip, n=20: calls.append((clip, n)) or [8, 1]
    monkeypatch.setitem(sys.modules, "ferkit.video", fake)
    write_clip(tmp_path / "clips" / "a.avi")
    write_clip(tmp_path / "clips" / "b.avi")
    csv_path = write_csv(tmp_path / "mmi.csv", ["path", "label", "subject"], [["clips/a.avi", "angry", "S1"], ["clips/b.avi", "sad", ""]])
    data = videos.load_video_frames(csv_path, frames_per_clip=2)
    assert calls[0][1] == 2 and data.ids == ("clips/a#1", "clips/a#8", "clips/b#1", "clips/b#8")
    assert data.groups == ("S1", "S1", "clips/b", "clips/b")
    assert data.images[1].mean() > data.images[0].mean()  # frame 8 is brighter than frame 1
    write_csv(tmp_path / "bad.csv", ["path", "label"], [["clips/a.avi", "bored"]])
    with pytest.raises(DatasetError, match="unknown label 'bored'"):
        videos.load_video_frames(tmp_path / "bad.csv")
    write_csv(tmp_path / "gone.csv", ["path", "label"], [["clips/zzz.avi", "sad"]])
    with pytest.raises(DatasetError, match="1 clip.*missing"):
        videos.load_video_frames(tmp_path / "gone.csv")


# --- split helpers ------------------------------------------------------------------------------

def test_grouped_helpers_keep_groups_and_extras_together():
    labels = np.arange(40) % 2
    groups = [f"s{i // 4}" for i in range(40)]
    keep, held = stratified_holdout(labels, 0.3, seed=0, groups=groups)
    assert not {groups[i] for i in keep} & {groups[i] for i in held} and len(held) == 12
    keep, held = stratified_holdout(labels, 0.25, seed=0)
    assert len(held) == 10 and labels[held].sum() == 5  # stratified
    folds = leave_one_group_out(groups)
    assert len(folds) == 10 and all(len(te) == 4 for _, te in folds)
    data = FaceDataset(np.zeros((4, 2, 2), np.uint8), np.array([0, 1, 0, 1]), ("neutral", "happiness"), tuple("abcd"),
                       extra={"soft_labels": np.eye(4, 8, dtype=np.float32)})
    sub = subset_with_extra(data, [2, 3])
    np.testing.assert_array_equal(sub.extra["soft_labels"], np.eye(4, 8, dtype=np.float32)[2:])


# --- inspect ------------------------------------------------------------------------------------

def test_inspect_recognises_layouts_and_lists_problems(tmp_path):
    lines = RAF_LINES[:3] + ["train_00002.jpg 2", "train_00009.jpg 9"]
    root = make_rafdb(tmp_path / "raf", lines, missing=("train_00003",))
    report = inspect_dataset(root)
    assert report.family == "rafdb" and report.splits["train"]["surprise"] == 0 and report.splits["train"]["fear"] == 1
    assert len(report.problems) == 4 and any("missing" in p for p in report.problems)
    assert "train_00009_aligned.jpg" in report.problems[-1]  # its line was refused (label 9): the image is named as unused
    text = format_report(report)
    assert "4 problem(s)" in text and "train" in text
    assert detect_family(make_jaffe(tmp_path / "jaffe")) == "jaffe"
    assert detect_family(make_affectnet(tmp_path / "an", [1], [2])) == "affectnet"
    assert detect_family(make_videos(tmp_path / "vid")) == "videos"
    fp = make_ferplus(tmp_path / "fp", ["Training"] * 3, [VOTES["clear"], VOTES["nf"], VOTES["split"]], ["a.png", "b.png", "a.png"])
    fp_report = inspect_dataset(fp)
    assert fp_report.family == "ferplus" and fp_report.splits["Training"]["dropped"] == 1
    assert fp_report.splits["Training"]["happiness"] == 1 and "duplicate id 'a.png'" in fp_report.problems[0]
    broken = inspect_dataset(f"affectnet:{tmp_path / 'raf'}")  # wrong family: reported, not raised
    assert broken.splits == {} and "training.csv" in broken.problems[0]
    names = [f["name"] for f in describe_formats()]
    assert {"fer2013", "ckplus48", "imagefolder", "rafdb", "affectnet", "jaffe", "sfew", "ferplus", "videos"} <= set(names)
