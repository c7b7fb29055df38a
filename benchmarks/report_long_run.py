"""The ``long_run`` block of docs/training_on_cpu.md (issue 15): how far the long run has come, attempt by attempt.

Reads the committed per-epoch logs of the run chosen by the equal-time study
(benchmarks/results/logs/<run>/metrics.jsonl, and ``metrics.until-<date>.jsonl`` for an attempt whose runs/ folder
was lost and restarted from nothing; see collect_logs.py) and the run's result JSON once it has finished. The best
epoch is chosen on PublicTest; PrivateTest is not read here.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any, Callable

sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import RESULTS  # noqa: E402

from ferkit.train.recipes import get_recipe  # noqa: E402


def long_run_name() -> str | None:
    """The long run's recipe: the equal-time study's choice with ``cpu-study`` renamed ``cpu-long``."""
    study = RESULTS / "cpu_hour_study.json"
    if not study.exists():
        return None
    return json.loads(study.read_text())["chosen"].replace("cpu-study", "cpu-long")


def read_rows(path: Path) -> list[dict[str, Any]]:
    return [json.loads(line) for line in path.read_text().splitlines() if line.strip()]


def attempts(run: str) -> list[tuple[str, list[dict[str, Any]]]]:
    """(label, rows) per attempt, oldest first: lost attempts by their ``until`` date, then the current log."""
    folder = RESULTS / "logs" / run
    lost = sorted(folder.glob("metrics.until-*.jsonl"))
    found = [(f"lost {p.stem.removeprefix('metrics.until-')}", read_rows(p)) for p in lost]
    if (folder / "metrics.jsonl").exists():
        found.append(("current", read_rows(folder / "metrics.jsonl")))
    return found


def cpu_hours(rows: list[dict[str, Any]]) -> str:
    """Core-hours of CPU time over the epochs that logged it (the trainer has since 2026-12-01; a pause
    or a shared core stretches the wall time but not this), and which epochs those are."""
    logged = [r for r in rows if "cpu_time_s" in r]
    if not logged:
        return "not logged"
    hours = sum(r["cpu_time_s"] for r in logged) / 3600
    if len(logged) == len(rows):
        return f"{hours:.1f}"
    return f"{hours:.1f} (epochs {logged[0]['epoch']}-{logged[-1]['epoch']})"


def attempt_row(label: str, rows: list[dict[str, Any]], planned: int, finished: bool) -> str:
    if not rows:
        return f"| {label} | 0 / {planned} | – | – | – | – | – |"
    best = max(rows, key=lambda r: r.get("val_accuracy", -1.0))
    hours = sum(r["epoch_time_s"] for r in rows) / 3600
    status = "finished" if finished else ("lost with its runs/ folder" if label.startswith("lost") else "training")
    return (f"| {label} | {rows[-1]['epoch']} / {planned} | {hours:.1f} | {cpu_hours(rows)} | {100 * best['val_accuracy']:.2f} (epoch {best['epoch']}) | "
            f"{100 * rows[-1]['val_accuracy']:.2f} | {status} |")


def block_long_run() -> str:
    run = long_run_name()
    if run is None:
        return "The equal-time study has not chosen a network yet: `bash benchmarks/queue_cpu_hour.sh`."
    recipe = get_recipe(run)
    found = attempts(run)
    if not found:
        return f"`{run}` has not logged an epoch yet: `bash benchmarks/queue_cpu_hour.sh`."
    finished = (RESULTS / f"{run}.json").exists()
    lines = ["| Attempt | Epochs logged / planned | Training hours (sum of epoch times) | CPU core-hours | Best PublicTest so far | "
             "PublicTest, last epoch | Status |",
             "|---|---|---|---|---|---|---|"]
    lines += [attempt_row(label, rows, recipe.epochs, finished and label == "current") for label, rows in found]
    lines.append(f"\n`{run}`: {recipe.description} (the recipe's hours are the plan's estimate, the table's are measured). "
                 "Epoch times vary with the threads it was given, "
                 "the host of the session and what shared the CPU. PublicTest mid-run is read under a one-cycle learning rate "
                 "that is still high: it is progress, not the run's result. Epoch times are wall clock and include the minutes the run was "
                 "paused (SIGSTOP) for benchmarks and test runs; CPU core-hours count only the time it computed, all threads together.")
    return "\n".join(lines)


BLOCKS: dict[str, Callable[[], str]] = {"long_run": block_long_run}
