"""Write one network of an ensemble checkpoint as a stand-alone checkpoint (e.g. as transfer start weights).

    python benchmarks/extract_member.py src/ferkit/weights/ferkit-default.pt --best --out runs/start/fer2013-modres18.pt

``--best`` takes the member with the highest validation (PublicTest) accuracy recorded in the ensemble;
``--index N`` takes member N. The weights stay as stored (the shipped file keeps int8/fp16 weights).
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import common  # noqa: E402,F401  (puts src/ on the path)

from ferkit.artifacts import load_checkpoint, member_checkpoint, save_checkpoint  # noqa: E402
from ferkit.errors import FerkitError  # noqa: E402


def best_member(path: Path) -> int:
    members = load_checkpoint(path).get("members") or []
    scores = [m.get("val_metric") for m in members]
    if not scores or any(s is None for s in scores):
        raise FerkitError(f"{path} records no validation accuracy per member; pass --index")
    return max(range(len(scores)), key=lambda i: scores[i])


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("ensemble", type=Path)
    which = parser.add_mutually_exclusive_group(required=True)
    which.add_argument("--index", type=int)
    which.add_argument("--best", action="store_true", help="the member with the best recorded validation accuracy")
    parser.add_argument("--out", type=Path, required=True)
    args = parser.parse_args(argv)
    try:
        index = best_member(args.ensemble) if args.best else args.index
        payload = member_checkpoint(args.ensemble, index)
        save_checkpoint(args.out, payload)
    except FerkitError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    print(f"member {index} of {args.ensemble} ({payload['recipe'].get('name')}) -> {args.out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
