"""The ``long_run`` block of docs/training_on_cpu.md (issue 15): how far the long run has come, attempt by attempt.

Reads the committed per-epoch logs of the run chosen by the equal-time study and of its bf16 twin
(benchmarks/results/logs/<run>/metrics.jsonl, and ``metrics.until-<date>.jsonl`` for an attempt whose runs/ folder
was lost and restarted from nothing; see collect_logs.py) and the run's result JSON once it has finished. The best
epoch is chosen on PublicTest; PrivateTest is not read here.
"""

from __future__ import annotations

import json
import re
import sys
from pathlib import Path
from typing import Any, Callable

sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import RESULTS  # noqa: E402

from ferkit.train.recipes import get_recipe  # noqa: E402


def long_run_names() -> list[str]:
    """The long run's recipes, oldest first: the equal-time study's choice with ``cpu-study`` renamed ``cpu-long``
    (fp32), then its bf16 twin (``-bf16-vN``), which the queue trains since the fp32 attempts were lost and the bf16
    check (fer2013-bf16check-*) showed bf16 costs no accuracy. The last one is the run the queues train and wait for."""
    study = RESULTS / "cpu_hour_study.json"
    if not study.exists():
        return []
    fp32 = json.loads(study.read_text())["chosen"].replace("cpu-study", "cpu-long")
    return [fp32, re.sub(r"-v(\d+)$", r"-bf16-v\1", fp32)]


def long_run_name() -> str | None:
    """The recipe the long-run queue trains now (``python benchmarks/report_long_run.py --name`` prints it)."""
    names = long_run_names()
    return names[-1] if names else None


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


def attempt_row(run: str, label: str, rows: list[dict[str, Any]], planned: int, status: str) -> str:
    if not rows:
        return f"| `{run}` | {label} | 0 / {planned} | – | – | – | – | {status} |"
    best = max(rows, key=lambda r: r.get("val_accuracy", -1.0))
    hours = sum(r["epoch_time_s"] for r in rows) / 3600
    precision = "/".join(sorted({r.get("precision", "fp32") for r in rows}))
    return (f"| `{run}` | {label} | {rows[-1]['epoch']} / {planned} | {precision} | {hours:.1f} | {cpu_hours(rows)} | "
            f"{100 * best['val_accuracy']:.2f} (epoch {best['epoch']}) | {100 * rows[-1]['val_accuracy']:.2f} | {status} |")


def equal_epochs(found: list[tuple[str, str, list[dict[str, Any]]]]) -> str:
    """Every attempt's best PublicTest up to the last attempt's epoch: the runs side by side at equal training
    (attempts of one recipe in fp32 and in bf16 share the schedule, so their curves compare epoch for epoch)."""
    last = found[-1][2]
    if not last:
        return ""
    epoch = last[-1]["epoch"]
    cells = []
    for number, (_, _, rows) in enumerate(found, 1):
        upto = [r for r in rows if r["epoch"] <= epoch and "val_accuracy" in r]
        if upto and upto[-1]["epoch"] == epoch:  # an attempt lost before this epoch has no figure here
            best = max(upto, key=lambda r: r["val_accuracy"])
            precision = "/".join(sorted({r.get("precision", "fp32") for r in upto}))
            cells.append(f"attempt {number} ({precision}) {100 * best['val_accuracy']:.2f}")
    return f"\nBest PublicTest by epoch {epoch} (the last attempt's last): " + ", ".join(cells) + "." if len(cells) > 1 else ""


def block_long_run() -> str:
    names = long_run_names()
    if not names:
        return "The equal-time study has not chosen a network yet: `bash benchmarks/queue_cpu_hour.sh`."
    found = [(run, label, rows) for run in names for label, rows in attempts(run)]
    if not found:
        return f"`{names[-1]}` has not logged an epoch yet: `bash benchmarks/queue_cpu_hour.sh`."
    lines = ["| Recipe | Attempt | Epochs logged / planned | Precision | Training hours (sum of epoch times) | CPU core-hours | "
             "Best PublicTest so far | PublicTest, last epoch | Status |",
             "|---|---|---|---|---|---|---|---|---|"]
    for number, (run, label, rows) in enumerate(found, 1):
        if label == "current" and (RESULTS / f"{run}.json").exists():
            status = "finished"
        elif label == "current" and run == names[-1]:
            status = "training"
        else:
            status = "lost with its runs/ folder"
        when = f" (log kept as until-{label.removeprefix('lost ')})" if label.startswith("lost") else ""
        lines.append(attempt_row(run, f"{number}{when}", rows, get_recipe(run).epochs, status))
    lines.append(equal_epochs(found))
    for run in names:
        lines.append(f"\n`{run}`: {get_recipe(run).description}.")
    lines.append("\nEpoch times vary with the threads a run was given, the host of the session (AVX2 Zen 3 or AVX512-BF16 Zen 4) "
                 "and what shared the CPU. PublicTest mid-run is read under a one-cycle learning rate "
                 "that is still high: it is progress, not the run's result. Epoch times are wall clock and include the minutes the run was "
                 "paused (SIGSTOP) for benchmarks and test runs; CPU core-hours count only the time it computed, all threads together.")
    return "\n".join(lines)


BF16_CHECK = ("fer2013-bf16check-fp32-v1", "fer2013-bf16check-bf16-v1")


def block_bf16_check() -> str:
    """Issue 15's bf16 accuracy check: the same seeded 10-epoch run in fp32 and in bf16 autocast, side by side."""
    logs = {run: RESULTS / "logs" / run / "metrics.jsonl" for run in BF16_CHECK}
    if not all(path.exists() for path in logs.values()):
        return "Not run yet: `bash benchmarks/queue_bf16_check.sh` (needs a CPU with AVX512-BF16 or AMX)."
    lines = ["| Run | Precision | Epochs | Mean epoch (s) | Mean training img/s | Best PublicTest (epoch) | PublicTest, last epoch | "
             "PrivateTest, flip (read once, not used to choose) | PrivateTest, every face occluded, flip |",
             "|---|---|---|---|---|---|---|---|---|"]
    per_epoch = {}
    for run, path in logs.items():
        rows = read_rows(path)
        per_epoch[run] = [r["val_accuracy"] for r in rows]
        best = max(rows, key=lambda r: r["val_accuracy"])
        result = json.loads((RESULTS / f"{run}.json").read_text()) if (RESULTS / f"{run}.json").exists() else {}
        summary = result.get("summary", {})
        test = lambda key: f"{100 * summary[key]['mean_accuracy']:.2f}" if key in summary else "–"  # noqa: E731
        lines.append(f"| `{run}` | {rows[-1].get('precision', 'fp32')} | {rows[-1]['epoch']} | {sum(r['epoch_time_s'] for r in rows) / len(rows):.1f} | "
                     f"{sum(r['images_per_s'] for r in rows) / len(rows):.0f} | {100 * best['val_accuracy']:.2f} ({best['epoch']}) | "
                     f"{100 * rows[-1]['val_accuracy']:.2f} | {test('clean_flip')} | {test('occ_all_flip')} |")
    a, b = per_epoch.values()
    gaps = [100 * (y - x) for x, y in zip(a, b)]
    lines.append(f"\nPublicTest, bf16 minus fp32, epoch by epoch: {', '.join(f'{g:+.2f}' for g in gaps)} points. Both runs: the same recipe, "
                 "seed and data order on both cores of one host, one after the other (benchmarks/queue_bf16_check.sh); "
                 f"{json.loads((RESULTS / f'{BF16_CHECK[1]}.json').read_text()).get('device', '?') if (RESULTS / f'{BF16_CHECK[1]}.json').exists() else ''}.")
    return "\n".join(lines)


BLOCKS: dict[str, Callable[[], str]] = {"long_run": block_long_run, "bf16_check": block_bf16_check}

if __name__ == "__main__":
    if sys.argv[1:] == ["--name"]:
        print(long_run_name() or "")
    else:
        print(block_long_run())
