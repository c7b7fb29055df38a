"""Run logs and checkpoints survive a lost runs/ folder: collect_logs.py keeps a committed log that a restarted run
does not continue, and mirror_runs.sh copies the long runs' folders into an untracked folder of the work tree and
back, whole files only."""

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
    env = {**os.environ, "PATTERNS": "long*"}
    subprocess.run(["bash", str(repo / "benchmarks" / "mirror_runs.sh"), *args], env=env, check=True, timeout=60)


def repo_with_a_long_run(tmp_path: Path) -> tuple[Path, Path]:
    """A repository layout holding mirror_runs.sh and an empty run folder ``runs/long``: (repo, run)."""
    repo = tmp_path / "repo"
    (repo / "benchmarks").mkdir(parents=True)
    shutil.copy(MIRROR, repo / "benchmarks")
    run = repo / "runs" / "long"
    run.mkdir(parents=True)
    return repo, run


def test_the_mirror_copies_runs_out_and_back(tmp_path):
    repo, run = repo_with_a_long_run(tmp_path)
    (repo / "runs" / "ckplus-short").mkdir()
    (repo / "runs" / "ckplus-short" / "last.pt").write_bytes(b"not named by PATTERNS")
    (run / "last.pt").write_bytes(b"epoch 3")
    (run / "last.pt.tmp").write_bytes(b"half a checkpoint")  # a write in progress is not mirrored
    mirror(repo, "once")
    keep = repo / "runs-keep"  # inside the work tree, untracked: what a recovered checkout brings back
    assert (keep / "long" / "last.pt").read_bytes() == b"epoch 3"
    assert not (keep / "long" / "last.pt.tmp").exists()
    assert not (keep / "ckplus-short").exists()
    time.sleep(1.1)
    (run / "last.pt").write_bytes(b"epoch 4")  # newer: copied again
    mirror(repo, "once")
    assert (keep / "long" / "last.pt").read_bytes() == b"epoch 4"
    shutil.rmtree(repo / "runs")  # the machine lost runs/
    mirror(repo, "restore")
    assert (run / "last.pt").read_bytes() == b"epoch 4"
    assert sorted(p.name for p in (repo / "runs").iterdir()) == ["long"]  # the mirror's README stays there
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
    fp32 = f"| `{run}` "
    assert fp32 + "| 1 (log kept as until-2026-12-01T0659) | 3 / 280 | fp32 | 1.5 | not logged | 50.00 (epoch 2) | 45.00 | lost with its runs/ folder |" in block
    # the fp32 recipe's log is no longer the run being trained: its bf16 twin is
    assert fp32 + "| 2 | 3 / 280 | fp32 | 1.5 | 1.5 (epochs 2-3) | 35.00 (epoch 3) | 35.00 | lost with its runs/ folder |" in block
    twin = "fer2013-cpu-long-modres18-kd-bf16-v1"
    assert report_long_run.long_run_name() == twin
    (tmp_path / "logs" / twin).mkdir()
    (tmp_path / "logs" / twin / "metrics.jsonl").write_text(rows([0.25, 0.3, 0.35], cpu_from=2).replace('"epoch_time_s"', '"precision": "bf16", "epoch_time_s"'))
    block = report_long_run.block_long_run()
    # wall hours for all three epochs; core-hours only for the two that logged their CPU time
    assert f"| `{twin}` | 3 | 3 / 280 | bf16 | 1.5 | 1.5 (epochs 2-3) | 35.00 (epoch 3) | 35.00 | training |" in block
    # the attempts side by side at the last attempt's epoch: all three reached epoch 3
    assert "Best PublicTest by epoch 3 (the last attempt's last): attempt 1 (fp32) 50.00, attempt 2 (fp32) 35.00, attempt 3 (bf16) 35.00." in block
    (tmp_path / f"{twin}.json").write_text("{}")
    assert f"| `{twin}` | 3 | 3 / 280 | bf16 | 1.5 | 1.5 (epochs 2-3) | 35.00 (epoch 3) | 35.00 | finished |" in report_long_run.block_long_run()
    (tmp_path / "logs" / twin / "metrics.jsonl").write_text(rows([0.25, 0.3, 0.35, 0.4]).replace('"epoch_time_s"', '"precision": "bf16", "epoch_time_s"'))
    assert "Best PublicTest by epoch 4" not in report_long_run.block_long_run()  # none to compare


def test_the_bf16_check_block_sets_the_two_runs_side_by_side(tmp_path, monkeypatch):
    import json

    import report_long_run

    monkeypatch.setattr(report_long_run, "RESULTS", tmp_path)
    assert report_long_run.block_bf16_check().startswith("Not run yet")
    fp32, bf16 = report_long_run.BF16_CHECK
    for run, accs, seconds, precision in ((fp32, [0.30, 0.50], 80.0, "fp32"), (bf16, [0.31, 0.49], 50.0, "bf16")):
        (tmp_path / "logs" / run).mkdir(parents=True)
        (tmp_path / "logs" / run / "metrics.jsonl").write_text("".join(
            json.dumps({"epoch": i + 1, "val_accuracy": a, "epoch_time_s": seconds, "images_per_s": 28709 / seconds, "precision": precision}) + "\n"
            for i, a in enumerate(accs)))
    (tmp_path / f"{bf16}.json").write_text(json.dumps({"device": "cpu: Zen 4", "summary": {"clean_flip": {"mean_accuracy": 0.5}}}))
    block = report_long_run.block_bf16_check()
    assert f"| `{fp32}` | fp32 | 2 | 80.0 | 359 | 50.00 (2) | 50.00 | – | – |" in block
    assert f"| `{bf16}` | bf16 | 2 | 50.0 | 574 | 49.00 (2) | 49.00 | 50.00 | – |" in block
    assert "epoch by epoch: +1.00, -1.00 points" in block and "cpu: Zen 4" in block


def test_a_log_resumed_from_an_older_copy_is_not_a_new_attempt(tmp_path):
    """runs/ restored from the mirror, 10 minutes behind: the same first epochs, then epochs trained again."""
    target, source = tmp_path / "metrics.jsonl", tmp_path / "new.jsonl"
    target.write_text('{"epoch": 1, "t": 60.1}\n{"epoch": 2, "t": 61.0}\n{"epoch": 3, "t": 59.9}\n')
    source.write_text('{"epoch": 1, "t": 60.1}\n')  # restored, not yet past the committed log: left alone
    collect_logs.copy_log(source, target)
    assert target.read_text().count("\n") == 3 and len(list(tmp_path.iterdir())) == 2
    source.write_text('{"epoch": 1, "t": 60.1}\n{"epoch": 2, "t": 64.2}\n')  # epoch 2 trained again
    os.utime(target, (0, 0))
    collect_logs.copy_log(source, target)
    assert target.read_text() == source.read_text()
    assert (tmp_path / "metrics.rewound-1970-01-01T0000.jsonl").exists()
    assert not list(tmp_path.glob("metrics.until-*"))


def test_a_run_restarted_before_the_restore_does_not_overwrite_its_mirror(tmp_path):
    repo, run = repo_with_a_long_run(tmp_path)
    (run / "metrics.jsonl").write_text('{"epoch": 1}\n{"epoch": 2}\n{"epoch": 3}\n')
    (run / "last.pt").write_bytes(b"epoch 3")
    mirror(repo, "once")
    shutil.rmtree(repo / "runs")
    run.mkdir(parents=True)  # started from nothing instead of restored: newer files, fewer epochs
    time.sleep(1.1)
    (run / "metrics.jsonl").write_text('{"epoch": 1}\n')
    (run / "last.pt").write_bytes(b"epoch 1 of a fresh start")
    mirror(repo, "once")
    assert (repo / "runs-keep" / "long" / "last.pt").read_bytes() == b"epoch 3"


def test_a_finished_runs_mirror_keeps_its_best_weights_and_drops_last_pt(tmp_path):
    """Once a run's results JSON is committed, the mirror holds best.pt and the logs, not the optimizer state."""
    repo, run = repo_with_a_long_run(tmp_path)
    (run / "metrics.jsonl").write_text('{"epoch": 1}\n')
    (run / "last.pt").write_bytes(b"epoch 1 with optimizer state")
    (run / "best.pt").write_bytes(b"best weights")
    mirror(repo, "once")
    keep = repo / "runs-keep" / "long"
    assert (keep / "last.pt").exists()  # still training: everything a resume needs
    git = ["git", "-C", str(repo), "-c", "user.name=t", "-c", "user.email=t@t"]
    subprocess.run([*git, "init", "-q"], check=True)
    (repo / "benchmarks" / "results").mkdir()
    (repo / "benchmarks" / "results" / "long.json").write_text("{}")
    mirror(repo, "once")
    assert (keep / "last.pt").exists()  # written but not committed: not yet finished
    subprocess.run([*git, "add", "benchmarks/results/long.json"], check=True)
    subprocess.run([*git, "commit", "-q", "-m", "results"], check=True)
    mirror(repo, "once")
    assert not (keep / "last.pt").exists() and (keep / "best.pt").read_bytes() == b"best weights"
    assert (keep / "metrics.jsonl").exists() and (run / "last.pt").exists()  # runs/ itself is untouched
