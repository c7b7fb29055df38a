"""Choose the default model among FER2013 runs on validation (PublicTest) accuracy and ship it.

    python benchmarks/ship_default_model.py runs/fer2013-default-modres18-occ-v1/best.pt runs/fer2013-tlstn-v1/best.pt

Writes ``src/ferkit/weights/ferkit-default.pt``: weights in fp16 (half the size; predictions are
made in fp32 after loading), model name and options, label set, input format, recipe, and where
it came from. No optimizer state.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import REPO, git_commit  # noqa: E402

from ferkit.train.checkpoint import load_checkpoint, save_checkpoint  # noqa: E402

KEEP = ("model_name", "model_kwargs", "in_chans", "image_size", "class_names", "recipe", "split", "train_size", "epoch", "val_metric", "selected_on")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("candidates", nargs="+")
    parser.add_argument("--out", default=str(REPO / "src" / "ferkit" / "weights" / "ferkit-default.pt"))
    args = parser.parse_args()
    scored = []
    for path in args.candidates:
        payload = load_checkpoint(path)
        scored.append((payload.get("val_metric") or 0.0, path, payload))
        print(f"{path}: validation {payload.get('val_metric')}")
    val, path, payload = max(scored, key=lambda item: item[0])
    shipped = {k: payload[k] for k in KEEP if k in payload}
    shipped["model"] = {k: v.half() if torch.is_floating_point(v) else v for k, v in payload["model"].items()}
    shipped["source_checkpoint"] = str(Path(path))
    shipped["source_commit"] = git_commit()
    save_checkpoint(args.out, shipped)
    print(f"shipped {path} (validation {val:.4f}) as {args.out} ({Path(args.out).stat().st_size / 1e6:.1f} MB)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
