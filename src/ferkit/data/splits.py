"""Train/test splits: subject-grouped k-fold (no leakage) and the papers' random image splits (leaking)."""

from __future__ import annotations

import numpy as np

from ferkit.errors import ConfigError


def subject_kfold(labels: np.ndarray, groups: tuple[str, ...] | list[str], n_folds: int = 10, seed: int = 0) -> list[tuple[np.ndarray, np.ndarray]]:
    """(train_idx, test_idx) per fold; every subject lies in exactly one test fold, classes stratified.

    Uses scikit-learn's StratifiedGroupKFold, so class proportions stay close across folds.
    """
    from sklearn.model_selection import StratifiedGroupKFold

    unique_groups = len(set(groups))
    if n_folds < 2 or n_folds > unique_groups:
        raise ConfigError(f"n_folds must be in 2..{unique_groups} (the number of subjects), got {n_folds}")
    splitter = StratifiedGroupKFold(n_splits=n_folds, shuffle=True, random_state=seed)
    return [(np.sort(tr), np.sort(te)) for tr, te in splitter.split(np.zeros(len(labels)), labels, groups)]


def random_count_split(n: int, n_train: int, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """Random image split with ``n_train`` training images (papers 000/001: 800 train / 181 test on CK+48).

    This split leaks subjects between train and test (consecutive frames of one sequence); it
    exists only to compare with the papers, and results on it are labelled as leaking.
    """
    if not 0 < n_train < n:
        raise ConfigError(f"n_train must be in 1..{n - 1}, got {n_train}")
    order = np.random.default_rng(seed).permutation(n)
    return np.sort(order[:n_train]), np.sort(order[n_train:])


def grouped_holdout(groups: tuple[str, ...] | list[str], fraction: float, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """Split indices into (keep, held_out) with about ``fraction`` of the groups held out (for validation)."""
    if not 0 < fraction < 1:
        raise ConfigError(f"fraction must be in (0, 1), got {fraction}")
    names = np.array(sorted(set(groups)))
    rng = np.random.default_rng(seed)
    held = set(rng.choice(names, size=max(1, int(round(fraction * len(names)))), replace=False))
    mask = np.array([g in held for g in groups])
    return np.flatnonzero(~mask), np.flatnonzero(mask)
