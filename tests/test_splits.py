import numpy as np
import pytest

from data.fixtures import write_ckplus
from ferkit.data import FaceDataset, experiment_splits, load_ckplus48, random_count_split, subject_kfold
from ferkit.data.registry import ckplus_protocol_splits
from ferkit.labels import CKPLUS_LABELS
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


def test_random_count_split_is_a_partition_and_another_seed_draws_another():
    train, test = random_count_split(981, 800, seed=1)
    assert np.array_equal(np.sort(np.concatenate([train, test])), np.arange(981))  # every image once: no duplicates, none lost
    other_train, _ = random_count_split(981, 800, seed=2)
    assert len(other_train) == 800 and not np.array_equal(other_train, train)


def _ckplus_like(n: int) -> FaceDataset:
    labels = np.arange(n) % 7
    return FaceDataset(np.zeros((n, 48, 48), np.uint8), labels.astype(np.int64), CKPLUS_LABELS, tuple(f"img{i}" for i in range(n)),
                       tuple(f"S{i // 9}" for i in range(n)), "ckplus48")


def test_random800_protocol_holds_each_id_once_and_its_test_part_moves_with_the_seed():
    data = _ckplus_like(981)
    (split,) = ckplus_protocol_splits(data, "random800", seed=1)
    assert split.val is None and len(split.train) == 800 and len(split.test) == 181
    assert len(set(split.train.ids)) == 800 and not set(split.train.ids) & set(split.test.ids)
    assert set(split.train.ids) | set(split.test.ids) == set(data.ids)
    (other,) = ckplus_protocol_splits(data, "random800", seed=2)
    assert set(other.test.ids) != set(split.test.ids)


def test_kfold_parts_hold_each_id_once_and_another_seed_draws_other_folds(tmp_path):
    root = write_ckplus(tmp_path / "ck", subjects=20)
    everything = set(load_ckplus48(root).ids)
    splits = experiment_splits(f"ckplus48:{root}", "kfold10", seed=0)
    for split in splits:
        parts = [split.train.ids, split.val.ids, split.test.ids]
        ids = [i for part in parts for i in part]
        assert len(ids) == len(set(ids)) and set(ids) == everything  # no duplicate across train/val/test, none lost
    assert sorted(i for s in splits for i in s.test.ids) == sorted(everything)  # each image tested exactly once
    reseeded = experiment_splits(f"ckplus48:{root}", "kfold10", seed=1)
    assert [set(s.test.ids) for s in reseeded] != [set(s.test.ids) for s in splits]
