"""One experiment: a recipe trained on each chosen fold of a dataset, then scored and summarised.

``train_folds`` is the per-fold loop that ``ferkit train`` and ``benchmarks/run_recipe.py`` share:
the splits, which folds, where each fold's run lives, whether it resumes, the warm start, and
training (selection on each fold's validation split). The caller scores each finished fold; the
test split is never looked at before a fold's model is chosen. ``run_experiment`` is ``ferkit
train``: the test split scored once per fold and, over several folds, ``folds_summary.json``.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Iterator, Sequence

import numpy as np

from ferkit.data.registry import ExperimentSplit, experiment_splits
from ferkit.errors import ConfigError, DatasetError
from ferkit.io_utils import atomic_write_json
from ferkit.train import distributed
from ferkit.train.config import Recipe
from ferkit.train.loop import TrainResult, train
from ferkit.train.runs import keep_recorded_warm_start, resolve_warm_start


@dataclass(frozen=True)
class FoldRun:
    """One trained fold: its split, its run directory and what ``train`` returned."""

    split: ExperimentSplit
    run_dir: Path
    result: TrainResult


def fold_run_dir(out: str | Path, splits: Sequence[ExperimentSplit], split: ExperimentSplit) -> Path:
    """A one-split protocol trains in ``out`` itself; k-fold protocols in ``out/<fold name>``."""
    return Path(out) if len(splits) == 1 else Path(out) / split.name


def choose_folds(folds: Sequence[int] | None, n_splits: int) -> list[int]:
    """The fold indices to train (all when ``folds`` is None), checked before anything trains."""
    chosen = list(range(n_splits)) if folds is None else list(folds)
    if not chosen:
        raise ConfigError("no fold chosen: give fold numbers, or none to train every fold")
    for k in chosen:
        if not 0 <= k < n_splits:
            raise ConfigError(f"fold must be in 0..{n_splits - 1}, got {k}")
    return chosen


def train_folds(
    recipe: Recipe,
    data: str,
    out: str | Path,
    *,
    protocol: str | None = None,
    folds: Sequence[int] | None = None,
    resume: bool | None = None,
    needs_test: bool = True,
    runs_dir: str | Path | None = None,
    device: str = "auto",
    progress: bool = True,
    sync_batchnorm: bool = False,
    occluder_workers: int = 0,
) -> Iterator[FoldRun]:
    """Train ``recipe`` on the chosen folds of ``data``, yielding each fold as it finishes.

    ``protocol`` (default: the recipe's) chooses the splits; ``resume`` None continues each fold
    whose run holds a last.pt, True/False is passed to ``train`` as given. A ``run:`` warm start is
    resolved in ``runs_dir`` before the first fold trains. Under torchrun every rank trains and
    rank 0 alone receives the folds.
    """
    recipe = resolve_warm_start(recipe, runs_dir)
    splits = experiment_splits(data, protocol or recipe.protocol, recipe.seed)
    chosen = choose_folds(folds, len(splits))
    for k in chosen:
        if needs_test and splits[k].test is None:
            raise DatasetError(f"{data} has no test split (a FER2013 pack never holds PrivateTest); "
                               "train without scoring it (ferkit train --no-test) and score the test split where the dataset lives")
    for k in chosen:
        split = splits[k]
        run_dir = fold_run_dir(out, splits, split)
        fold_resume = (run_dir / "last.pt").exists() if resume is None else resume
        result = train(keep_recorded_warm_start(recipe, run_dir), split, run_dir, device=device, resume=fold_resume,
                       progress=progress, sync_batchnorm=sync_batchnorm, occluder_workers=occluder_workers)
        if distributed.current().is_main:
            yield FoldRun(split, run_dir, result)


def mean_std(values: Sequence[float]) -> tuple[float, float]:
    """Mean and (population) standard deviation over folds, as every fold summary reports them."""
    return float(np.mean(values)), float(np.std(values))


def score_test(run: FoldRun, tta: str) -> dict[str, Any]:
    """Score a fold's selected model on its test split; writes test.json and the confusion matrix into the run."""
    from ferkit.evaluate.reports import evaluate_model
    from ferkit.artifacts import load_model

    loaded = load_model(run.result.best_path, device=run.result.torch_device)
    return evaluate_model(loaded, run.split.test, tta=tta, device=run.result.torch_device, out_dir=run.run_dir, tag="test")


def write_folds_summary(out: str | Path, recipe: Recipe, rows: list[dict[str, Any]]) -> Path:
    """``out/folds_summary.json``: each fold's row and the test accuracy's mean and std over folds."""
    mean, std = mean_std([row["test_accuracy"] for row in rows])
    return atomic_write_json(Path(out) / "folds_summary.json", {"recipe": recipe.tag, "folds": rows, "mean_accuracy": mean, "std_accuracy": std})


def run_experiment(
    recipe: Recipe,
    data: str,
    out: str | Path,
    *,
    folds: Sequence[int] | None = None,
    resume: bool = False,
    test: bool = True,
    tta: str = "flip",
    runs_dir: str | Path | None = None,
    device: str = "auto",
    progress: bool = True,
    sync_batchnorm: bool = False,
    occluder_workers: int = 0,
    log: Callable[[str], None] = print,
) -> list[dict[str, Any]]:
    """``ferkit train``: every chosen fold trained, its test split scored once; one row per fold.

    With more than one fold scored, ``out/folds_summary.json`` holds the rows and their mean/std.
    """
    rows = []
    for run in train_folds(recipe, data, out, folds=folds, resume=resume, needs_test=test, runs_dir=runs_dir,
                           device=device, progress=progress, sync_batchnorm=sync_batchnorm, occluder_workers=occluder_workers):
        result = run.result
        row = {"split": run.split.name, "best_epoch": result.best_epoch, "best_val": result.best_val, "epochs_trained": result.epochs_trained,
               "stopped_early": result.stopped_early, "wall_time_s": result.wall_time_s, "device": result.device}
        if test:
            metrics = score_test(run, tta)
            row["test_accuracy"] = metrics["accuracy"]
            row["test_macro_f1"] = metrics["macro_f1"]
            log(f"{run.split.name}: test accuracy {metrics['accuracy']:.4f} (tta={tta}), macro-F1 {metrics['macro_f1']:.4f}")
        rows.append(row)
    if len(rows) > 1 and test:
        write_folds_summary(out, recipe, rows)
        mean, std = mean_std([row["test_accuracy"] for row in rows])
        log(f"{len(rows)} folds: accuracy {mean:.4f} +- {std:.4f}")
    return rows
