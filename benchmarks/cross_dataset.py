"""Cross-dataset evaluation: a FER2013-trained model on all of CK+48 through the label mapping.

    python benchmarks/cross_dataset.py --model src/ferkit/weights/ferkit-default.pt

CK+ classes the model lacks (contempt) are reported as unmapped, with what the model predicted
for them; the other classes are scored with the model's prediction restricted to CK+'s classes.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import REPO, SHARED_DATA, provenance, write_result  # noqa: E402

from ferkit.data import load_split  # noqa: E402
from ferkit.evaluate.reports import evaluate_model  # noqa: E402
from ferkit.artifacts import load_model  # noqa: E402


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model", default=str(REPO / "src" / "ferkit" / "weights" / "ferkit-default.pt"))
    parser.add_argument("--data", default=f"ckplus48:{SHARED_DATA / 'ckplus48'}")
    parser.add_argument("--tta", default="flip")
    parser.add_argument("--name", default="cross_dataset_fer2013_to_ckplus48")
    args = parser.parse_args()
    started = time.perf_counter()
    loaded = load_model(args.model)
    data = load_split(args.data, "all")
    out_dir = REPO / "benchmarks" / "results" / args.name
    result = evaluate_model(loaded, data, tta=args.tta, out_dir=out_dir, tag="ckplus48_all")
    result["checkpoint"] = str(Path(args.model).resolve().relative_to(REPO)) if Path(args.model).resolve().is_relative_to(REPO) else args.model
    result.update(provenance("cpu", started))
    write_result(args.name, result)
    print(f"accuracy on mapped classes {result['accuracy']:.4f}; unmapped {result['unmapped_classes']} ({result['unmapped_samples']} images)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
