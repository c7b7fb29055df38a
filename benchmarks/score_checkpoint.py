"""Score an existing checkpoint (e.g. the shipped ensemble) the way run_recipe.py scores a run it trains.

    python benchmarks/score_checkpoint.py src/ferkit/weights/ferkit-default.pt --name fer2013-default-ensemble-v4

The test split is scored clean and with synthetic occluders on half / all of the faces, without and
with flip TTA, into ``benchmarks/results/<name>.json`` in run_recipe.py's schema, so the report
renders it in the same tables. Nothing is chosen here: the checkpoint was chosen on validation
before (``ship_default_model.py``), and this is its single test score.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import REPO, provenance, write_result  # noqa: E402
from run_recipe import test_sets  # noqa: E402

from ferkit.data import load_split  # noqa: E402
from ferkit.evaluate.reports import evaluate_model  # noqa: E402
from ferkit.artifacts import load_checkpoint, load_model  # noqa: E402


def score_checkpoint(checkpoint: str | Path, name: str, *, data: str, runs: str | Path, seed: int = 0) -> dict:
    """Score ``checkpoint`` on the test split (clean, half / all occluded; no TTA and flip) into results/<name>.json."""
    started = time.perf_counter()
    payload = load_checkpoint(checkpoint)
    loaded = load_model(checkpoint)
    test = load_split(data, "test")
    members = payload.get("members") or []
    row = {"split": test.name, "best_epoch": payload.get("epoch"), "best_val": payload.get("val_metric"), "test_size": len(test),
           "selected_on": payload.get("selected_on"), "test": {}}
    out_dir = Path(runs) / name / "eval"  # confusion matrices; never next to a shipped checkpoint
    for set_name, dataset in test_sets(test, False, seed).items():
        for tta in ("none", "flip"):
            metrics = evaluate_model(loaded, dataset, tta=tta, out_dir=out_dir, tag=f"{set_name}_{tta}")
            row["test"][f"{set_name}_{tta}"] = {k: metrics[k] for k in ("accuracy", "macro_f1", "balanced_accuracy")}
            row["test"][f"{set_name}_{tta}"]["recall"] = {c: v["recall"] for c, v in metrics["per_class"].items()}
    print(f"{name}: " + ", ".join(f"{k} {v['accuracy']:.4f}" for k, v in row["test"].items()), flush=True)
    summary = {key: {"mean_accuracy": v["accuracy"], "std_accuracy": 0.0, "n_folds": 1, "mean_macro_f1": v["macro_f1"]} for key, v in row["test"].items()}
    recipe = payload.get("recipe") or {}
    result = {
        "recipe": recipe.get("name", payload["model_name"]), "checkpoint": str(checkpoint), "data": data, "protocol": None,
        "recipe_config": {"epochs": " + ".join(str(m.get("epochs")) for m in members) if members else recipe.get("epochs")},
        "member_runs": [Path(m["source_checkpoint"]).parent.name for m in members],
        "members": members, "selection": payload.get("selected_on"), "summary": summary, "folds": [row], **provenance("cpu", started),
    }
    write_result(name, result)
    return result


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("checkpoint")
    parser.add_argument("--name", required=True, help="result file name under benchmarks/results/")
    parser.add_argument("--data", default="fer2013:../shared/data/fer2013")
    parser.add_argument("--runs", default=str(REPO / "runs"))
    parser.add_argument("--seed", type=int, default=0, help="occluder seed (run_recipe.py uses the recipe seed, 0 for the default models)")
    args = parser.parse_args()
    score_checkpoint(args.checkpoint, args.name, data=args.data, runs=args.runs, seed=args.seed)
    return 0


if __name__ == "__main__":
    sys.exit(main())
