"""Training steps per second on real FER2013 with the occluders drawn inline or ahead on a thread.

    python benchmarks/occluder_prefetch_speed.py [--steps 40] [--repeats 3] [--threads 2]

The long run's recipe without its teacher (``fer2013-cpu-study-modres18-v1``: modified ResNet-18, occluders on
40% of faces, erasing, batch 128), through the trainer's own epoch (``train_one_epoch``) cut to ``--steps``
batches, alternating the two modes ``--repeats`` times so that a drift in the host's speed hits both. The first
epoch of each mode warms up and is not counted. Run it on a quiet CPU: another job on the cores changes both
columns. Also times the occluder drawing alone, on one thread (the most images/s one training process can reach
however fast its device is) and in ``--threads`` worker processes (``ferkit train --occluder-workers``). Writes benchmarks/results/occluder_prefetch_speed.json.
"""

from __future__ import annotations

import argparse
import dataclasses
import itertools
import statistics
import sys
import tempfile
import time
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import SHARED_DATA, provenance, write_result  # noqa: E402

RECIPE = "fer2013-cpu-study-modres18-v1"


class FirstBatches:
    """The first ``steps`` batches of each epoch of ``builder``: a short epoch with the run's own batches."""

    def __init__(self, builder, steps: int) -> None:
        self.builder, self.steps = builder, steps

    def __len__(self) -> int:
        return self.steps

    def epoch_batches(self, rng):
        return itertools.islice(self.builder.epoch_batches(rng), self.steps)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=40)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--data", default=str(SHARED_DATA / "fer2013"))
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    started = time.perf_counter()

    from ferkit.data.registry import experiment_splits
    from ferkit.devices import resolve_device
    from ferkit.train import distributed
    from ferkit.train.epoch import train_one_epoch
    from ferkit.train.recipes import get_recipe
    from ferkit.train.setup import build_run

    recipe = get_recipe(RECIPE)
    split = experiment_splits(f"fer2013:{args.data}")[0]
    with tempfile.TemporaryDirectory() as out:
        run, state = build_run(dataclasses.replace(recipe, init_weights=None), split, Path(out), resolve_device("cpu"), distributed.current(), log=print)
        run.batches, run.steps = FirstBatches(run.batches, args.steps), args.steps
        rows: dict[str, list[float]] = {"inline": [], "prefetch": []}
        for repeat in range(args.repeats + 1):
            for mode in ("inline", "prefetch"):
                row = train_one_epoch(run, state, repeat, prefetch=mode == "prefetch")
                print(f"repeat {repeat} {mode}: {row['images_per_s']:.1f} img/s", flush=True)
                if repeat:  # the first round warms up
                    rows[mode].append(row["images_per_s"])
    # What one thread draws alone (the most images/s a process can train when its device is fast, a GPU), and the same
    # drawing in worker processes (ferkit train --occluder-workers), one per core: timed as gpu_sprint.sh times them.
    from gpu_sprint import occluder_draw_rate

    image_hw = tuple(split.train.images.shape[1:3])
    draw_only = occluder_draw_rate(recipe, image_hw, workers=0, probe_s=10.0)
    pool_rate = occluder_draw_rate(recipe, image_hw, workers=args.threads, probe_s=10.0)
    inline, ahead = statistics.median(rows["inline"]), statistics.median(rows["prefetch"])
    result = {
        **provenance("cpu", started), "recipe": RECIPE, "batch": recipe.batch_size, "steps": args.steps, "repeats": args.repeats,
        "images_per_s": {"inline": rows["inline"], "prefetch": rows["prefetch"]},
        "median_images_per_s": {"inline": round(inline, 1), "prefetch": round(ahead, 1)},
        "speedup": round(ahead / inline, 3),
        "occluder_drawing_only_images_per_s": round(draw_only, 1),
        f"occluder_drawing_{args.threads}_worker_processes_images_per_s": round(pool_rate, 1),
        "occlusion_p": recipe.augment.occlusion_p,
    }
    write_result("occluder_prefetch_speed", result)
    print(f"inline {inline:.1f} img/s, prefetch {ahead:.1f} img/s: x{ahead / inline:.2f}; drawing alone {draw_only:.0f} img/s on one thread, "
          f"{pool_rate:.0f} in {args.threads} worker processes")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
