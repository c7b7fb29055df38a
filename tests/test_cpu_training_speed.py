"""The CPU throughput table (benchmarks/cpu_training_speed.py) is measured a few configurations at a time: appended
rows keep the day they were measured, and a re-measure the same day replaces its row instead of adding one."""

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "benchmarks"))
from cpu_training_speed import merge_rows  # noqa: E402


def row(model, sharing, ips, date=None, **extra):
    r = {"model": model, "dtype": "fp32", "runs_x_threads": sharing, "channels_last": True, "compile": False, "images_per_s": ips, **extra}
    return r if date is None else {**r, "date": date, "commit": "new", "steps": 6}


def test_old_rows_are_dated_and_kept_beside_a_new_day_and_replaced_on_the_same_day():
    before = {"date": "2026-11-30 11:34 UTC", "commit": "old", "steps": 6,
              "rows": [row("resnet18", "1 x 2", 66.2), row("modified_resnet18", "1 x 2", 179.3), row("modified_resnet18", "1 x 2", 127.7, channels_last=False)]}
    new = [row("modified_resnet18", "1 x 1", 169.3, "2026-12-01 07:58 UTC"), row("modified_resnet18", "1 x 2", 343.1, "2026-12-01 07:58 UTC")]
    merged = merge_rows(before, new, ["modified_resnet18", "resnet18"])
    assert [(r["model"], r["runs_x_threads"], r["images_per_s"], r["date"][:10]) for r in merged] == [
        ("modified_resnet18", "1 x 2", 179.3, "2026-11-30"),
        ("modified_resnet18", "1 x 2", 343.1, "2026-12-01"),
        ("modified_resnet18", "1 x 1", 169.3, "2026-12-01"),
        ("resnet18", "1 x 2", 66.2, "2026-11-30"),
        ("modified_resnet18", "1 x 2", 127.7, "2026-11-30"),  # the channels_first variant goes last
    ]
    assert merged[0]["commit"] == "old" and merged[1]["commit"] == "new"
    again = merge_rows({"date": "2026-12-01 08:00 UTC", "commit": "new", "steps": 6, "rows": merged},
                       [row("modified_resnet18", "1 x 1", 200.0, "2026-12-01 09:00 UTC")], ["modified_resnet18", "resnet18"])
    assert [r["images_per_s"] for r in again if r["runs_x_threads"] == "1 x 1"] == [200.0]
    assert len(again) == len(merged)


def test_a_model_named_twice_keeps_its_first_place():
    rows = [row("resnet18", "1 x 2", 1.0, "2026-12-01 07:58 UTC"), row("modified_resnet18", "1 x 2", 2.0, "2026-12-01 07:58 UTC")]
    merged = merge_rows(None, rows, ["modified_resnet18", "resnet18", "modified_resnet18"])  # defaults, then --models
    assert [r["model"] for r in merged] == ["modified_resnet18", "resnet18"]
