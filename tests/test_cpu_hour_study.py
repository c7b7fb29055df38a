"""The equal-time study's clock: every candidate's minutes are idle-core minutes, the teacher's cost included the
way each distillation mode pays it (one pass up front when cached, a pass per batch when online)."""

import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "benchmarks"))
import cpu_hour_study as study  # noqa: E402


def test_plain_run_counts_idle_epochs_whatever_the_wall_time():
    rows = [{"epoch_time_s": 600.0, "val_accuracy": 0.3}, {"epoch_time_s": 900.0, "val_accuracy": 0.4}]
    assert study.curve(rows, idle_epoch_s=300.0) == [(5.0, 0.3), (10.0, 0.4)]


def test_cached_teacher_pass_is_stretched_like_the_epoch_it_shared_the_cpu_with():
    # the epoch took twice its idle time, so the 240 s teacher pass counts as 120 idle seconds
    rows = [{"epoch_time_s": 600.0, "teacher_time_s": 240.0, "val_accuracy": 0.3}, {"epoch_time_s": 300.0, "val_accuracy": 0.5}]
    assert study.curve(rows, idle_epoch_s=300.0) == [(7.0, 0.3), (12.0, 0.5)]


def test_online_teacher_passes_are_split_out_of_the_epoch_and_added_back_stretched():
    # 900 s in all, 300 s of them teacher passes: the student's 600 s are twice idle, so the teacher adds 150 idle s
    rows = [{"epoch_time_s": 900.0, "teacher_forward_s": 300.0, "val_accuracy": 0.3}]
    assert study.curve(rows, idle_epoch_s=300.0) == [(7.5, 0.3)]
    with_build = [{**rows[0], "teacher_time_s": 60.0}]  # loading the teacher counts too
    assert study.curve(with_build, idle_epoch_s=300.0)[0][0] == pytest.approx(8.0)


def test_the_distillation_ablation_is_never_a_long_run_candidate():
    assert not set(study.DISTILLATION) & set(study.CANDIDATES)


def test_idle_epoch_comes_from_the_speed_row_of_the_runs_own_day(tmp_path, monkeypatch):
    """A later re-measure on a faster host must not rescale runs trained before it."""
    import json

    def row(date: str, epoch_s: float, threads: str = "2 x 1") -> dict:
        return {"date": date, "model": "modified_resnet18", "dtype": "fp32", "runs_x_threads": threads, "channels_last": True,
                "compile": False, "fer2013_epoch_s": epoch_s}

    table = {"rows": [row("2026-12-01 07:58 UTC", 80.0), row("2026-11-30 11:34 UTC", 135.0), row("2026-11-30 11:34 UTC", 160.0, "1 x 2")]}
    (tmp_path / "cpu_training_speed.json").write_text(json.dumps(table))
    monkeypatch.setattr(study, "RESULTS", tmp_path)
    assert study.idle_epoch_seconds("modified_resnet18", {}, "2026-11-30 13:08 UTC") == 270.0
    assert study.idle_epoch_seconds("modified_resnet18", {}, "2026-12-02 09:00 UTC") == 160.0
    assert study.idle_epoch_seconds("modified_resnet18", {}, "2026-11-29 09:00 UTC") == 270.0  # older than every row: the earliest
    assert study.idle_epoch_seconds("resnet18", {}, "2026-11-30 13:08 UTC") is None


def test_a_study_that_only_differs_in_provenance_is_not_rewritten(tmp_path):
    import json

    path = tmp_path / "cpu_hour_study.json"
    assert not study.unchanged(path, {"chosen": "a"})
    path.write_text(json.dumps({"date": "2026-11-30 13:00 UTC", "commit": "abc", "chosen": "a", "candidates": [{"curve": [(1.0, 0.5)]}]}))
    assert study.unchanged(path, {"date": "2026-12-01 11:00 UTC", "commit": "def", "chosen": "a", "candidates": [{"curve": [(1.0, 0.5)]}]})
    assert not study.unchanged(path, {"date": "2026-12-01 11:00 UTC", "commit": "def", "chosen": "b", "candidates": [{"curve": [(1.0, 0.5)]}]})
