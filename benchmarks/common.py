"""Shared by the benchmark scripts: provenance (device, commit, wall time) and atomic result files."""

from __future__ import annotations

import platform
import subprocess
import time
from pathlib import Path
from typing import Any

import torch

from ferkit.io_utils import atomic_write_json

REPO = Path(__file__).resolve().parents[1]
RESULTS = REPO / "benchmarks" / "results"
SHARED_DATA = REPO.parent / "shared" / "data"


def device_name(device: str = "cpu") -> str:
    if device.startswith("cuda") and torch.cuda.is_available():
        return torch.cuda.get_device_name(0)
    return f"cpu: {platform.processor() or platform.machine()}, {torch.get_num_threads()} torch threads, {_cpu_count()} cores"


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


def write_result(name: str, payload: dict[str, Any]) -> Path:
    path = atomic_write_json(RESULTS / f"{name}.json", payload)
    print(f"wrote {path}")
    return path
