"""Write the shipped model's metadata file (src/ferkit/weights/ferkit-default.json) from the results.

``ferkit serve`` answers ``GET /v1/model`` with it: the accuracy figures a client should see come from
the same result JSON as the model card (docs/model_card.md), never typed in by hand. The file names
the SHA-256 of the checkpoint it describes, so a replaced checkpoint is never shown stale figures.
Run it after shipping a new default model:

    python benchmarks/model_metadata.py
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import REPO, git_commit  # noqa: E402
from report import load, shipped_result  # noqa: E402

from ferkit.io_utils import atomic_write_json  # noqa: E402
from ferkit.serve.model_info import file_sha256  # noqa: E402
from ferkit.artifacts import load_checkpoint  # noqa: E402

CHECKPOINT = REPO / "src" / "ferkit" / "weights" / "ferkit-default.pt"


def _summary_accuracy(summary: dict[str, Any], key: str) -> float | None:
    row = summary.get(key)
    return None if row is None else round(row["mean_accuracy"], 4)


def accuracy_figures(meta: dict[str, Any]) -> list[dict[str, Any]]:
    """Each figure names its data set, split, test-time augmentation and where it was read from."""
    figures = []
    if meta.get("val_metric") is not None:
        figures.append({"dataset": "FER2013", "split": "PublicTest", "tta": "flip", "accuracy": round(meta["val_metric"], 4),
                        "note": f"selection split: {meta.get('selected_on')}", "source": "checkpoint"})
    result = shipped_result(meta)
    if result is not None:
        source = next(p.name for p in (REPO / "benchmarks" / "results").glob("*.json") if load(p.stem) == result)
        for key, condition in (("clean", "clean"), ("occ_half", "half the faces occluded"), ("occ_all", "every face occluded")):
            for tta in ("none", "flip"):
                value = _summary_accuracy(result["summary"], f"{key}_{tta}")
                if value is not None:
                    figures.append({"dataset": "FER2013", "split": "PrivateTest", "condition": condition, "tta": tta, "accuracy": value,
                                    "source": f"benchmarks/results/{source}"})
    cross = load("cross_dataset_fer2013_to_ckplus48")
    if cross is not None and cross.get("recipe") == meta["recipe"].get("name"):
        figures.append({"dataset": "CK+48", "split": "all 981 images (cross-dataset)", "tta": cross.get("tta"), "accuracy": round(cross["accuracy"], 4),
                        "note": f"on the classes shared with FER2013; {cross['unmapped_samples']} contempt images left out",
                        "source": "benchmarks/results/cross_dataset_fer2013_to_ckplus48.json"})
    return figures


def metadata(checkpoint: Path) -> dict[str, Any]:
    meta = load_checkpoint(checkpoint)
    return {"name": "ferkit-default", "checkpoint": checkpoint.name, "sha256": file_sha256(checkpoint), "recipe": meta["recipe"].get("name"),
            "trained_on": f"FER2013 Training ({meta.get('train_size')} images)", "model_card": "docs/model_card.md",
            "accuracy": accuracy_figures(meta), "written_at_commit": git_commit(), "date": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime())}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--checkpoint", type=Path, default=CHECKPOINT)
    args = parser.parse_args()
    out = args.checkpoint.with_suffix(".json")
    atomic_write_json(out, metadata(args.checkpoint))
    print(f"wrote {out}")


if __name__ == "__main__":
    main()
