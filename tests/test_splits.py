import numpy as np
import pytest

from data.fixtures import write_ckplus
from ferkit.data import experiment_splits, load_ckplus48, random_count_split, subject_kfold
from ferkit.errors import ConfigError


def test_subject_kfold_puts_every_subject_in_exactly_one_test_fold(tmp_path):
    data = load_ckplus48(write_ckplus(tmp_path / "ck", subjects=20))
    folds = subject_kfold(data.labels, data.groups, n_folds=5, seed=0)
    seen = []
    for train_idx, test_idx in folds:
        train_subjects = {data.groups[i] for i in train_idx}
        test_subjects = {data.groups[i] for i in test_idx}
        assert not train_subjects & test_subjects
        seen += sorted(test_subjects)
    assert sorted(seen) == sorted(set(data.groups))


def test_fold_validation_is_carved_from_training_subjects(tmp_path):
    root = write_ckplus(tmp_path / "ck", subjects=20)
    for split in experiment_splits(f"ckplus48:{root}", "kfold10"):
        train, val, test = ({*s.groups} for s in (split.train, split.val, split.test))
        assert not (train & val) and not (train & test) and not (val & test)


def test_random_count_split_sizes_and_seed():
    a = random_count_split(981, 800, seed=1)
    b = random_count_split(981, 800, seed=1)
    assert len(a[0]) == 800 and len(a[1]) == 181
    np.testing.assert_array_equal(a[0], b[0])
    assert not set(a[0]) & set(a[1])


def test_too_many_folds_is_an_error():
    with pytest.raises(ConfigError, match="n_folds"):
        subject_kfold(np.zeros(4, int), ["a", "a", "b", "b"], n_folds=3)
