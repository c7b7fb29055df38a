"""Score the checkpoints a GPU sprint brought back on FER2013 PrivateTest, once, on this machine.

    python benchmarks/score_sprint.py /work/.device/<files_at> --name gpu-sprint-modres18-occ-v3

``files_at`` is the folder the device tool copied ``$OUT`` into (summary.json, seed<N>/best.pt,
logs.tar.gz; see docs/gpu_sprint.md). Each finished seed's checkpoint is copied to
runs/gpu-sprint/<name>/ (the tool's folder is temporary) and scored by score_checkpoint.py into
benchmarks/results/<name>-seed<N>.json; benchmarks/results/<name>.json holds the device summary
(epochs, epoch times, PublicTest per epoch) with the PrivateTest scores and their mean over seeds.
A seed already scored is refused: the test split is scored once. Seeds stopped before their last
epoch are left out unless --include-unfinished.
"""

from __future__ import annotations

import argparse
import json
import shutil
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import REPO, RESULTS, provenance, write_result  # noqa: E402
from score_checkpoint import score_checkpoint  # noqa: E402

KEYS = ("clean_none", "clean_flip", "occ_half_flip", "occ_all_flip")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("sprint_dir", type=Path, help="the folder the device tool brought back (holds summary.json)")
    parser.add_argument("--name", required=True, help="result name under benchmarks/results/")
    parser.add_argument("--data", default="fer2013:../shared/data/fer2013")
    parser.add_argument("--runs", type=Path, default=REPO / "runs")
    parser.add_argument("--include-unfinished", action="store_true", help="also score seeds stopped at the deadline")
    args = parser.parse_args()

    started = time.perf_counter()
    summary_path = args.sprint_dir / "summary.json"
    if not summary_path.is_file():
        raise SystemExit(f"{summary_path} not found: pass the folder the device tool copied $OUT into")
    summary = json.loads(summary_path.read_text())
    chosen = [s for s in summary["seeds"] if s.get("returned") and (s["status"] == "finished" or args.include_unfinished)]
    if not chosen:
        raise SystemExit(f"{summary_path}: no finished seed came back (statuses: {[s['status'] for s in summary['seeds']]})")
    taken = [f"{args.name}-seed{s['seed']}" for s in chosen if (RESULTS / f"{args.name}-seed{s['seed']}.json").exists()]
    if taken or (RESULTS / f"{args.name}.json").exists():
        raise SystemExit(f"already scored: {taken or [args.name]} exist under {RESULTS}; the test split is scored once (choose another --name only for other checkpoints)")
    keep = args.runs / "gpu-sprint" / args.name
    keep.mkdir(parents=True, exist_ok=True)
    for name in ("summary.json", "logs.tar.gz"):
        if (args.sprint_dir / name).exists():
            shutil.copy2(args.sprint_dir / name, keep / name)
    private = {}
    for record in chosen:
        checkpoint = keep / f"seed{record['seed']}.pt"
        shutil.copy2(args.sprint_dir / record["returned"]["path"], checkpoint)
        result = score_checkpoint(checkpoint, f"{args.name}-seed{record['seed']}", data=args.data, runs=args.runs, seed=0)
        private[record["seed"]] = {k: result["summary"][k]["mean_accuracy"] for k in result["summary"]}
    mean = {k: {"mean": float(np.mean([p[k] for p in private.values()])), "std": float(np.std([p[k] for p in private.values()]))} for k in KEYS}
    write_result(args.name, {
        "recipe": summary["recipe"], "overrides": summary["overrides"], "sprint": summary, "private_test": private,
        "private_test_mean_over_seeds": mean, "seeds_scored": sorted(private), "occluder_seed": 0,
        "selection": "each seed's best PublicTest epoch, chosen on the GPU machine; PrivateTest scored here once", **provenance("cpu", started),
    })
    for seed, p in private.items():
        print(f"seed {seed}: PrivateTest " + ", ".join(f"{k} {p[k]:.4f}" for k in KEYS))
    print("mean over seeds: " + ", ".join(f"{k} {v['mean']:.4f} +- {v['std']:.4f}" for k, v in mean.items()))
    return 0


if __name__ == "__main__":
    sys.exit(main())
