"""docs/training_on_cpu.md's ablation table comes from the result JSON and the per-epoch logs: PublicTest at the end
and at its best, PrivateTest flip, minutes per epoch; a run not trained yet says so, a run still training shows its epochs."""

import json
import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "benchmarks"))
import report_ablations as ra  # noqa: E402


@pytest.fixture
def results(tmp_path, monkeypatch):
    monkeypatch.setattr(ra, "RESULTS", tmp_path)
    return tmp_path


def write_run(results: Path, variant: str, val: list[float], *, private_flip: float | None = None, epoch_s: float = 120.0) -> None:
    tag = ra.recipe_tag(variant)
    log = results / "logs" / tag / "metrics.jsonl"
    log.parent.mkdir(parents=True)
    log.write_text("".join(json.dumps({"epoch": i + 1, "val_accuracy": v, "epoch_time_s": epoch_s}) + "\n" for i, v in enumerate(val)))
    if private_flip is not None:
        best = max(range(len(val)), key=lambda i: val[i])
        (results / f"{tag}.json").write_text(json.dumps({
            "recipe": tag, "recipe_config": {"epochs": len(val)}, "device": "cpu: x86_64, 1 torch threads, 2 cores", "commit": "abc1234",
            "summary": {"clean_flip": {"mean_accuracy": private_flip}}, "folds": [{"best_epoch": best + 1, "best_val": val[best]}]}))


def row_of(table: str, variant: str) -> str:
    return next(line for line in table.splitlines() if f"`{ra.recipe_tag(variant)}`" in line)


def test_nothing_trained_names_the_queue(results):
    table = ra.block_ablations()
    assert all("not run yet" in row_of(table, v) for v, _ in ra.VARIANTS)
    assert "None trained yet" in table and "queue_ablations.sh" in table


def test_finished_and_training_rows(results):
    write_run(results, "base", [0.40, 0.55, 0.52], private_flip=0.5634, epoch_s=150.0)
    write_run(results, "mixup", [0.30, 0.41])  # still training: a log, no result
    table = ra.block_ablations()
    assert row_of(table, "base").endswith("| 3 | 52.00 | 55.00 (epoch 2) | 56.34 | 2.5 |")
    assert "training (2 epochs logged)" in row_of(table, "mixup")
    assert "not run yet" in row_of(table, "cutmix")
    assert "1 of 8 trained; cpu: x86_64; commit abc1234" in table


def test_docs_page_has_the_block_and_report_knows_it():
    import report

    assert "ablations" in report.BLOCKS
    page = (Path(__file__).resolve().parents[1] / "docs" / "training_on_cpu.md").read_text()
    assert "<!-- results:ablations -->" in page and "12 epochs, one core, the half-width network" in page
