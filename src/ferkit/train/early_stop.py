"""Early stopping on the validation split, decided from the run's epoch rows alone.

The decision reads only ``history`` (the rows saved in last.pt), never a counter of its own, so a
run stopped and resumed stops at the same epoch as an uninterrupted one, and a run that already
stopped is recognised as finished when it is resumed. The metric is the one that chooses best.pt
(``val_<select_metric>``, with the same rule, ``ferkit.train.validate.better``: strictly better than every earlier
epoch, or equal with a lower validation loss when ``select_ties`` says so), so the test split is never looked at.
"""

from __future__ import annotations

from typing import Any

from ferkit.train.config import Recipe
from ferkit.train.validate import better


def early_stop(history: list[dict[str, Any]], recipe: Recipe) -> dict[str, Any] | None:
    """The stop due after the epochs in ``history``, or None to keep training.

    Due when the last ``recipe.early_stop_patience`` epochs did not improve on the best validation
    score and at least ``recipe.early_stop_min_epochs`` epochs have run. Returns the record kept in
    the stopping epoch's row: ``{"epoch", "best_epoch", "patience", "metric", "best_val"}``.
    """
    patience, metric = recipe.early_stop_patience, f"val_{recipe.select_metric}"
    if patience is None or not history or any(metric not in row for row in history):
        return None  # off, nothing trained yet, or no validation scores to watch
    best = None
    for row in history:
        if better(row, best, metric, recipe.select_ties):  # the rule of validate.select
            best = row
    best_epoch, best_val = best["epoch"], best[metric]
    epoch = history[-1]["epoch"]
    if epoch - best_epoch < patience or epoch < recipe.early_stop_min_epochs:
        return None
    return {"epoch": epoch, "best_epoch": best_epoch, "patience": patience, "metric": metric, "best_val": best_val}


def stop_line(stop: dict[str, Any], epochs: int) -> str:
    """The one line a run logs when it stops early (or is resumed after it did)."""
    return (f"early stop after epoch {stop['epoch']}/{epochs}: {stop['metric']} has not improved for {stop['epoch'] - stop['best_epoch']} "
            f"epochs (patience {stop['patience']}); best.pt is epoch {stop['best_epoch']} ({stop['metric']} {stop['best_val']:.4f})")
