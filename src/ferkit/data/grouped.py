"""Experiment splits shared by the native loaders: validation carved from training, grouped folds,
leave-one-subject-out and the papers' random (leaking) splits.

Builds on ``ferkit.data.splits``; everything here keeps a subject or clip on one side of a split
unless the split is explicitly marked ``leaks_subjects``.
"""

from __future__ import annotations

import numpy as np

from ferkit.data.dataset import FaceDataset
from ferkit.data.registry import ExperimentSplit
from ferkit.data.splits import grouped_holdout, random_count_split, subject_kfold
from ferkit.errors import ConfigError


def subset_with_extra(data: FaceDataset, indices: np.ndarray | list[int], name: str | None = None) -> FaceDataset:
    """``data.subset`` that also indexes per-sample arrays in ``extra`` (e.g. soft labels (N, 8)).

    ``FaceDataset.subset`` copies ``extra`` unchanged, which would misalign such arrays.
    """
    idx = np.asarray(indices, dtype=np.int64)
    out = data.subset(idx, name)
    for key, value in data.extra.items():
        if isinstance(value, np.ndarray) and value.ndim >= 1 and len(value) == len(data):
            out.extra[key] = value[idx]
    return out


def stratified_holdout(
    labels: np.ndarray, fraction: float, seed: int = 0, groups: tuple[str, ...] | list[str] | None = None
) -> tuple[np.ndarray, np.ndarray]:
    """(keep, held) index arrays with about ``fraction`` held out, class-stratified where possible.

    With ``groups`` no group is split: StratifiedGroupKFold into 10 (20 below 10%) folds and
    about ``fraction`` of the folds held out; with fewer groups than folds, a random
    ``fraction`` of the groups is held out (not stratified).
    """
    if not 0 < fraction < 1:
        raise ConfigError(f"fraction must be in (0, 1), got {fraction}")
    labels = np.asarray(labels)
    idx = np.arange(len(labels))
    if groups is not None:
        from sklearn.model_selection import StratifiedGroupKFold

        n_splits = 20 if fraction < 0.1 else 10
        if len(set(groups)) < n_splits:
            return grouped_holdout(groups, fraction, seed)
        splitter = StratifiedGroupKFold(n_splits=n_splits, shuffle=True, random_state=seed)
        n_held = max(1, int(round(fraction * n_splits)))
        held = np.concatenate([te for _, te in list(splitter.split(idx, labels, groups))[:n_held]])
        return np.setdiff1d(idx, held), np.sort(held)
    from sklearn.model_selection import train_test_split

    n_held = max(1, int(round(fraction * len(labels))))
    counts = np.bincount(labels) if len(labels) else np.zeros(0, int)
    present = counts[counts > 0]
    can_stratify = present.size > 0 and present.min() >= 2 and min(n_held, len(labels) - n_held) >= present.size
    keep, held = train_test_split(idx, test_size=n_held, random_state=seed, stratify=labels if can_stratify else None)
    return np.sort(keep), np.sort(held)


def holdout_experiment(name: str, train_pool: FaceDataset, test: FaceDataset, val_fraction: float, seed: int) -> ExperimentSplit:
    """Official train/test split; validation carved from training (grouped when groups are known)."""
    keep, held = stratified_holdout(train_pool.labels, val_fraction, seed, train_pool.groups)
    return ExperimentSplit(
        name,
        subset_with_extra(train_pool, keep, f"{train_pool.name}/train"),
        subset_with_extra(train_pool, held, f"{train_pool.name}/val"),
        test,
    )


def fold_experiments(data: FaceDataset, folds: list[tuple[np.ndarray, np.ndarray]], val_fraction: float, seed: int) -> list[ExperimentSplit]:
    """One ExperimentSplit per (train_idx, test_idx) fold; validation = held-out training groups."""
    out = []
    for k, (train_idx, test_idx) in enumerate(folds):
        pool = subset_with_extra(data, train_idx)
        keep, held = stratified_holdout(pool.labels, val_fraction, seed + k, pool.groups)
        out.append(ExperimentSplit(
            f"fold{k}",
            subset_with_extra(pool, keep, f"{data.name}/fold{k}/train"),
            subset_with_extra(pool, held, f"{data.name}/fold{k}/val"),
            subset_with_extra(data, test_idx, f"{data.name}/fold{k}/test"),
        ))
    return out


def leave_one_group_out(groups: tuple[str, ...] | list[str]) -> list[tuple[np.ndarray, np.ndarray]]:
    """(train_idx, test_idx) per group, groups in sorted order (JAFFE: leave-one-subject-out)."""
    names = sorted(set(groups))
    if len(names) < 2:
        raise ConfigError(f"leave-one-group-out needs at least 2 groups, got {len(names)}")
    arr = np.asarray(groups)
    return [(np.flatnonzero(arr != g), np.flatnonzero(arr == g)) for g in names]


def grouped_kfold_experiments(data: FaceDataset, n_folds: int, seed: int, val_fraction: float = 0.1) -> list[ExperimentSplit]:
    """Subject/clip-independent stratified k-fold (``data.groups`` required)."""
    if data.groups is None:
        raise ConfigError(f"{data.name}: grouped folds need subject or clip groups")
    return fold_experiments(data, subject_kfold(data.labels, data.groups, n_folds, seed), val_fraction, seed)


def random_fraction_experiment(data: FaceDataset, train_fraction: float, seed: int, name: str) -> ExperimentSplit:
    """The papers' random image split (paper 002: JAFFE and MMI 7/3). Leaks subjects; no validation."""
    n_train = int(round(train_fraction * len(data)))
    train_idx, test_idx = random_count_split(len(data), n_train, seed)
    return ExperimentSplit(
        name, subset_with_extra(data, train_idx, f"{data.name}/train"), None, subset_with_extra(data, test_idx, f"{data.name}/test"), True
    )
