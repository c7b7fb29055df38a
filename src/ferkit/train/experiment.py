"""One experiment: a recipe trained on each chosen fold of a dataset, then scored and summarised.

``train_folds`` is the per-fold loop that ``ferkit train`` and ``benchmarks/run_recipe.py`` share:
the splits, which folds, where each fold's run lives, whether it resumes, the warm start, and
training (selection on each fold's validation split). The caller scores each finished fold; the
test split is never looked at before a fold's model is chosen. ``run_experiment`` is ``ferkit
train``: the test split scored once per fold and, over several folds, ``folds_summary.json``.
"""

from __future__ import annotations

import dataclasses
import json
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Iterator, Sequence

import numpy as np

from ferkit.data.registry import DATASETS, ExperimentSplit, experiment_splits, parse_spec
from ferkit.errors import ConfigError, DatasetError
from ferkit.io_utils import atomic_write_json
from ferkit.train import distributed
from ferkit.train.config import Recipe
from ferkit.train.loop import TrainResult, train
from ferkit.train.resume import check_epochs_grow, check_fold_layout, check_run_dir
from ferkit.train.runs import keep_recorded_warm_start, recorded_recipe, resolve_warm_start


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
        if n_splits == 1 and k != 0:
            raise ConfigError(f"--fold {k}: the data has one split under this protocol, no folds; --fold applies to k-fold protocols "
                              "(e.g. ckplus48's kfold10): drop --fold")
        if not 0 <= k < n_splits:
            raise ConfigError(f"fold must be in 0..{n_splits - 1}, got {k}")
    return chosen


def keep_recorded_protocol(recipe: Recipe, run_dir: Path, default_protocol: str) -> Recipe:
    """Keep the protocol an existing run recorded when it names the same splits: null is the dataset's default,
    so a run started without --protocol resumes with an explicit ``--protocol kfold10``, and the reverse."""
    recorded = recorded_recipe(run_dir)
    if recorded is None or "protocol" not in recorded or recorded["protocol"] == recipe.protocol:
        return recipe
    if (recorded["protocol"] or default_protocol) == (recipe.protocol or default_protocol):
        return dataclasses.replace(recipe, protocol=recorded["protocol"])
    return recipe


def plan_fold_runs(recipe: Recipe, out: str | Path, splits: Sequence[ExperimentSplit], chosen: Sequence[int],
                   resume: bool | None) -> dict[int, tuple[Path, bool]]:
    """Each chosen fold's run directory and whether it resumes, every directory checked before the first fold trains.

    ``resume`` None: a fold continues when its last.pt exists. True (``--resume``) needs a last.pt in at least one
    chosen fold: without one it would quietly start a new run (e.g. CK+ folds beside a FER2013 run).
    """
    check_fold_layout(Path(out), fold_dirs=len(splits) > 1)
    if len(splits) > 1:
        check_sibling_folds(recipe, Path(out), splits, chosen)
    runs = {}
    for k in chosen:
        run_dir = fold_run_dir(out, splits, splits[k])
        fold_resume = (run_dir / "last.pt").exists() if resume is None else resume
        check_run_dir(run_dir, resume=fold_resume)
        if fold_resume:
            check_epochs_grow(run_dir, recipe)
        runs[k] = (run_dir, fold_resume)
    if resume is True and not any((run_dir / "last.pt").is_file() for run_dir, _ in runs.values()):
        where = "" if len(splits) == 1 else " in " + ", ".join(str(run_dir) for run_dir, _ in runs.values())
        raise ConfigError(f"nothing to resume in {out}: no last.pt{where}; drop --resume to start a new run")
    return runs


def check_out_beside_data(out: str | Path, data: str) -> None:
    """Refuse a run folder inside a dataset folder: its recipe.json, checkpoints and curves.png would become files of the
    dataset, which every later read (this run's --resume included) refuses as files that are not images."""
    root = Path(parse_spec(data)[1]).expanduser()
    if not root.is_dir():
        return  # a CSV or pack file: its folder is not scanned
    target, root = Path(out).expanduser().resolve(), root.resolve()
    if target == root or root in target.parents:
        raise ConfigError(f"--out {out} lies inside the dataset folder {root}: the run's files would become part of the dataset "
                          "and break every later read of it; choose an --out outside it")


def check_sibling_folds(recipe: Recipe, out: Path, splits: Sequence[ExperimentSplit], chosen: Sequence[int]) -> None:
    """Folds of ``out`` this call does not train must belong to the same experiment, checked before any fold trains.

    Why: ``--fold 0`` today and ``--fold 1 --set lr=0.05`` (or another seed, which redraws the subjects of every fold,
    or other data) tomorrow into one --out were averaged into one folds_summary.json without a word; a summary of
    another recipe was refused only after the new fold had trained. The recipe is compared field by field (epochs
    aside: a fold may be resumed to grow), the data through the fingerprint each fold's checkpoint records of its
    training split, which the same data split the same way reproduces."""
    from ferkit.artifacts import load_checkpoint
    from ferkit.train.resume import check_same_data, recipe_changes

    summary = out / "folds_summary.json"
    if summary.is_file():
        try:
            summarised = json.loads(summary.read_text()).get("recipe")
        except (OSError, ValueError, AttributeError):
            summarised = None
        if summarised is not None and summarised != recipe.tag:
            raise ConfigError(f"{summary} summarises recipe {summarised!r}, not {recipe.tag!r}; give another --out")
    by_name = {split.name: split for split in splits}
    training = {splits[k].name for k in chosen}
    siblings = sorted(sub for sub in out.iterdir() if sub.is_dir() and sub.name not in training and (sub / "recipe.json").is_file()) if out.is_dir() else []
    for sub in siblings:
        if sub.name not in by_name:
            raise ConfigError(f"{sub} is not a fold of this protocol ({len(splits)} folds: {splits[0].name}..{splits[-1].name}); "
                              "it belongs to another experiment: give another --out")
        # epochs may grow by resuming; the protocol is checked through the data below
        changes = recipe_changes(recorded_recipe(sub) or {}, keep_recorded_warm_start(recipe, sub).to_dict(), ignore=("epochs", "protocol"))
        if changes:
            raise ConfigError(f"{sub} was trained with other settings than this run ({'; '.join(changes[:4])}); a fold summary would "
                              "average folds of different experiments: use the same recipe and --set values, or another --out")
        checkpoint = next((sub / name for name in ("last.pt", "best.pt") if (sub / name).is_file()), None)
        if checkpoint is not None:
            check_same_data(load_checkpoint(checkpoint), by_name[sub.name], checkpoint)


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

    ``protocol`` (default: the recipe's) chooses the splits and is written into the recipe each checkpoint records,
    so that ``evaluate`` and ``ensemble`` find the same folds later; ``resume`` None continues each fold
    whose run holds a last.pt and starts the others; True (``--resume``) continues them too, but
    refuses when no chosen fold has a last.pt; False starts every fold. A ``run:`` warm start is
    resolved in ``runs_dir`` before the first fold trains. Under torchrun every rank trains and
    rank 0 alone receives the folds.
    """
    check_out_beside_data(out, data)
    recipe = resolve_warm_start(recipe if protocol is None else dataclasses.replace(recipe, protocol=protocol), runs_dir)
    splits = experiment_splits(data, recipe.protocol, recipe.seed)
    chosen = choose_folds(folds, len(splits))
    for k in chosen:
        if needs_test and splits[k].test is None:
            raise DatasetError(f"{data} has no test split (a FER2013 pack never holds PrivateTest); "
                               "train without scoring it (ferkit train --no-test) and score the test split where the dataset lives")
    runs = plan_fold_runs(recipe, out, splits, chosen, resume)
    default_protocol = DATASETS.get(parse_spec(data)[0]).default_protocol
    for k in chosen:
        split, (run_dir, fold_resume) = splits[k], runs[k]
        fold_recipe = keep_recorded_protocol(keep_recorded_warm_start(recipe, run_dir), run_dir, default_protocol)
        result = train(fold_recipe, split, run_dir, device=device, resume=fold_resume,
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


def write_folds_summary(out: str | Path, recipe: Recipe, rows: list[dict[str, Any]]) -> dict[str, Any]:
    """``out/folds_summary.json``: each fold's row and the test accuracy's mean and std over folds; returns it.

    Rows already there from earlier calls on the same ``out`` (``--fold 0 1 2`` today, ``--fold 3 4 5`` tomorrow, or
    two machines training other folds) are kept, and a fold scored again replaces its row, so the summary covers every
    fold scored so far, not only the last call's. The merge holds a lock on ``out`` (``fcntl.flock``) so that two
    processes finishing at once cannot drop each other's rows. A summary of another recipe is refused, not mixed in.
    """
    import fcntl
    import json
    import re

    folder = Path(out)
    path = folder / "folds_summary.json"
    handle = os.open(folder, os.O_RDONLY)
    try:
        fcntl.flock(handle, fcntl.LOCK_EX)
        merged: dict[str, dict[str, Any]] = {}
        if path.exists():
            try:
                earlier = json.loads(path.read_text())
                if earlier.get("recipe") != recipe.tag:
                    raise ConfigError(f"{path} summarises recipe {earlier.get('recipe')!r}, not {recipe.tag!r}; give another --out")
                merged = {row["split"]: row for row in earlier["folds"]}
            except (ValueError, KeyError, TypeError, AttributeError) as error:
                raise ConfigError(f"{path} is not a fold summary ferkit can read ({error}); move it away to write a new one") from None
        merged.update({row["split"]: row for row in rows})
        ordered = sorted(merged.values(), key=lambda row: [int(t) if t.isdigit() else t for t in re.split(r"(\d+)", row["split"])])
        mean, std = mean_std([row["test_accuracy"] for row in ordered])
        summary = {"recipe": recipe.tag, "folds": ordered, "n_folds": len(ordered), "mean_accuracy": mean, "std_accuracy": std}
        atomic_write_json(path, summary)
        return summary
    finally:
        os.close(handle)


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

    With more than one fold scored in ``out`` (by this call or earlier ones), ``out/folds_summary.json`` holds their
    rows and mean/std.
    """
    rows, folded = [], False
    for run in train_folds(recipe, data, out, folds=folds, resume=resume, needs_test=test, runs_dir=runs_dir,
                           device=device, progress=progress, sync_batchnorm=sync_batchnorm, occluder_workers=occluder_workers):
        result, folded = run.result, run.run_dir != Path(out)  # a one-split protocol trains in out itself
        row = {"split": run.split.name, "best_epoch": result.best_epoch, "best_val": result.best_val, "epochs_trained": result.epochs_trained,
               "stopped_early": result.stopped_early, "wall_time_s": result.wall_time_s, "device": result.device}
        if test:
            metrics = score_test(run, tta)
            row["test_accuracy"] = metrics["accuracy"]
            row["test_macro_f1"] = metrics["macro_f1"]
            log(f"{run.split.name}: test accuracy {metrics['accuracy']:.4f} (tta={tta}), macro-F1 {metrics['macro_f1']:.4f}")
        rows.append(row)
    if rows and test and folded:
        summary = write_folds_summary(out, recipe, rows)
        earlier = summary["n_folds"] - len(rows)
        if summary["n_folds"] > 1:
            note = f" ({earlier} scored by earlier calls)" if earlier else ""
            log(f"{summary['n_folds']} folds{note}: accuracy {summary['mean_accuracy']:.4f} +- {summary['std_accuracy']:.4f}")
    return rows
