import os

import cv2
import numpy as np
import pytest

from data.fixtures import write_ckplus, write_fer2013_csv, write_fer2013_folder
from ferkit.data import experiment_splits, load_ckplus48, load_fer2013, load_image_folder, load_split
from ferkit.data.image_io import read_gray
from ferkit.errors import DatasetError, ImageReadError
from ferkit.labels import FER2013_LABELS


def test_fer2013_folder_splits_by_file_name_prefix(tmp_path):
    root = write_fer2013_folder(tmp_path / "fer", per_class=2)
    train = load_fer2013(root, "Training")
    public = load_fer2013(root, "val")
    private = load_fer2013(root, "PrivateTest")
    assert len(train) == len(public) == len(private) == 14
    assert train.class_names == FER2013_LABELS
    assert train.images.shape[1:] == (48, 48) and train.images.dtype == np.uint8
    assert all(i.split("/")[-1].startswith("PrivateTest_") for i in private.ids)
    assert len(set(train.ids)) == len(train.ids)
    assert np.bincount(train.labels).tolist() == [2] * 7


def _refuse_decoding(*args, **kwargs):
    raise AssertionError("decoded the JPEGs although the cache holds them")


def test_fer2013_folder_uses_the_cache_on_second_load_and_rebuilds_when_a_file_changes(tmp_path, monkeypatch):
    import ferkit.data.fer2013 as fer2013

    cache = tmp_path / "cache"
    monkeypatch.setenv("FERKIT_CACHE_DIR", str(cache))
    root = write_fer2013_folder(tmp_path / "fer", per_class=1)
    first = load_fer2013(root, "Training")
    entries = list(cache.glob("fer2013-Training-*.npz"))
    assert len(entries) == 1
    decode = fer2013.decode_images
    monkeypatch.setattr(fer2013, "decode_images", _refuse_decoding)
    second = load_fer2013(root, "Training")  # from the cache: decoding would raise
    np.testing.assert_array_equal(first.images, second.images)
    # the key holds each file's size and mtime: touching one file is a new entry, decoded again
    changed = sorted((root / "train").rglob("*.jpg"))[0]
    os.utime(changed, ns=(changed.stat().st_atime_ns, changed.stat().st_mtime_ns + 10**9))
    with pytest.raises(AssertionError, match="decoded the JPEGs"):
        load_fer2013(root, "Training")
    monkeypatch.setattr(fer2013, "decode_images", decode)
    load_fer2013(root, "Training")
    assert len(list(cache.glob("fer2013-Training-*.npz"))) == 2


@pytest.mark.parametrize("damage", ["truncated", "garbage", "empty"])
def test_a_corrupt_cache_entry_is_rebuilt_not_trusted(tmp_path, monkeypatch, damage):
    from ferkit.data.cache import cached_arrays

    monkeypatch.setenv("FERKIT_CACHE_DIR", str(tmp_path))
    built = {"images": np.arange(2 * 48 * 48, dtype=np.uint8).reshape(2, 48, 48)}
    calls = []

    def build():
        calls.append(1)
        return built

    cached_arrays("k", build)
    entry = tmp_path / "k.npz"
    data = entry.read_bytes()
    entry.write_bytes({"truncated": data[: len(data) // 2], "garbage": b"not an npz file", "empty": b""}[damage])
    np.testing.assert_array_equal(cached_arrays("k", build)["images"], built["images"])
    assert len(calls) == 2  # rebuilt once, and written again
    np.testing.assert_array_equal(cached_arrays("k", build)["images"], built["images"])
    assert len(calls) == 2


def test_fer2013_csv_matches_written_pixels(tmp_path):
    path = write_fer2013_csv(tmp_path / "fer2013.csv", per_class=2)
    train = load_fer2013(path, "Training")
    assert len(train) == 14 and train.images.shape == (14, 48, 48)
    assert set(train.labels.tolist()) == set(range(7))
    # the same file found through its directory
    assert len(load_fer2013(tmp_path, "PrivateTest")) == 14


def test_fer2013_csv_missing_column_is_named(tmp_path):
    path = tmp_path / "bad.csv"
    path.write_text("emotion,Usage\n0,Training\n")
    with pytest.raises(DatasetError, match="pixels"):
        load_fer2013(path, "Training")


def test_fer2013_csv_malformed_pixels_name_the_line(tmp_path):
    path = tmp_path / "bad.csv"
    path.write_text("emotion,pixels,Usage\n0,1 2 3,Training\n")
    with pytest.raises(DatasetError, match="line 2"):
        load_fer2013(path, "Training")
    path.write_text("emotion,pixels,Usage\n9," + " ".join(["0"] * 2304) + ",Training\n")
    with pytest.raises(DatasetError, match="outside 0..6"):
        load_fer2013(path, "Training")


def test_unknown_split_lists_valid_ones(tmp_path):
    root = write_fer2013_folder(tmp_path / "fer", per_class=1)
    with pytest.raises(DatasetError, match="PublicTest"):
        load_fer2013(root, "dev")


def test_missing_root_is_a_clear_error(tmp_path):
    with pytest.raises(DatasetError, match="not found"):
        load_fer2013(tmp_path / "nowhere", "Training")
    with pytest.raises(DatasetError, match="not found"):
        load_ckplus48(tmp_path / "nowhere")


def test_ckplus_groups_are_subjects(tmp_path):
    data = load_ckplus48(write_ckplus(tmp_path / "ck"))
    assert data.groups is not None and data.groups[0].startswith("S1")
    assert "contempt" in data.class_names and "happiness" in data.class_names
    assert len(set(data.groups)) == 12


def test_ckplus_bad_file_name_is_named(tmp_path):
    root = write_ckplus(tmp_path / "ck")
    cv2.imwrite(str(root / "anger" / "img001.png"), np.zeros((48, 48), np.uint8))
    with pytest.raises(DatasetError, match="img001.png"):
        load_ckplus48(root)


def test_empty_class_folder_and_non_image_and_unknown_class(tmp_path):
    root = tmp_path / "faces"
    (root / "happy").mkdir(parents=True)
    cv2.imwrite(str(root / "happy" / "a.png"), np.zeros((48, 48), np.uint8))
    (root / "sad").mkdir()
    with pytest.raises(DatasetError, match="empty class folder"):
        load_image_folder(root)
    cv2.imwrite(str(root / "sad" / "b.png"), np.zeros((48, 48), np.uint8))
    (root / "sad" / "notes.txt").write_text("hello")
    with pytest.raises(DatasetError, match="notes.txt"):
        load_image_folder(root)
    (root / "sad" / "notes.txt").unlink()
    (root / "bored").mkdir()
    cv2.imwrite(str(root / "bored" / "c.png"), np.zeros((48, 48), np.uint8))
    with pytest.raises(DatasetError, match="bored"):
        load_image_folder(root)


def test_unreadable_image_is_named(tmp_path):
    root = tmp_path / "faces"
    (root / "happy").mkdir(parents=True)
    (root / "happy" / "broken.png").write_bytes(b"not really a png")
    with pytest.raises(ImageReadError, match="broken.png"):
        load_image_folder(root)


def test_fixed_size_is_enforced_when_required(tmp_path):
    path = tmp_path / "big.png"
    cv2.imwrite(str(path), np.zeros((64, 50, 3), np.uint8))
    assert read_gray(path, (48, 48)).shape == (48, 48)
    with pytest.raises(ImageReadError, match="expected a 48x48"):
        read_gray(path, (48, 48), require_size=True)


def test_image_folder_resizes_and_orders_classes_canonically(tmp_path):
    root = tmp_path / "faces"
    for name in ("surprised", "Happy", "angry"):
        (root / name).mkdir(parents=True)
        cv2.imwrite(str(root / name / "x.jpg"), np.full((60, 60, 3), 100, np.uint8))
    data = load_image_folder(root)
    assert data.class_names == ("happiness", "surprise", "anger")
    assert data.images.shape == (3, 48, 48)


def test_dataset_specs_build_train_val_test(tmp_path):
    fer = write_fer2013_folder(tmp_path / "fer", per_class=1)
    (split,) = experiment_splits(f"fer2013:{fer}")
    assert split.val is not None and split.val.name.endswith("PublicTest")
    assert split.test.name.endswith("PrivateTest")
    ck = write_ckplus(tmp_path / "ck", subjects=12)
    folds = experiment_splits(f"ckplus48:{ck}", "kfold10")
    assert len(folds) == 10
    assert len(load_split(str(ck), "test", fold=3)) > 0  # bare path recognised as CK+


def test_split_all_returns_every_image_once(tmp_path):
    ck = write_ckplus(tmp_path / "ck", subjects=12)
    everything = load_split(f"ckplus48:{ck}", "all")
    assert len(everything) == len(load_ckplus48(ck))
    assert len(set(everything.ids)) == len(everything)


def _image(path):
    path.parent.mkdir(parents=True, exist_ok=True)
    cv2.imwrite(str(path), np.full((48, 48), 128, np.uint8))


def test_a_folder_holding_datasets_names_them_instead_of_failing_on_a_class(tmp_path):
    """--data pointed one level too high (at the folder holding fer2013/ and ckplus48/) says so."""
    from ferkit.data.registry import detect_family

    parent = tmp_path / "data"
    write_fer2013_folder(parent / "fer2013", per_class=1)
    write_ckplus(parent / "ckplus48", subjects=2)
    (parent / "notes").mkdir()  # neither a dataset nor a class: not named
    expected = (f"{parent} holds datasets (ckplus48/: ckplus48, fer2013/: fer2013), not images of expression classes; "
                f"point --data at one of them, e.g. --data {parent / 'ckplus48'}")
    for attempt in (lambda: detect_family(parent), lambda: load_split(str(parent), "test"), lambda: experiment_splits(str(parent))):
        with pytest.raises(DatasetError) as info:
            attempt()
        assert str(info.value) == expected
    assert len(load_split(str(parent / "fer2013"), "test")) == 7  # each one, named, still loads


def test_an_image_folder_with_a_mistyped_class_keeps_the_class_message(tmp_path):
    from ferkit.data.registry import detect_family

    root = tmp_path / "faces"
    for name in ("happy", "sad", "hapy"):
        for i in range(5):
            _image(root / name / f"{i}.png")
    with pytest.raises(DatasetError, match=r"hapy: unknown expression class 'hapy'; known classes: anger"):
        load_split(str(root), "all")
    split = tmp_path / "split"  # an image folder of CK+ crops in train/ and test/ is not a folder of datasets
    for part in ("train", "test"):
        for name in ("happy", "sad"):
            _image(split / part / name / "S005_001_00000011.png")
    assert detect_family(split) == "imagefolder"
