"""Choose the default model among FER2013 runs on validation (PublicTest) accuracy and ship it.

    python benchmarks/ship_default_model.py runs/fer2013-default-modres18-occ-v2/best.pt runs/fer2013-default-modres18-occ-v3/best.pt
    python benchmarks/ship_default_model.py --ensemble runs/A/best.pt runs/B/best.pt runs/C/best.pt

Without ``--ensemble`` the candidate with the best recorded validation accuracy is shipped. With it,
every non-empty subset of the candidates (up to ``--max-members``) is scored on PublicTest (flip TTA,
averaged probabilities), the best subset wins (ties go to fewer members: smaller and faster), and the
choice with every subset's score is written to ``benchmarks/results/default_model_selection.json``.
PrivateTest is never read here.

Writes ``src/ferkit/weights/ferkit-default.pt``: weights stored in int8 with per-channel scales
(``--storage``; a quarter of fp32, predictions are made in fp32 after loading; the shipped file is
scored on PublicTest again to show the storage changed nothing that matters), model name and
options, label set, input format, recipe, and where it came from. No optimizer state.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import REPO, choose_subset, git_commit, provenance, write_result  # noqa: E402

from ferkit.artifacts import WEIGHT_STORAGES, compress_weights, load_checkpoint, load_model, model_state, save_checkpoint  # noqa: E402

KEEP = ("model_name", "model_kwargs", "in_chans", "image_size", "class_names", "recipe", "split", "train_size", "epoch", "val_metric",
        "selected_on", "members")
MAX_CANDIDATES = 8  # 255 subsets; each is a cheap average of stored probabilities


def ship(payload: dict, source: str, out: Path, storage: str) -> None:
    shipped = {k: payload[k] for k in KEEP if k in payload}
    shipped["model"], scales = compress_weights(model_state(payload), storage)
    if scales:
        shipped["model_scales"] = scales
    shipped["source_checkpoint"] = source
    shipped["source_commit"] = git_commit()
    save_checkpoint(out, shipped)
    print(f"shipped {source} as {out} ({out.stat().st_size / 1e6:.1f} MB)")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("candidates", nargs="+")
    parser.add_argument("--ensemble", action="store_true", help="choose the best subset of the candidates on PublicTest and ship it as one model")
    parser.add_argument("--data", default="fer2013:../shared/data/fer2013")
    parser.add_argument("--tta", default="flip", choices=["none", "flip"])
    parser.add_argument("--max-members", type=int, default=None, help="largest ensemble considered (each member adds about 5 MB in int8 and another forward pass per face)")
    parser.add_argument("--storage", default="int8", choices=WEIGHT_STORAGES, help="how the shipped weights are stored")
    parser.add_argument("--out", default=str(REPO / "src" / "ferkit" / "weights" / "ferkit-default.pt"))
    args = parser.parse_args()
    out = Path(args.out)
    if not args.ensemble:
        scored = []
        for path in args.candidates:
            payload = load_checkpoint(path)
            scored.append((payload.get("val_metric") or 0.0, path, payload))
            print(f"{path}: validation {payload.get('val_metric')}")
        val, path, payload = max(scored, key=lambda item: item[0])
        ship(payload, str(Path(path)), out, args.storage)
        return 0

    from ferkit.data import load_split
    from ferkit.evaluate.predict import TTA_MODES, predict_probabilities
    from ferkit.artifacts import ensemble_checkpoint

    if not 2 <= len(args.candidates) <= MAX_CANDIDATES:
        parser.error(f"--ensemble takes 2 to {MAX_CANDIDATES} candidates")
    started = time.perf_counter()
    val = load_split(args.data, "val")
    labels = val.labels
    probabilities = []
    for path in args.candidates:
        loaded = load_model(path)
        if tuple(loaded.class_names) != tuple(val.class_names):
            parser.error(f"{path} predicts {loaded.class_names}, PublicTest has {val.class_names}")
        probabilities.append(predict_probabilities(loaded.model, val.images, in_chans=loaded.in_chans, image_size=loaded.image_size, tta=args.tta))
        print(f"{path}: PublicTest ({args.tta}) {(probabilities[-1].argmax(1) == labels).mean():.4f}")
    best, scored = choose_subset(probabilities, labels, args.max_members)
    best_val = max(r["val_accuracy"] for r in scored)
    chosen = [args.candidates[i] for i in best]
    for row in scored:
        row["members"] = [args.candidates[i] for i in row["members"]]
    print(f"chosen on PublicTest: {chosen} ({best_val:.4f})")
    if len(chosen) == 1:
        ship(load_checkpoint(chosen[0]), chosen[0], out, args.storage)
    else:
        payload = ensemble_checkpoint(chosen)
        payload["val_metric"] = best_val
        payload["selected_on"] = f"PublicTest ({args.tta} TTA): the best subset of {len(args.candidates)} candidates" + (
            f" (at most {args.max_members} members)" if args.max_members else "")
        ship(payload, " + ".join(chosen), out, args.storage)
    shipped = load_model(out)
    shipped_val = {}  # every TTA mode on the shipped file: the recognizer's default TTA is chosen on PublicTest too
    for tta in TTA_MODES:
        probs = predict_probabilities(shipped.model, val.images, in_chans=shipped.in_chans, image_size=shipped.image_size, tta=tta)
        shipped_val[tta] = float((probs.argmax(1) == labels).mean())
    print(f"shipped file ({args.storage} weights): PublicTest {shipped_val} (fp32, {args.tta}: {best_val:.4f})")
    write_result("default_model_selection", {
        **provenance("cpu", started), "split": "PublicTest (validation)", "tta": args.tta, "candidates": args.candidates,
        "max_members": args.max_members,
        "chosen": chosen, "subsets": sorted(scored, key=lambda r: -r["val_accuracy"]), "shipped_size_mb": round(out.stat().st_size / 1e6, 1),
        "storage": args.storage, "shipped_file_val_accuracy_by_tta": shipped_val,
    })
    return 0


if __name__ == "__main__":
    sys.exit(main())
