"""The FER2013 pack for a GPU machine, the sprint's watchdog policy, and its dry run end to end."""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tarfile
import time
from pathlib import Path

import numpy as np
import pytest

from data.fixtures import SHARED_DATA, write_fer2013_folder
from ferkit.cli import main as cli_main
from ferkit.data import experiment_splits, load_fer2013
from ferkit.data.fer2013_pack import load_fer2013_pack, pack_folder, pack_splits, read_encoded, subset_pack, write_pack
from ferkit.errors import DatasetError

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "benchmarks"))
import gpu_sprint  # noqa: E402
from gpu_sprint import SeedRun, can_start, epochs_that_fit, fit_epochs, occluder_draw_rate, projected_end, seed_to_stop  # noqa: E402


@pytest.fixture()
def fer_folder(tmp_path: Path) -> Path:
    return write_fer2013_folder(tmp_path / "fer", per_class=3)


def test_pack_with_original_bytes_decodes_to_the_folder_loaders_pixels(fer_folder, tmp_path):
    pack = pack_folder(fer_folder, tmp_path / "pack.npz", train_quality=None)
    assert pack_splits(pack) == ("PublicTest", "Training")
    for split in ("Training", "PublicTest"):
        packed, folder = load_fer2013(pack, split), load_fer2013(fer_folder, split)
        np.testing.assert_array_equal(packed.images, folder.images)
        np.testing.assert_array_equal(packed.labels, folder.labels)
        assert packed.ids == folder.ids and packed.name == folder.name


def test_reencoded_training_is_recorded_and_public_test_stays_exact(fer_folder, tmp_path):
    pack = pack_folder(fer_folder, tmp_path / "pack.npz", train_quality=60)
    assert read_encoded(pack, "Training")[3] == "jpeg-q60"
    assert read_encoded(pack, "PublicTest")[3] == "original"
    np.testing.assert_array_equal(load_fer2013(pack, "PublicTest").images, load_fer2013(fer_folder, "PublicTest").images)
    train, original = load_fer2013(pack, "Training").images, load_fer2013(fer_folder, "Training").images
    diff = np.abs(train.astype(int) - original.astype(int))
    assert diff.max() > 0 and diff.mean() < 10  # lossy, but the same images


def test_a_pack_never_holds_private_test(fer_folder, tmp_path):
    pack = pack_folder(fer_folder, tmp_path / "pack.npz", train_quality=None)
    with pytest.raises(DatasetError, match="never holds the test split"):
        load_fer2013(pack, "PrivateTest")
    with pytest.raises(DatasetError, match="only Training, PublicTest"):
        write_pack(tmp_path / "bad.npz", {"PrivateTest": ([b"x"], [0], ["a"], "original")})
    split = experiment_splits(f"fer2013:{pack}")[0]
    assert split.test is None and len(split.train) == 21 and len(split.val) == 21


def test_ferkit_train_on_a_pack_needs_no_test(fer_folder, tmp_path, capsys):
    pack = pack_folder(fer_folder, tmp_path / "pack.npz", train_quality=None)
    code = cli_main(["train", "--recipe", "tiny-smoke-v1", "--data", f"fer2013:{pack}", "--out", str(tmp_path / "run"), "--device", "cpu", "--quiet"])
    assert code == 2
    assert "--no-test" in capsys.readouterr().err
    assert not (tmp_path / "run" / "last.pt").exists()  # refused before training


def test_broken_packs_are_named(tmp_path):
    other = tmp_path / "other.npz"
    np.savez(other, images=np.zeros((2, 48, 48), np.uint8))
    with pytest.raises(DatasetError, match="not a FER2013 pack"):
        load_fer2013_pack(other, "Training")
    garbage = tmp_path / "garbage.npz"
    garbage.write_bytes(b"not a zip")
    with pytest.raises(DatasetError, match="cannot read"):
        load_fer2013_pack(garbage, "Training")
    undecodable = write_pack(tmp_path / "undecodable.npz", {"Training": ([b"\xff\xd8junk"], [0], ["a"], "original")})
    with pytest.raises(DatasetError, match="not a decodable 48x48"):
        load_fer2013_pack(undecodable, "Training")


def test_subset_pack_keeps_a_seeded_subset(fer_folder, tmp_path):
    pack = pack_folder(fer_folder, tmp_path / "pack.npz", train_quality=None)
    small = subset_pack(pack, tmp_path / "small.npz", {"Training": 5})
    ids = load_fer2013(small, "Training").ids
    assert len(ids) == 5 and set(ids) <= set(load_fer2013(pack, "Training").ids)
    assert len(load_fer2013(small, "PublicTest")) == 21  # no limit given: all of it
    assert load_fer2013(subset_pack(pack, tmp_path / "again.npz", {"Training": 5}), "Training").ids == ids


def _run(seed: int, started: float, seen: list[float], rows_at_start: int = 0) -> SeedRun:
    return SeedRun(seed, Path(f"seed{seed}"), status="running", started=started, rows_at_start=rows_at_start, epoch_seen=seen)


def test_projection_uses_the_mean_interval_after_the_first_epoch():
    assert projected_end(_run(0, 0.0, []), 10) is None
    assert projected_end(_run(0, 0.0, [30.0]), 10) is None  # the time to the first row holds the start-up: no projection
    assert projected_end(_run(0, 0.0, [30.0, 36.0, 44.0, 50.0]), 10) == pytest.approx(50.0 + 6 * 20.0 / 3)  # not the last 6 s
    assert projected_end(_run(0, 0.0, [30.0, 35.0], rows_at_start=6), 10) == 35.0 + 2 * 5.0  # a resumed run
    # after a stop at 45 s, only the rows seen since count: the runs left train faster
    assert projected_end(_run(0, 0.0, [30.0, 40.0, 50.0]), 10, since=45.0) is None
    assert projected_end(_run(0, 0.0, [30.0, 40.0, 50.0, 54.0, 58.0]), 10, since=45.0) == 58.0 + 5 * 4.0


def test_the_highest_seed_is_stopped_only_when_a_run_would_miss_the_deadline():
    on_time = [_run(0, 0.0, [10.0, 20.0]), _run(1, 0.0, [10.0, 20.0])]  # 10 epochs -> ends at 100
    assert seed_to_stop(on_time, 10, deadline=120.0, last_stop=0.0, now=20.0) is None
    late = [_run(0, 0.0, [10.0, 20.0]), _run(2, 0.0, [10.0, 30.0]), _run(1, 0.0, [10.0, 20.0])]
    assert seed_to_stop(late, 10, deadline=120.0, last_stop=0.0, now=30.0).seed == 2
    assert seed_to_stop(late[:1], 10, deadline=50.0, last_stop=0.0, now=30.0) is None  # the last one runs to the deadline
    # after a stop, wait for two epochs seen without the stopped run
    assert seed_to_stop(late[:2], 10, deadline=50.0, last_stop=15.0, now=30.0) is None
    fresh = [_run(0, 0.0, [20.0, 30.0]), _run(1, 0.0, [20.0, 30.0])]
    assert seed_to_stop(fresh, 10, deadline=50.0, last_stop=15.0, now=30.0).seed == 1


def test_an_overrun_within_the_tolerance_stops_nothing():
    # both end at 30 + 8 x 10 = 110; 5% of the 100 s left at 10 s is 5 s
    runs = [_run(0, 0.0, [20.0, 30.0]), _run(1, 0.0, [20.0, 30.0])]
    assert seed_to_stop(runs, 10, deadline=106.0, last_stop=0.0, now=10.0) is None
    assert seed_to_stop(runs, 10, deadline=104.0, last_stop=0.0, now=10.0).seed == 1


def test_a_start_up_longer_than_an_epoch_stops_no_seed_that_would_finish():
    """The audit's case: 12 s start-up, 7.3 s epochs, 57 epochs; every seed ends by 448 s, the deadline is 495 s.
    Projected from the time to the first row (1,234 s), seed 2 was stopped after its first epoch."""
    epochs, deadline = 57, 495.0
    starts = {0: 20.0, 1: 20.4, 2: 20.8}
    runs = [_run(seed, started, []) for seed, started in starts.items()]
    for now in np.arange(22.0, 452.0, 2.0):  # the watchdog's polls
        for run in runs:
            rows = min(epochs, max(0, int((now - run.started - 12.0) // 7.3)))
            run.epoch_seen += [float(now)] * (rows - len(run.epoch_seen))
        assert seed_to_stop(runs, epochs, deadline, last_stop=0.0, now=float(now)) is None, now
    assert all(len(run.epoch_seen) == epochs for run in runs)


def test_a_queued_seed_starts_only_if_the_slowest_finished_one_fits():
    assert can_start(0.0, 100.0, [])
    assert can_start(10.0, 100.0, [80.0])
    assert not can_start(30.0, 100.0, [80.0])
    assert not can_start(100.0, 100.0, [])


def _sprint(tmp_path: Path, seeds: tuple[int, ...] = (0, 1, 2), epochs: int = 3) -> gpu_sprint.Sprint:
    args = argparse.Namespace(budget_s=540.0, reserve_s=45.0, seeds=list(seeds), parallel=len(seeds), recipe="tiny-smoke-v1", overrides=[],
                              dry_run=False)
    return gpu_sprint.Sprint(args, epochs, tmp_path / "runs", started=time.time())


def _log_epochs(run: SeedRun, count: int) -> None:
    run.run_dir.mkdir(parents=True, exist_ok=True)
    rows = [{"epoch": e + 1, "val_accuracy": 0.5, "epoch_time_s": 7.3, "images_per_s": 4000.0} for e in range(count)]
    (run.run_dir / "metrics.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))


class FakeProcess:
    """A training process that records what the watchdog does to it; a ``stubborn`` one outlives SIGTERM."""

    def __init__(self, seed: int, events: list[str], code: int | None = None, stubborn: bool = False) -> None:
        self.seed, self.events, self.code, self.stubborn = seed, events, code, stubborn

    def terminate(self) -> None:
        self.events.append(f"terminate {self.seed}")

    def kill(self) -> None:
        self.events.append(f"kill {self.seed}")
        self.code = -9

    def wait(self, timeout: float | None = None) -> int:
        self.events.append(f"wait {self.seed}")
        if self.stubborn and self.code is None:
            raise subprocess.TimeoutExpired("ferkit train", timeout or 0.0)
        self.code = -15 if self.code is None else self.code
        return self.code

    def poll(self) -> int | None:
        return self.code


def _running(run: SeedRun, process: FakeProcess) -> None:
    run.process, run.started, run.status = process, time.time(), "running"  # type: ignore[assignment]


def test_the_deadline_terminates_every_run_before_waiting_and_one_that_logged_every_epoch_finished(tmp_path):
    sprint, events = _sprint(tmp_path), []
    for run, rows, stubborn in zip(sprint.runs, (3, 2, 1), (False, True, False)):
        _log_epochs(run, rows)  # seed 0 logged all 3 epochs and is writing curves.png
        _running(run, FakeProcess(run.seed, events, stubborn=stubborn))
    sprint.stop(sprint.runs, "stopped_deadline", "deadline reached", grace_s=0.0)
    assert events[:3] == ["terminate 0", "terminate 1", "terminate 2"]  # all at once, not 30 s each in turn
    assert "kill 1" in events and "kill 0" not in events and "kill 2" not in events
    assert [r.status for r in sprint.runs] == ["finished", "stopped_deadline", "stopped_deadline"]


def test_a_run_that_logged_every_epoch_finished_whatever_its_exit_code(tmp_path):
    sprint = _sprint(tmp_path, seeds=(0, 1))
    for run, rows in zip(sprint.runs, (3, 2)):
        _log_epochs(run, rows)
        _running(run, FakeProcess(run.seed, [], code=1))  # seed 0: curves.png failed after the last epoch
        sprint.watch(run, time.time())
    assert [r.status for r in sprint.runs] == ["finished", "failed"]


def test_one_seed_failing_to_convert_or_score_leaves_a_summary_with_the_others(fer_folder, tmp_path, monkeypatch):
    pack = pack_folder(fer_folder, tmp_path / "pack.npz", train_quality=None)
    sprint, out = _sprint(tmp_path, epochs=2), tmp_path / "out"
    out.mkdir()
    for run in sprint.runs:
        _log_epochs(run, 2)
        (run.run_dir / "best.pt").write_bytes(b"weights")
        run.status = "finished"

    def storage(best: Path, dest: Path, cap: float) -> str:
        dest.write_bytes(best.read_bytes())
        if best.parent.name == "seed1":
            raise SystemExit(f"{best}: even int8 storage is 20.0 MiB")
        return "fp32"

    def scores(checkpoint: Path, val, device: str) -> dict[str, float]:
        assert json.loads((out / "summary.json").read_text())["seeds"][0]["returned"]["storage"] == "fp32"  # written before scoring
        if checkpoint.parent.name == "seed2":
            raise RuntimeError("CUDA error: initialization error")
        return {"public_test_none": 0.5, "public_test_flip": 0.55}

    monkeypatch.setattr(gpu_sprint, "storage_that_fits", storage)
    monkeypatch.setattr(gpu_sprint, "public_test_scores", scores)
    monkeypatch.setenv("SPRINT_COMMIT", "test")
    gpu_sprint.collect(sprint, out, "cpu", pack)
    seeds = json.loads((out / "summary.json").read_text())["seeds"]
    assert [s["seed"] for s in seeds] == [0, 1, 2] and "errors" not in seeds[0]
    assert seeds[0]["returned"]["public_test_flip"] == 0.55
    assert "returned" not in seeds[1] and not (out / "seed1" / "best.pt").exists()
    assert seeds[1]["errors"] == [f"conversion: SystemExit: {sprint.runs[1].run_dir / 'best.pt'}: even int8 storage is 20.0 MiB"]
    assert seeds[2]["returned"]["path"] == "seed2/best.pt" and "public_test_none" not in seeds[2]["returned"]  # converted, not scored
    assert seeds[2]["errors"] == ["scoring: RuntimeError: CUDA error: initialization error"]
    assert (out / "logs.tar.gz").exists()


def test_epochs_fit_the_time_at_the_drawing_rate():
    # 0.8 x 400 s x 1,250 img/s / 28,709 images = 13.9 -> 13 epochs of the planned 60
    assert epochs_that_fit(60, 28709, 1250.0, 400.0) == 13
    assert epochs_that_fit(10, 28709, 1250.0, 400.0) == 10  # never more than the recipe plans
    assert epochs_that_fit(60, 28709, 1250.0, 1.0) == 1  # at least one


def test_a_sprint_without_epochs_takes_them_from_the_drawing_rate_and_keeps_the_choice(tmp_path, monkeypatch):
    import dataclasses

    from ferkit.train.config import AugmentConfig
    from ferkit.train.recipes import get_recipe

    recipe = get_recipe("fer2013-default-modres18-occ-v3")
    rate = occluder_draw_rate(dataclasses.replace(recipe, batch_size=16), (48, 48), probe_s=0.2)
    assert rate is not None and rate > 0  # the real drawing, timed
    assert occluder_draw_rate(dataclasses.replace(recipe, batch_size=16), (48, 48), workers=1, probe_s=0.2) > 0  # in a worker process
    assert gpu_sprint.occluder_workers_per_seed(3, cpus=16) == 4 and gpu_sprint.occluder_workers_per_seed(1, cpus=2) == 1
    assert occluder_draw_rate(dataclasses.replace(recipe, augment=AugmentConfig(occlusion_p=0.0)), (48, 48)) is None
    monkeypatch.setattr(gpu_sprint, "occluder_draw_rate", lambda *a, **k: 1250.0)
    record = tmp_path / "epochs.json"
    epochs, choice = fit_epochs(recipe, 28709, (48, 48), 400.0, record)
    assert epochs == 13 and choice["occluder_images_per_s"] == 1250.0 and json.loads(record.read_text())["epochs"] == 13
    monkeypatch.setattr(gpu_sprint, "occluder_draw_rate", lambda *a, **k: 5000.0)
    again, choice = fit_epochs(recipe, 28709, (48, 48), 100.0, record)  # a second call on a warm machine resumes the same runs
    assert again == 13 and choice["reused"]
    plain = dataclasses.replace(recipe, augment=AugmentConfig(occlusion_p=0.0))
    monkeypatch.setattr(gpu_sprint, "occluder_draw_rate", lambda *a, **k: None)
    assert fit_epochs(plain, 28709, (48, 48), 400.0, tmp_path / "plain.json")[0] == recipe.epochs


def accuracy_of(checkpoint: Path, folder: Path, split: str, tta: str) -> float:
    """A checkpoint's accuracy on a split of a FER2013 folder, recomputed here: what the sprint's summaries report
    (within one image of 21: another process may break a near tie of the tiny model otherwise)."""
    from ferkit.artifacts import load_model
    from ferkit.evaluate.predict import predict_probabilities

    loaded, data = load_model(checkpoint), load_fer2013(folder, split)
    probabilities = predict_probabilities(loaded.model, data.images, in_chans=loaded.in_chans, image_size=loaded.image_size, tta=tta)
    return float((probabilities.argmax(1) == data.labels).mean())


@pytest.mark.slow
def test_dry_run_returns_checkpoints_and_a_summary_and_private_test_is_scored_here(fer_folder, tmp_path, monkeypatch):
    pack = pack_folder(fer_folder, tmp_path / "pack.npz", train_quality=None)
    out = tmp_path / "out"
    env = {**os.environ, "DRY_RUN": "1", "PYTHON": sys.executable, "RECIPE": "tiny-smoke-v1", "SEEDS": "0 1", "PARALLEL": "2", "PACK": str(pack),
           "RUNS": str(tmp_path / "runs"), "OUT": str(out), "PYTHONPATH": str(REPO / "src")}
    done = subprocess.run(["bash", str(REPO / "benchmarks" / "gpu_sprint.sh")], env=env, capture_output=True, text=True, timeout=1200)
    assert done.returncode == 0, done.stdout[-2000:] + done.stderr[-2000:]
    summary = json.loads((out / "summary.json").read_text())
    assert summary["dry_run"] and summary["epochs"] == 1 and summary["recipe"] == "tiny-smoke-v1"
    assert "Training" in summary["pack"]["splits"] and "PrivateTest" not in summary["pack"]["splits"]
    for record in summary["seeds"]:
        assert record["status"] == "finished" and record["epochs_done"] == 1 and len(record["epoch_time_s"]) == 1
        returned = record["returned"]
        assert returned["storage"] in ("fp32", "fp16")
        assert returned["public_test_none"] == pytest.approx(accuracy_of(out / returned["path"], fer_folder, "PublicTest", "none"), abs=1 / 21)
        assert (out / returned["path"]).stat().st_size == returned["bytes"] <= 16 * 2**20  # the device tool's limit per file
    from ferkit.artifacts import load_model

    assert load_model(out / "seed1" / "best.pt").recipe["seed"] == 1
    with tarfile.open(out / "logs.tar.gz") as tar:
        names = set(tar.getnames())
    assert {"seed0/metrics.jsonl", "seed1/recipe.json", "sprint_events.log"} <= names
    assert len([p for p in out.rglob("*") if p.is_file()]) <= 8  # what the device tool returns

    # back here: PrivateTest (of the generated folder) scored once per returned seed
    import common
    import score_sprint

    results = tmp_path / "results"
    monkeypatch.setattr(common, "RESULTS", results)
    monkeypatch.setattr(score_sprint, "RESULTS", results)
    argv = ["score_sprint.py", str(out), "--name", "sprint-test", "--data", f"fer2013:{fer_folder}", "--runs", str(tmp_path / "runs")]
    monkeypatch.setattr(sys, "argv", argv)
    assert score_sprint.main() == 0
    scored = json.loads((results / "sprint-test.json").read_text())
    assert scored["seeds_scored"] == [0, 1] and scored["sprint"]["recipe"] == "tiny-smoke-v1"
    assert scored["private_test"]["1"]["clean_flip"] == pytest.approx(accuracy_of(out / "seed1" / "best.pt", fer_folder, "PrivateTest", "flip"), abs=1 / 21)
    seed0 = json.loads((results / "sprint-test-seed0.json").read_text())["folds"][0]
    assert seed0["split"] == "fer2013/PrivateTest" and seed0["test_size"] == 21  # the test split, not PublicTest (same accuracy here)
    with pytest.raises(SystemExit, match="already scored"):
        score_sprint.main()


@pytest.mark.realdata
@pytest.mark.skipif(not (SHARED_DATA / "fer2013").is_dir(), reason="needs ../shared/data/fer2013")
def test_real_public_test_packs_to_the_same_pixels(tmp_path):
    pack = pack_folder(SHARED_DATA / "fer2013", tmp_path / "pack.npz", train_quality=90, limits={"Training": 300})
    packed, folder = load_fer2013(pack, "PublicTest"), load_fer2013(SHARED_DATA / "fer2013", "PublicTest")
    assert len(packed) == 3589
    np.testing.assert_array_equal(packed.images, folder.images)
    np.testing.assert_array_equal(packed.labels, folder.labels)
