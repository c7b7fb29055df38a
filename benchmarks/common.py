"""Shared by the benchmark scripts: provenance (device, commit, wall time), atomic result files, ensemble subset choice."""

from __future__ import annotations

import itertools
import os
import subprocess
import time
from pathlib import Path
from typing import Any

import numpy as np
import torch

from ferkit.io_utils import atomic_write_json

REPO = Path(__file__).resolve().parents[1]
RESULTS = REPO / "benchmarks" / "results"
SHARED_DATA = Path(os.environ.get("FERKIT_SHARED_DATA", REPO.parent / "shared" / "data"))  # as the tests read it

# What a speed figure's CPU was doing besides: this machine trains almost all the time (see --quiet-cpu).
SHARED_CPU_NOTE = "measured on 2 CPU cores shared with a running training job: lower bounds of an idle machine"
QUIET_CPU_NOTE = "measured with the training jobs paused (SIGSTOP): both cores free apart from system noise"


def device_name(device: str = "cpu") -> str:
    if device.startswith("cuda") and torch.cuda.is_available():
        return torch.cuda.get_device_name(0)
    from ferkit.devices import cpu_model

    return f"cpu: {cpu_model()}, {torch.get_num_threads()} torch threads, {_cpu_count()} cores"


def _cpu_count() -> int:
    import os

    return len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (os.cpu_count() or 1)


def git_commit() -> str:
    try:
        out = subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=REPO, capture_output=True, text=True, check=True).stdout.strip()
        dirty = subprocess.run(["git", "status", "--porcelain", "--untracked-files=no"], cwd=REPO, capture_output=True, text=True).stdout.strip()
        return out + ("+dirty" if dirty else "")
    except (OSError, subprocess.CalledProcessError):
        return "unknown"


def provenance(device: str = "cpu", started: float | None = None) -> dict[str, Any]:
    info = {"device": device_name(device), "torch": torch.__version__, "commit": git_commit(), "date": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime())}
    if started is not None:
        info["wall_time_s"] = round(time.perf_counter() - started, 1)
    return info


def shipped_single_network(folder: Path) -> Path:
    """One network of the shipped model as a checkpoint file in ``folder``: its first member when it is an ensemble,
    else the shipped file itself (issue 15's choice may ship a single network). The speed and detector benchmarks
    time this one network beside the shipped model."""
    from ferkit.artifacts import load_checkpoint, member_checkpoint, save_checkpoint
    from ferkit.weights import default_model_path

    shipped = default_model_path()
    if load_checkpoint(shipped)["model_name"] != "ensemble":
        return shipped
    return save_checkpoint(Path(folder) / "member0.pt", member_checkpoint(shipped, 0))


def write_result(name: str, payload: dict[str, Any]) -> Path:
    path = atomic_write_json(RESULTS / f"{name}.json", payload)
    print(f"wrote {path}")
    return path


def choose_subset(probabilities: list[np.ndarray], labels: np.ndarray, max_members: int | None = None) -> tuple[tuple[int, ...], list[dict]]:
    """Every non-empty subset's validation accuracy (up to max_members); the best one (fewest members on a tie)."""
    scored = []
    for size in range(1, min(len(probabilities), max_members or len(probabilities)) + 1):
        for subset in itertools.combinations(range(len(probabilities)), size):
            mean = np.mean([probabilities[i] for i in subset], axis=0)
            scored.append({"members": list(subset), "val_accuracy": float((mean.argmax(1) == labels).mean())})
    best = max(scored, key=lambda row: (row["val_accuracy"], -len(row["members"])))
    return tuple(best["members"]), scored
