"""Run logs and checkpoints survive a lost runs/ folder: collect_logs.py keeps a committed log that a restarted run
does not continue, and mirror_runs.sh copies runs/ into a separate work tree and back, whole files only."""

import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "benchmarks"))
import collect_logs  # noqa: E402

MIRROR = Path(__file__).resolve().parents[1] / "benchmarks" / "mirror_runs.sh"


def test_a_log_that_continues_the_committed_one_replaces_it(tmp_path):
    target, source = tmp_path / "metrics.jsonl", tmp_path / "new.jsonl"
    target.write_text('{"epoch": 1}\n')
    source.write_text('{"epoch": 1}\n{"epoch": 2}\n')
    collect_logs.copy_log(source, target)
    assert target.read_text() == source.read_text()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["metrics.jsonl", "new.jsonl"]


def test_a_restarted_log_moves_the_committed_one_aside(tmp_path):
    target, source = tmp_path / "metrics.jsonl", tmp_path / "new.jsonl"
    target.write_text('{"epoch": 1, "val": 0.3}\n{"epoch": 2, "val": 0.4}\n')
    source.write_text('{"epoch": 1, "val": 0.2}\n')
    os.utime(target, (0, 0))  # 1970-01-01 00:00 UTC
    collect_logs.copy_log(source, target)
    assert target.read_text() == source.read_text()
    kept = tmp_path / "metrics.until-1970-01-01T0000.jsonl"
    assert kept.read_text() == '{"epoch": 1, "val": 0.3}\n{"epoch": 2, "val": 0.4}\n'


def mirror(repo: Path, *args: str) -> None:
    env = {**os.environ, "KEEP": str(repo.parent / "keep")}
    subprocess.run(["bash", str(repo / "benchmarks" / "mirror_runs.sh"), *args], env=env, check=True, timeout=60)


def test_the_mirror_copies_runs_out_and_back(tmp_path):
    repo = tmp_path / "repo"
    (repo / "benchmarks").mkdir(parents=True)
    shutil.copy(MIRROR, repo / "benchmarks")
    run = repo / "runs" / "long"
    run.mkdir(parents=True)
    (run / "last.pt").write_bytes(b"epoch 3")
    (run / "last.pt.tmp").write_bytes(b"half a checkpoint")  # a write in progress is not mirrored
    mirror(repo, "once")
    keep = tmp_path / "keep"
    assert (keep / ".git").is_dir()
    assert (keep / "runs" / "long" / "last.pt").read_bytes() == b"epoch 3"
    assert not (keep / "runs" / "long" / "last.pt.tmp").exists()
    time.sleep(1.1)
    (run / "last.pt").write_bytes(b"epoch 4")  # newer: copied again
    mirror(repo, "once")
    assert (keep / "runs" / "long" / "last.pt").read_bytes() == b"epoch 4"
    shutil.rmtree(repo / "runs")  # the machine lost runs/
    mirror(repo, "restore")
    assert (run / "last.pt").read_bytes() == b"epoch 4"
    assert not list(keep.glob("**/*.mirror-tmp"))


def test_the_long_run_block_lists_a_lost_attempt_and_the_current_one(tmp_path, monkeypatch):
    import json

    import report_long_run

    monkeypatch.setattr(report_long_run, "RESULTS", tmp_path)
    run = "fer2013-cpu-long-modres18-kd-v1"
    (tmp_path / "cpu_hour_study.json").write_text(json.dumps({"chosen": "fer2013-cpu-study-modres18-kd-v1"}))
    logs = tmp_path / "logs" / run
    logs.mkdir(parents=True)

    def rows(accs: list[float], cpu_from: int | None = None) -> str:
        """Epoch rows of 1,800 s each; from epoch ``cpu_from`` on they also log 2,700 CPU seconds (1.5 cores)."""
        out = []
        for i, a in enumerate(accs):
            row = {"epoch": i + 1, "epoch_time_s": 1800.0, "val_accuracy": a}
            if cpu_from is not None and i + 1 >= cpu_from:
                row["cpu_time_s"] = 2700.0
            out.append(json.dumps(row) + "\n")
        return "".join(out)

    (logs / "metrics.until-2026-12-01T0659.jsonl").write_text(rows([0.3, 0.5, 0.45]))
    (logs / "metrics.jsonl").write_text(rows([0.25, 0.3, 0.35], cpu_from=2))
    block = report_long_run.block_long_run()
    assert "| lost 2026-12-01T0659 | 3 / 280 | 1.5 | not logged | 50.00 (epoch 2) | 45.00 | lost with its runs/ folder |" in block
    # wall hours for all three epochs; core-hours only for the two that logged their CPU time
    assert "| current | 3 / 280 | 1.5 | 1.5 (epochs 2-3) | 35.00 (epoch 3) | 35.00 | training |" in block
    (tmp_path / f"{run}.json").write_text("{}")
    assert "| current | 3 / 280 | 1.5 | 1.5 (epochs 2-3) | 35.00 (epoch 3) | 35.00 | finished |" in report_long_run.block_long_run()
