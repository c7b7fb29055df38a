"""Train one recipe with several seeds on a lent GPU inside a wall-clock budget; return the checkpoints.

Run by ``benchmarks/gpu_sprint.sh`` (which reads the environment and picks the Python); see
docs/gpu_sprint.md. The data is a FER2013 Training + PublicTest pack (benchmarks/pack_fer2013.py):
checkpoints are selected on PublicTest here, and PrivateTest is scored once on the machine that has
it (benchmarks/score_sprint.py).

Time budget: every seed is a ``ferkit train`` process (resumable from its last.pt). Up to
``--parallel`` run at once, since a 48x48 network leaves an H200 mostly idle and the per-batch host
work (occluders are drawn on the CPU) is what bounds one process. A watchdog polls each run's
metrics.jsonl and projects its end from its mean epoch interval after the first epoch. Fewer finished
seeds beat more unfinished ones: while two or more run and one is projected to end after the deadline
(by more than 5% of the time left), the highest-numbered seed is stopped so the others speed up; a
queued seed starts only if the longest finished seed would still fit; at the deadline whatever still runs is stopped (its best.pt is
returned, marked unfinished). The deadline keeps ``--reserve-s`` for collecting the results.
Each seed draws its occluders in ``occluder_workers_per_seed`` worker processes (``ferkit train --occluder-workers``):
one drawing thread would bound it at about 1,250 img/s. Without an ``epochs=`` override the epochs are fitted to
the time left from the measured drawing rate of those workers (``fit_epochs``), so each seed's schedule ends annealed.

What comes back under --out (the device tool returns at most 8 files of 16 MiB, 64 MiB in all):
``seed<N>/best.pt`` (stored in fp32, fp16 or int8, the first that fits), ``summary.json`` and
``logs.tar.gz`` (each run's recipe.json, metrics.jsonl, train.log, train_summary.json).
"""

from __future__ import annotations

import argparse
import hashlib
import io
import json
import os
import subprocess
import sys
import tarfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import REPO, git_commit  # noqa: E402

MIB = 2**20
FILE_LIMIT = 15.5 * MIB  # the device tool returns files of at most 16 MiB
TOTAL_LIMIT = 60 * MIB  # ... and 64 MiB together
POLL_S = 2.0


@dataclass
class SeedRun:
    """One seed's training process and what the watchdog has seen of it."""

    seed: int
    run_dir: Path
    status: str = "pending"  # pending | running | finished | failed | stopped_deadline | stopped_for_time | skipped
    process: subprocess.Popen | None = None
    started: float | None = None
    ended: float | None = None
    rows_at_start: int = 0
    epoch_seen: list[float] = field(default_factory=list)  # wall time when each new epoch row appeared

    @property
    def wall_s(self) -> float | None:
        return None if self.started is None or self.ended is None else self.ended - self.started


def projected_end(run: SeedRun, epochs: int, since: float = 0.0) -> float | None:
    """Wall time at which ``run`` should finish: its last epoch row plus the epochs left at its mean interval
    between the rows seen at or after ``since`` (None until two are).

    The time to the first row also counts process start, imports, CUDA init, data loading and the occluder
    workers' start-up (12 s before 7.3 s epochs projected 1,234 s for a run ending at 448 s), so it is left out;
    the mean smooths the 2 s grain of the polls; ``since`` (the last stop) leaves out the epochs from before the
    other runs sped up.
    """
    seen = [t for t in run.epoch_seen if t >= since]
    if len(seen) < 2:
        return None
    per_epoch = (seen[-1] - seen[0]) / (len(seen) - 1)
    done = run.rows_at_start + len(run.epoch_seen)
    return seen[-1] + max(epochs - done, 0) * per_epoch


def seed_to_stop(running: list[SeedRun], epochs: int, deadline: float, last_stop: float, now: float,
                 tolerance: float = 0.05) -> SeedRun | None:
    """The run to stop so that the others finish in time, or None.

    Only while two or more run, every run has two epoch rows seen since the last stop (the remaining runs
    speed up once one stops), and one is projected past the deadline by more than ``tolerance`` of the time
    left: a stop cannot be undone, and a projection from 2 s polls is no closer than that.
    """
    if len(running) < 2:
        return None
    ends = [projected_end(r, epochs, since=last_stop) for r in running]
    if any(e is None for e in ends):
        return None
    if max(ends) - deadline <= tolerance * max(deadline - now, 0.0):  # type: ignore[type-var]
        return None
    return max(running, key=lambda r: r.seed)


def can_start(now: float, deadline: float, finished_walls: list[float], margin: float = 1.05) -> bool:
    """A queued seed starts only if the slowest finished seed would still fit (always, before any finished)."""
    if now >= deadline:
        return False
    return not finished_walls or now + margin * max(finished_walls) <= deadline


def occluder_workers_per_seed(parallel: int, cpus: int | None = None) -> int:
    """Occluder-drawing processes per seed: the host's cores shared by the seeds, one core each left to the training process."""
    return max(1, (cpus or os.cpu_count() or 1) // parallel - 1)


def occluder_draw_rate(recipe: Any, image_hw: tuple[int, int], workers: int = 0, probe_s: float = 3.0) -> float | None:
    """Images per second whose occluders this host draws for one training process: on one thread (``workers`` 0)
    or in that many worker processes, timed at steady state (None when the recipe draws none).

    On a GPU this host work bounds each training process (docs/gpu_sprint.md): the device waits on it."""
    if recipe.augment.occlusion_p <= 0:
        return None
    import itertools

    import numpy as np

    from ferkit.occlusion import RandomOcclusion
    from ferkit.train.occluder_pool import OccluderPool

    occluder = RandomOcclusion(p=recipe.augment.occlusion_p, ratio_range=recipe.augment.occlusion_ratio)
    batch = np.arange(recipe.batch_size)
    if workers < 1:
        rng = np.random.default_rng(0)
        draw = lambda: occluder.draw(recipe.batch_size, image_hw, rng)  # noqa: E731
        return _images_per_s(draw, recipe.batch_size, warm_up=1, probe_s=probe_s)
    with OccluderPool(occluder, image_hw, workers, seed=0) as pool:
        drawn = pool.epoch_batches(itertools.repeat(batch), epoch=0)
        try:
            return _images_per_s(lambda: next(drawn), recipe.batch_size, warm_up=2 * workers + 1, probe_s=probe_s)
        finally:
            drawn.close()


def _images_per_s(next_batch: Any, batch_size: int, *, warm_up: int, probe_s: float) -> float:
    for _ in range(warm_up):  # imports, worker start-up, the batches already in flight
        next_batch()
    images, t0 = 0, time.perf_counter()
    while time.perf_counter() - t0 < probe_s:
        next_batch()
        images += batch_size
    return images / (time.perf_counter() - t0)


def epochs_that_fit(planned: int, train_images: int, images_per_s: float, seconds: float, *, margin: float = 0.8) -> int:
    """The most epochs (at most ``planned``, at least 1) one seed trains in ``seconds`` at ``images_per_s``,
    keeping ``1 - margin`` for process start, per-epoch validation and the first epoch's warm-up."""
    return max(1, min(planned, int(margin * seconds * images_per_s / max(train_images, 1))))


def fit_epochs(recipe: Any, train_images: int, image_hw: tuple[int, int], seconds: float, record: Path, *,
               workers: int = 0) -> tuple[int, dict[str, Any]]:
    """Epochs for a sprint that was not told how many: as many as the host's occluder drawing lets one seed
    finish before the deadline, so that its one-cycle or cosine schedule ends annealed rather than cut off.
    The choice is kept in ``record`` and reused by a second call on a warm machine, so the runs resume."""
    from ferkit.io_utils import atomic_write_json

    if record.exists():
        kept = json.loads(record.read_text())
        return int(kept["epochs"]), {**kept, "reused": True}
    rate = occluder_draw_rate(recipe, image_hw, workers)
    if rate is None:
        return recipe.epochs, {"epochs": recipe.epochs, "reason": "the recipe draws no occluders: its own epochs"}
    epochs = epochs_that_fit(recipe.epochs, train_images, rate, seconds)
    choice = {"epochs": epochs, "planned": recipe.epochs, "occluder_images_per_s": round(rate, 1), "occluder_workers": workers,
              "train_images": train_images,
              "training_seconds": round(seconds, 1),
              "reason": "host occluder drawing bounds each process: 0.8 x seconds x images/s / training images"}
    atomic_write_json(record, choice)
    return epochs, choice


def count_rows(run_dir: Path) -> int:
    path = run_dir / "metrics.jsonl"
    return sum(1 for line in path.read_text().splitlines() if line.strip()) if path.exists() else 0


def ended_status(run: SeedRun, epochs: int, otherwise: str) -> str:
    """"finished" once every planned epoch is logged, whatever the exit code or the stop: each epoch writes
    best.pt, last.pt, then its row, and what follows the last row (curves.png, train_summary.json) is not returned."""
    return "finished" if count_rows(run.run_dir) >= epochs else otherwise


def train_command(python: str, recipe: str, pack: Path, run: SeedRun, overrides: list[str], device: str, occluder_workers: int = 0) -> list[str]:
    cmd = [python, "-m", "ferkit.cli", "train", "--recipe", recipe, "--data", f"fer2013:{pack}", "--out", str(run.run_dir),
           "--set", f"seed={run.seed}", *[a for o in overrides for a in ("--set", o)], "--no-test", "--quiet", "--device", device,
           "--occluder-workers", str(occluder_workers)]
    return cmd + (["--resume"] if (run.run_dir / "last.pt").exists() else [])


class Sprint:
    """The watchdog loop: start, watch, stop; one instance per call."""

    def __init__(self, args: argparse.Namespace, epochs: int, runs_root: Path, started: float) -> None:
        self.args, self.epochs = args, epochs
        self.t0 = started  # the budget counts the setup (imports, decoding the pack) too
        self.deadline = started + args.budget_s - args.reserve_s
        self.runs = [SeedRun(seed, runs_root / f"seed{seed}") for seed in args.seeds]
        self.events: list[str] = []
        self.last_stop = 0.0
        self.epochs_choice: dict[str, Any] | None = None  # how the epochs were chosen when not given (fit_epochs)

    def log(self, text: str) -> None:
        line = f"[{time.time() - self.t0:6.1f}s] {text}"
        self.events.append(line)
        print(line, flush=True)

    def start(self, run: SeedRun) -> None:
        run.run_dir.mkdir(parents=True, exist_ok=True)
        threads = max(1, (os.cpu_count() or 1) // self.args.parallel)
        env = {**os.environ, "OMP_NUM_THREADS": str(threads), "PYTHONUNBUFFERED": "1"}
        cmd = train_command(sys.executable, self.args.recipe, self.args.pack, run, self.args.overrides, self.args.device,
                            occluder_workers_per_seed(self.args.parallel))
        run.rows_at_start = count_rows(run.run_dir)
        with open(run.run_dir / "train.log", "ab") as log_file:
            run.process = subprocess.Popen(cmd, cwd=REPO, env=env, stdout=log_file, stderr=subprocess.STDOUT)
        run.started, run.status = time.time(), "running"
        self.log(f"seed {run.seed}: started ({'resuming at epoch ' + str(run.rows_at_start) if run.rows_at_start else 'new run'}, {threads} CPU threads, "
                 f"{occluder_workers_per_seed(self.args.parallel)} occluder workers)")

    def stop(self, runs: list[SeedRun], status: str, why: str, grace_s: float = 30.0) -> None:
        """Terminate every run first, then wait on them together: one ``grace_s`` for all, not one each."""
        for run in runs:
            assert run.process is not None
            run.process.terminate()  # last.pt holds the last finished epoch (written atomically)
        give_up = time.time() + grace_s
        for run in runs:
            try:
                run.process.wait(timeout=max(give_up - time.time(), 0.0))
            except subprocess.TimeoutExpired:
                run.process.kill()
                run.process.wait()
            run.ended, run.status = time.time(), ended_status(run, self.epochs, status)
            self.log(f"seed {run.seed}: {run.status}, stopped after {count_rows(run.run_dir)}/{self.epochs} epochs ({why})")

    def watch(self, run: SeedRun, now: float) -> None:
        rows = count_rows(run.run_dir) - run.rows_at_start
        while len(run.epoch_seen) < rows:
            run.epoch_seen.append(now)
            end = projected_end(run, self.epochs, since=self.last_stop)
            last = json.loads((run.run_dir / "metrics.jsonl").read_text().splitlines()[-1])
            self.log(f"seed {run.seed}: epoch {last['epoch']}/{self.epochs} val {last.get('val_accuracy', float('nan')):.4f} "
                     f"({last['epoch_time_s']:.1f}s train, {last['images_per_s']:.0f} img/s); "
                     f"projected end {'pending' if end is None else f'{end - self.t0:.0f}s'}, deadline {self.deadline - self.t0:.0f}s")
        code = run.process.poll() if run.process else None
        if code is not None:
            run.ended = now
            run.status = ended_status(run, self.epochs, "failed")
            self.log(f"seed {run.seed}: {run.status} (exit {code}, {run.wall_s:.0f}s)")

    def run(self) -> None:
        queue = list(self.runs)
        while True:
            now = time.time()
            running = [r for r in self.runs if r.status == "running"]
            for r in running:
                self.watch(r, now)
            running = [r for r in self.runs if r.status == "running"]
            if now >= self.deadline:
                self.stop(running, "stopped_deadline", "deadline reached; resumable from last.pt")
                break
            victim = seed_to_stop(running, self.epochs, self.deadline, self.last_stop, now)
            if victim is not None:
                self.stop([victim], "stopped_for_time", "projected past the deadline; fewer finished seeds beat unfinished ones")
                self.last_stop = time.time()
                running.remove(victim)
            finished_walls = [r.wall_s for r in self.runs if r.status == "finished" and r.wall_s]
            while queue and len(running) < self.args.parallel:
                if self.last_stop or not can_start(now, self.deadline, finished_walls):  # type: ignore[arg-type]
                    slowest = f"a seed took {max(finished_walls):.0f}s" if finished_walls else "a seed was stopped for time"
                    for r in queue:
                        r.status = "skipped"
                        self.log(f"seed {r.seed}: skipped ({slowest}, {self.deadline - now:.0f}s left)")
                    queue.clear()
                    break
                run = queue.pop(0)
                self.start(run)
                running.append(run)
            if not running and not queue:
                break
            time.sleep(POLL_S)


def storage_that_fits(best: Path, dest: Path, cap: float) -> str:
    """Write ``best`` to ``dest`` in the first of fp32, fp16, int8 whose file is under ``cap`` bytes."""
    from ferkit.artifacts import compress_weights, load_checkpoint, save_checkpoint

    payload = load_checkpoint(best)
    for storage in ("fp32", "fp16", "int8"):
        weights, scales = compress_weights(payload["model"], storage)
        save_checkpoint(dest, {**payload, "model": weights, "model_scales": scales, "storage": storage})
        if dest.stat().st_size <= cap:
            return storage
    raise SystemExit(f"{best}: even int8 storage is {dest.stat().st_size / MIB:.1f} MiB, over the {cap / MIB:.1f} MiB the device tool returns")


def public_test_scores(checkpoint: Path, val, device: str) -> dict[str, float]:
    """PublicTest accuracy of the returned file (checks that its storage lost nothing that matters)."""
    from ferkit.evaluate.metrics import classification_metrics
    from ferkit.evaluate.predict import predict_probabilities
    from ferkit.artifacts import load_model

    loaded = load_model(checkpoint, device=device)
    scores = {}
    for tta in ("none", "flip"):
        pred = predict_probabilities(loaded.model, val.images, in_chans=loaded.in_chans, image_size=loaded.image_size, tta=tta, device=device).argmax(1)
        scores[f"public_test_{tta}"] = classification_metrics(val.labels, pred, val.class_names)["accuracy"]
    return scores


def seed_record(run: SeedRun, epochs: int) -> dict[str, Any]:
    rows = [json.loads(line) for line in (run.run_dir / "metrics.jsonl").read_text().splitlines() if line.strip()] if (run.run_dir / "metrics.jsonl").exists() else []
    vals = [r.get("val_accuracy") for r in rows]
    best_epoch = max(range(len(vals)), key=lambda i: vals[i] or 0.0) + 1 if rows else None
    record: dict[str, Any] = {
        "seed": run.seed, "status": run.status, "epochs_planned": epochs, "epochs_done": len(rows), "wall_s": run.wall_s and round(run.wall_s, 1),
        "epoch_time_s": [round(r["epoch_time_s"], 2) for r in rows], "images_per_s": [round(r["images_per_s"]) for r in rows],
        "val_accuracy": vals, "best_epoch": best_epoch, "best_public_test": vals[best_epoch - 1] if best_epoch else None,
    }
    if run.status == "failed":
        log = run.run_dir / "train.log"
        record["log_tail"] = log.read_text(errors="replace").splitlines()[-15:] if log.exists() else []
    return record


def returned_checkpoint(run: SeedRun, out: Path, cap: float) -> dict[str, Any]:
    """``run``'s best.pt written under ``out`` in a storage that fits; no file left there when none does."""
    dest = out / f"seed{run.seed}" / "best.pt"
    dest.parent.mkdir(parents=True, exist_ok=True)
    try:
        storage = storage_that_fits(run.run_dir / "best.pt", dest, cap)
    except (Exception, SystemExit):
        dest.unlink(missing_ok=True)  # over the cap: it would not come back, or crowd out the other seeds
        raise
    return {"path": f"seed{run.seed}/best.pt", "storage": storage, "bytes": dest.stat().st_size, "finished": run.status == "finished"}


def kept_error(record: dict[str, Any], step: str, action: Callable[[], Any]) -> Any:
    """``action()``, or None with its error kept in ``record``: one seed's failure costs neither the others nor the summary."""
    try:
        return action()
    except (Exception, SystemExit) as error:  # storage_that_fits exits when even int8 does not fit
        record.setdefault("errors", []).append(f"{step}: {type(error).__name__}: {error}")
        return None


def write_logs(sprint: Sprint, out: Path) -> None:
    """logs.tar.gz: each run's recipe.json, metrics.jsonl, train.log, train_summary.json and the watchdog's events."""
    with tarfile.open(out / "logs.tar.gz", "w:gz") as tar:
        for run in sprint.runs:
            for name in ("recipe.json", "metrics.jsonl", "train.log", "train_summary.json"):
                if (run.run_dir / name).exists():
                    tar.add(run.run_dir / name, arcname=f"seed{run.seed}/{name}")
        events = "\n".join(sprint.events).encode() + b"\n"
        info = tarfile.TarInfo("sprint_events.log")
        info.size = len(events)
        tar.addfile(info, io.BytesIO(events))


def sprint_summary(sprint: Sprint, device: str, pack: Path) -> dict[str, Any]:
    """What summary.json holds before any checkpoint is converted or scored (``device`` as asked, until resolved)."""
    from ferkit.data.fer2013_pack import pack_info
    import torch

    pack_summary = pack_info(pack)
    pack_summary.pop("path")
    return {
        "recipe": sprint.args.recipe, "overrides": sprint.args.overrides, "epochs": sprint.epochs, "epochs_choice": sprint.epochs_choice,
        "seeds": [seed_record(run, sprint.epochs) for run in sprint.runs],
        "device": device, "torch": torch.__version__, "cuda": torch.version.cuda,
        "commit": os.environ.get("SPRINT_COMMIT") or git_commit(), "date": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()),
        "budget_s": sprint.args.budget_s, "reserve_s": sprint.args.reserve_s, "parallel": sprint.args.parallel,
        "dry_run": sprint.args.dry_run, "load_average": os.getloadavg(), "pack": pack_summary,
        "selection": "best PublicTest epoch of each seed (the training loop's best.pt); PrivateTest is not on this machine",
        "events": sprint.events, "wall_time_s": None,
    }


def write_summary(sprint: Sprint, out: Path, summary: dict[str, Any]) -> None:
    """summary.json as it stands, with the wall time so far: written after each step, so a later failure keeps it."""
    from ferkit.io_utils import atomic_write_json

    summary["wall_time_s"] = round(time.time() - sprint.t0, 1)
    atomic_write_json(out / "summary.json", summary)


def collect(sprint: Sprint, out: Path, device: str, pack: Path) -> dict[str, Any]:
    """Checkpoints in a storage that fits, their PublicTest scores, the logs and the summary, under ``out``.

    summary.json is written before the checkpoints are converted, before they are scored and after: an error
    in one seed's conversion or scoring is kept in that seed's entry (``errors``) and the others go on; one in
    resolving the device or loading PublicTest, in the summary's own ``errors``, and no seed is scored."""
    summary = sprint_summary(sprint, device, pack)
    write_logs(sprint, out)
    write_summary(sprint, out, summary)
    with_best = [r for r in sprint.runs if (r.run_dir / "best.pt").exists()]
    cap = min(FILE_LIMIT, (TOTAL_LIMIT - 2 * MIB) / max(len(with_best), 1))
    for run, record in zip(sprint.runs, summary["seeds"]):
        returned = kept_error(record, "conversion", lambda: returned_checkpoint(run, out, cap)) if run in with_best else None
        if returned is not None:
            record["returned"] = returned
    write_summary(sprint, out, summary)
    scoring = kept_error(summary, "scoring", lambda: scoring_context(device, pack))
    if scoring is not None:
        dev, val, summary["device"] = scoring
        for record in summary["seeds"]:
            if "returned" in record:
                path = out / record["returned"]["path"]
                record["returned"].update(kept_error(record, "scoring", lambda: public_test_scores(path, val, str(dev))) or {})
    write_summary(sprint, out, summary)
    return summary


def scoring_context(device: str, pack: Path) -> tuple[Any, Any, str]:
    """The device to score on, the PublicTest split, and the device's description for the summary."""
    from ferkit.data.fer2013_pack import load_fer2013_pack
    from ferkit.devices import device_description, resolve_device

    dev = resolve_device(device)
    return dev, load_fer2013_pack(pack, "PublicTest"), device_description(dev)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--recipe", required=True)
    parser.add_argument("--pack", type=Path, required=True, help="FER2013 Training + PublicTest pack (.npz)")
    parser.add_argument("--out", type=Path, required=True, help="what comes back: seed<N>/best.pt, summary.json, logs.tar.gz")
    parser.add_argument("--runs", type=Path, default=REPO / "runs" / "sprint", help="run directories (resumable)")
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    parser.add_argument("--set", dest="overrides", action="append", default=[], help="recipe overrides for every seed, e.g. epochs=30")
    parser.add_argument("--budget-s", type=float, default=540.0, help="wall-clock budget of the whole call, setup and collection included")
    parser.add_argument("--reserve-s", type=float, default=45.0, help="kept at the end for converting, scoring PublicTest and packing logs")
    parser.add_argument("--parallel", type=int, default=3, help="seeds trained at once")
    parser.add_argument("--device", default="auto")
    parser.add_argument("--dry-run", action="store_true", help="one epoch on a small subset of the pack, on the CPU")
    args = parser.parse_args()
    if len(args.seeds) > 6 or args.parallel < 1:
        raise SystemExit("use 1..6 seeds (the device tool returns at most 8 files) and --parallel >= 1")

    from ferkit.data.fer2013_pack import load_fer2013_pack, subset_pack
    from ferkit.train.config import override
    from ferkit.train.recipes import get_recipe

    started = float(os.environ.get("SPRINT_T0") or time.time())  # gpu_sprint.sh's start: the budget counts the imports too
    if args.dry_run:
        args.pack = subset_pack(args.pack, args.runs / "dry_run_pack.npz", {"Training": 512, "PublicTest": 256})
        args.overrides = [*args.overrides, "epochs=1"]
    recipe = override(get_recipe(args.recipe), args.overrides)  # fails here, not in three child processes
    for split in ("Training", "PublicTest"):  # decoded once into the cache the seeds then read
        data = load_fer2013_pack(args.pack, split)
        if split == "Training":
            train_images, image_hw = len(data), tuple(data.images.shape[1:3])
    epochs_choice = None
    if not any(o.split("=", 1)[0].strip() == "epochs" for o in args.overrides):
        seconds = started + args.budget_s - args.reserve_s - time.time()
        epochs, epochs_choice = fit_epochs(recipe, train_images, image_hw, seconds, args.runs / f"{recipe.tag}__epochs.json",
                                           workers=occluder_workers_per_seed(args.parallel))
        print(f"epochs: {epochs} of {recipe.epochs} ({epochs_choice.get('reason')})", flush=True)
        args.overrides = [*args.overrides, f"epochs={epochs}"]
        recipe = override(recipe, [f"epochs={epochs}"])
    name = recipe.tag + ("__set-" + hashlib.sha1("\n".join(sorted(args.overrides)).encode()).hexdigest()[:8] if args.overrides else "")
    sprint = Sprint(args, recipe.epochs, args.runs / name, started)
    sprint.epochs_choice = epochs_choice
    sprint.log(f"{recipe.tag}: {recipe.epochs} epochs x seeds {args.seeds}, {args.parallel} at once; deadline {sprint.deadline - started:.0f}s")
    sprint.run()
    args.out.mkdir(parents=True, exist_ok=True)
    summary = collect(sprint, args.out, args.device, args.pack)
    for s in summary["seeds"]:
        ret = s.get("returned") or {}
        print(f"seed {s['seed']}: {s['status']}, {s['epochs_done']}/{s['epochs_planned']} epochs, best PublicTest {s['best_public_test']} "
              f"(epoch {s['best_epoch']}); returned {ret.get('storage')} {ret.get('public_test_none')} / flip {ret.get('public_test_flip')}")
    print(f"wrote {args.out}/summary.json after {summary['wall_time_s']}s")
    return 0 if any(s["status"] == "finished" for s in summary["seeds"]) else 1


if __name__ == "__main__":
    sys.exit(main())
