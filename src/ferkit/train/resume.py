"""Where a run may start and from what it may continue: the run directory's contents and last.pt's fit.

A run starts in a directory only where no earlier run's results would be overwritten, and continues only
from a resumable last.pt written with the same recipe on the same data. Single-split runs (files in the
directory itself) and k-fold runs (``fold<k>/`` inside it) never share a directory.

When a run writes what, and why "results" leave best.pt alone out: the first files of a run are
recipe.json (and a distillation teacher's cache); every epoch then ends with best.pt (when the epoch
improved), last.pt, metrics.jsonl, in that order; test.json, train_summary.json and folds_summary.json
come after training. So a directory without last.pt holds epoch rows or summaries only when last.pt was
deleted by hand, while a run killed between best.pt and last.pt of its first epoch leaves recipe.json and
best.pt alone, and must start again. That order is kept on purpose: best.pt before last.pt means a
resumed run never has a last.pt whose best epoch has no best.pt.
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import warnings
from pathlib import Path
from typing import Any, Iterator

import numpy as np

from ferkit.data.registry import ExperimentSplit
from ferkit.errors import CheckpointError, ConfigError, FerkitWarning
from ferkit.train.config import Recipe
from ferkit.train.state import RESUMABLE_KEYS, data_fingerprint

SUMMARY_FILES = ("test.json", "train_summary.json", "folds_summary.json")
RUN_FILES = ("last.pt", "best.pt", "metrics.jsonl")  # what marks a directory as holding a run of its own
FOLD_DIR = re.compile(r"fold\d+")  # the run directories of k-fold protocols (ExperimentSplit names)
FINGERPRINT_PARTS = {"class_names": "class names", "samples": "sample ids and labels", "images": "images"}


def metrics_rows(path: Path) -> int:
    """The number of epoch rows in a metrics.jsonl (0 when there is none); an unreadable log counts as one row."""
    try:
        return sum(1 for line in path.read_text().splitlines() if line.strip())
    except FileNotFoundError:
        return 0
    except (OSError, UnicodeDecodeError):
        return 1


def run_results(out: Path) -> list[str]:
    """What in ``out`` only a run that finished an epoch writes: epoch rows and summaries (best.pt named beside them).

    best.pt alone is not counted: it is what a run killed between best.pt and last.pt of its first epoch leaves.
    """
    rows = metrics_rows(out / "metrics.jsonl")
    held = ([f"metrics.jsonl ({rows} epoch{'s' if rows != 1 else ''})"] if rows else []) + [name for name in SUMMARY_FILES if (out / name).is_file()]
    if held and (out / "best.pt").is_file():
        held.insert(0, "best.pt")
    return held


def check_run_dir(out: Path, *, resume: bool) -> None:
    """Refuse to start a run over another: over its last.pt without ``resume``, or over its results when no last.pt is left;
    and to resume a run whose best.pt is gone (it trained every remaining epoch, then failed to score or left no model)."""
    if (out / "last.pt").exists():
        if not resume:
            raise ConfigError(f"{out} already holds a run (last.pt); pass --resume to continue it or choose another --out")
        if not (out / "best.pt").is_file() and metrics_rows(out / "metrics.jsonl"):
            raise ConfigError(f"{out} holds last.pt but its best.pt is missing (every finished epoch writes best.pt first, so it was "
                              "moved or deleted); put best.pt back to resume, or start a new run in another --out")
        return
    held = run_results(out)
    if held:  # e.g. a finished run whose last.pt was deleted: nothing to continue, and its results must not be overwritten
        raise ConfigError(f"{out} holds the results of a run ({', '.join(held)}) but no last.pt to continue it from; "
                          "choose another --out, or move those files away to train there again")


def check_epochs_grow(run_dir: Path, recipe: Recipe) -> None:
    """Refuse to resume a run with fewer epochs than it has trained (one metrics.jsonl row per trained epoch).

    It would train nothing, score the test split again and record the shorter recipe as the run's. Checked by
    ``train`` itself (every caller: ``ferkit train``, run_recipe.py, the Python API) and by ``train_folds`` for all
    chosen folds before the first trains.
    """
    trained = metrics_rows(run_dir / "metrics.jsonl")
    if recipe.epochs < trained:
        raise ConfigError(f"{run_dir} has trained {trained} epochs; it cannot be resumed with epochs={recipe.epochs} (a run only grows: "
                          "resume with at least that many epochs, or evaluate its best.pt)")


def check_fold_layout(out: Path, *, fold_dirs: bool) -> None:
    """Refuse to train k-fold runs (``fold_dirs``) in a single-split run's directory, or a single-split run among fold runs."""
    if not out.is_dir():
        return
    if fold_dirs:
        own = [name for name in RUN_FILES if (out / name).is_file()]
        if own:
            raise ConfigError(f"{out} holds a single-split run ({', '.join(own)}); a k-fold protocol would train fold0/, fold1/, ... "
                              "inside it and mix two experiments in one directory; choose another --out")
        return
    folds = sorted(sub.name for sub in out.iterdir() if sub.is_dir() and FOLD_DIR.fullmatch(sub.name) and any((sub / n).is_file() for n in RUN_FILES))
    if folds:
        raise ConfigError(f"{out} holds k-fold runs ({', '.join(f'{name}/' for name in folds)}); a single-split protocol trains in the "
                          "directory itself and would mix two experiments in one directory; choose another --out")


class RunLock:
    """An exclusive lock on a run directory while a process trains in it (``fcntl.flock`` on the folder).

    Why: two ``ferkit train`` into one --out both passed the checks before either wrote last.pt, then overwrote
    each other's checkpoints epoch by epoch (best.pt of one run beside last.pt of the other). The second is refused."""

    def __init__(self, out: Path) -> None:
        self.out, self.handle = out, None

    def acquire(self) -> None:
        import fcntl

        handle = os.open(self.out, os.O_RDONLY)
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            os.close(handle)
            raise ConfigError(f"another process is training in {self.out} now; wait for it to finish (or stop it), "
                              "or choose another --out") from None
        self.handle = handle

    def release(self) -> None:
        if self.handle is not None:
            os.close(self.handle)  # closing the descriptor drops the lock
            self.handle = None


RUN_WRITES = ("last.pt", "best.pt", "metrics.jsonl", "recipe.json", "curves.png", "train_summary.json", "test.json")


def sweep_temporaries(out: Path) -> list[Path]:
    """Remove the temporary files of a run's atomic writes that a killed process left (``.last.pt.<random>.tmp``:
    up to a checkpoint's size each, piling up with every kill). Called under the run's lock, so none is in use."""
    stale = [p for p in out.glob(".*.tmp") if any(p.name.startswith(f".{name}.") for name in RUN_WRITES)]
    for path in stale:
        path.unlink(missing_ok=True)
    return stale


@contextlib.contextmanager
def created_folder(out: Path) -> Iterator[None]:
    """Create ``out``; when the body fails and ``out`` is still empty, remove the folders this call created.

    Why: a run refused while it is built (a missing or unreadable init_weights file) leaves no empty --out behind.
    """
    missing = [folder for folder in (out, *out.parents) if not folder.exists()]
    out.mkdir(parents=True, exist_ok=True)
    try:
        yield
    except BaseException:
        for folder in missing:  # innermost first; stops at the first one something was written into
            try:
                folder.rmdir()
            except OSError:
                break
        raise


def check_resumable(state: dict[str, Any], recipe: Recipe, split: ExperimentSplit, path: Path) -> None:
    """Refuse to resume anything but a resumable last.pt of this recipe on this data.

    Only ``epochs`` may change, and only where the schedule does not depend on the total number of steps
    (step, plateau, none); fewer epochs than were trained are refused before (``check_epochs_grow``).
    """
    check_last_payload(state, path)
    check_same_recipe(state.get("recipe") or {}, recipe, path)
    check_same_data(state, split, path)


def check_steps_per_epoch(state: dict[str, Any], steps: int, recipe: Recipe, per_batch: bool, path: Path) -> None:
    """Refuse to continue a per-batch schedule (onecycle, cosine) with another number of steps per epoch than it was
    built for: one-cycle raised in the last epoch, cosine ended off its floor. The triplet and pair samplers keep a
    last partial batch, so their steps per epoch, ceil(N / (batch_size / W)) // W, can change with the number of
    ranks W. A last.pt written before the count was saved resumes as before."""
    saved_steps = state.get("steps_per_epoch")
    if not per_batch or saved_steps is None or saved_steps == steps:
        return
    raise ConfigError(f"{path} was trained with {saved_steps} optimizer steps per epoch and this launch takes {steps} (sampler "
                      f"{recipe.sampler!r} with another number of ranks); its {recipe.schedule} schedule was built for "
                      f"{saved_steps} x {recipe.epochs} steps. Resume with the number of ranks it was trained with, or start a new --out")


def check_last_payload(state: dict[str, Any], path: Path) -> None:
    """A last.pt carries the optimizer, random streams and history as well as the weights; a best.pt does not."""
    missing = [key for key in RESUMABLE_KEYS if key not in state]
    if not missing:
        return
    looks = "it looks like a best.pt: " if "val_metric" in state or "selected_on" in state else ""
    raise CheckpointError(f"{path} is not a resumable last.pt ({looks}it has no {', '.join(missing)}); a run continues only from the "
                          "last.pt it wrote itself. To start from these weights, train into another --out with --set init_weights=PATH")


def check_same_recipe(saved_recipe: dict[str, Any], recipe: Recipe, path: Path) -> None:
    current = recipe.to_dict()
    saved_epochs = saved_recipe.get("epochs", Recipe(name="").epochs)
    if saved_epochs != current["epochs"] and recipe.schedule in ("onecycle", "cosine"):
        raise ConfigError(f"{path} was trained for {saved_epochs} epochs with a {recipe.schedule} schedule over all of them; "
                          f"it cannot be resumed with epochs={current['epochs']} (start a new --out)")
    changes = recipe_changes(saved_recipe, current, ignore=("epochs",))
    if changes:
        raise ConfigError(f"{path} was trained with a different recipe (fields differ, saved -> current: {'; '.join(changes)}); "
                          "resume with the same recipe or use another --out")


def recipe_changes(saved_recipe: dict[str, Any], current: dict[str, Any], ignore: tuple[str, ...] = ()) -> list[str]:
    """``field: saved -> current`` for each field of ``current`` (a ``Recipe.to_dict()``) that the recorded recipe
    sets otherwise, the fields in ``ignore`` aside. Fields added to Recipe after a run started are compared at their
    default value, so old runs stay comparable; the description is prose about the recipe, not a setting, so
    correcting it does not stop a run from resuming; ``cpu_amp`` says how a host runs the recipe, like ``amp`` on
    CUDA (a CPU without native bf16 runs it in fp32; each epoch row logs its precision), so a run or fold started
    before its default became True still resumes and joins its siblings."""
    defaults = Recipe(name="").to_dict()
    ignore = (*ignore, "description", "cpu_amp")
    saved = {key: saved_recipe.get(key, defaults[key]) for key in current if key not in ignore}
    mine = {key: value for key, value in current.items() if key not in ignore}
    return differences(json.loads(json.dumps(saved)), json.loads(json.dumps(mine)))


def differences(saved: dict[str, Any], current: dict[str, Any], prefix: str = "") -> list[str]:
    """``field: saved -> current`` for each differing field, nested tables (augment, loss_kwargs) field by field."""
    out = []
    for key in sorted(set(saved) | set(current)):
        old, new = saved.get(key), current.get(key)
        if isinstance(old, dict) and isinstance(new, dict):
            out += differences(old, new, f"{prefix}{key}.")
        elif old != new:
            out.append(f"{prefix}{key}: {json.dumps(old)} -> {json.dumps(new)}")
    return out


DECODER_TOLERANCE = 2  # grey levels a quadrant's mean may move when only the JPEG decoder changed


class DataDriftWarning(FerkitWarning):
    """The training images decode a little differently from when the run was trained; the run resumes."""


def decoded_differently(saved_means: str | None, current_means: str) -> bool:
    """True when no image quadrant's mean moved by more than ``DECODER_TOLERANCE`` levels and they moved by a quarter
    level on average: the same images through another decoder. Other images under the same names (a re-export,
    another crop or alignment) move far more."""
    if not saved_means or len(saved_means) != len(current_means):
        return False
    before = np.frombuffer(bytes.fromhex(saved_means), np.uint8).astype(np.int16)
    after = np.frombuffer(bytes.fromhex(current_means), np.uint8).astype(np.int16)
    moved = np.abs(before - after)
    return bool(moved.size and moved.max() <= DECODER_TOLERANCE and moved.mean() <= 0.25)


def check_same_data(state: dict[str, Any], split: ExperimentSplit, path: Path) -> None:
    """Same split name and size; and, where last.pt recorded it, the same data fingerprint.

    A last.pt written before fingerprints were recorded has none: it is compared on what it recorded.
    """
    if state.get("split") != split.name or state.get("train_size") != len(split.train):
        raise ConfigError(f"{path} was trained on {state.get('split')} ({state.get('train_size')} images), not {split.name} ({len(split.train)})")
    saved = state.get("data_fingerprint")
    if not saved:
        return
    current = data_fingerprint(split.train)
    differ = [key for key in FINGERPRINT_PARTS if key in saved and saved[key] != current[key]]
    if not differ:
        return
    if differ == ["images"] and decoded_differently(saved.get("image_means"), current["image_means"]):
        warnings.warn(f"{path}: the training images' pixels differ slightly from those the run was trained on (each image quarter's "
                      f"mean within {DECODER_TOLERANCE} levels: another image decoder, e.g. an OpenCV upgrade); resuming", DataDriftWarning, stacklevel=2)
        return
    parts = ", ".join(FINGERPRINT_PARTS[key] for key in differ)
    classes = f" (classes {saved['class_names']} -> {current['class_names']})" if "class_names" in differ else ""
    raise ConfigError(f"{path} was trained on other data than this {split.name} training set of {len(split.train)} images: its {parts} differ{classes}; "
                      "resume with the data the run was trained on, or start a new run in another --out")
