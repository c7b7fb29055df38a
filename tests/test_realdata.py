"""Checks on the real datasets in ../shared/data (skipped with a reason only when truly absent)."""

import re

import numpy as np
import pytest

from data.fixtures import SHARED_DATA
from ferkit.data import experiment_splits, load_ckplus48, load_fer2013
from ferkit.labels import FER2013_LABELS

FER = SHARED_DATA / "fer2013"
CK = SHARED_DATA / "ckplus48"
needs_fer = pytest.mark.skipif(not FER.is_dir(), reason=f"FER2013 not found at {FER}")
needs_ck = pytest.mark.skipif(not CK.is_dir(), reason=f"CK+48 not found at {CK}")


@needs_fer
def test_fer2013_has_the_published_split_sizes_and_class_counts():
    splits = {s: load_fer2013(FER, s) for s in ("Training", "PublicTest", "PrivateTest")}
    assert [len(d) for d in splits.values()] == [28709, 3589, 3589]
    total = sum(np.bincount(d.labels, minlength=7) for d in splits.values())
    assert dict(zip(FER2013_LABELS, total.tolist())) == dict(zip(FER2013_LABELS, [4953, 547, 5121, 8989, 6077, 4002, 6198]))
    assert splits["Training"].images.shape[1:] == (48, 48)


@needs_ck
def test_ckplus48_has_981_images_of_118_subjects_and_clean_folds():
    data = load_ckplus48(CK)
    assert len(data) == 981 and len(set(data.groups)) == 118
    assert len(data.class_names) == 7 and "contempt" in data.class_names
    folds = experiment_splits(f"ckplus48:{CK}", "kfold10")
    assert len(folds) == 10
    test_subjects = [set(f.test.groups) for f in folds]
    assert sum(len(s) for s in test_subjects) == 118
    for fold in folds:
        assert not set(fold.train.groups) & set(fold.test.groups)
    (random,) = experiment_splits(f"ckplus48:{CK}", "random800")
    assert (len(random.train), len(random.test)) == (800, 181) and random.leaks_subjects


@pytest.mark.skipif(not (FER.is_dir() and CK.is_dir()), reason=f"FER2013 and CK+48 not both found under {SHARED_DATA}")
def test_the_folder_holding_the_real_datasets_is_named_as_such():
    from ferkit.data.registry import detect_family
    from ferkit.errors import DatasetError

    with pytest.raises(DatasetError, match=rf"{re.escape(str(SHARED_DATA))} holds datasets \(.*ckplus48/: ckplus48.*fer2013/: fer2013.*\), not images of expression classes; point --data at one of them"):
        detect_family(SHARED_DATA)
