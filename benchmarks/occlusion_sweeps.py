"""Paper 003's occlusion analyses on FER2013 PrivateTest for any checkpoints (issue 5).

    python benchmarks/occlusion_sweeps.py --data fer2013:../shared/data/fer2013 \
        --model baseline=runs/fer2013-ce-modres18/best.pt --model double=runs/fer2013-occnet-double-v1/best.pt

For each model: accuracy against occlusion ratio 10%..70% (Figure 8; every face occluded, random
occluder kind and region), accuracy by occluded region (left eye, right eye, nose, mouth; Figure 7;
random blocks covering 15% of the face, as the paper's block occlusion), and for occlusion-aware
models the threshold alpha 0.3..0.7 on OCC-PrivateTest (half the faces occluded; Figure 6).
Inference only; the occluded test sets are rebuilt from a fixed seed, so every model sees the
same pixels. Writes JSON and PNG plots, and an overlay of predicted occlusion maps.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import REPO, provenance, write_result  # noqa: E402

from ferkit.data import load_split  # noqa: E402
from ferkit.evaluate.plots import _figure, save_figure  # noqa: E402
from ferkit.evaluate.reports import evaluate_model  # noqa: E402
from ferkit.occlusion import occlude_dataset  # noqa: E402
from ferkit.artifacts import load_model  # noqa: E402

RATIOS = (0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7)
REGIONS = ("left_eye", "right_eye", "nose", "mouth")
ALPHAS = (0.3, 0.4, 0.5, 0.6, 0.7)


def accuracy(loaded, dataset, tta: str) -> float:
    return evaluate_model(loaded, dataset, tta=tta)["accuracy"]


def occlusion_module(model):
    return getattr(getattr(model, "backbone", None), "occlusion_module", None)


def line_plot(xs, series: dict[str, list[float]], xlabel: str, path: Path, title: str) -> None:
    fig = _figure(5.5, 3.8)
    ax = fig.add_subplot(111)
    for name, ys in series.items():
        ax.plot(xs, ys, marker="o", label=name)
    ax.set_xlabel(xlabel)
    ax.set_ylabel("accuracy")
    ax.legend(fontsize=8)
    ax.set_title(title, fontsize=9)
    save_figure(fig, path)


def bar_plot(categories, series: dict[str, list[float]], path: Path, title: str) -> None:
    fig = _figure(6.0, 3.8)
    ax = fig.add_subplot(111)
    width = 0.8 / max(len(series), 1)
    x = np.arange(len(categories))
    for k, (name, ys) in enumerate(series.items()):
        ax.bar(x + k * width - 0.4 + width / 2, ys, width, label=name)
    ax.set_xticks(x, categories)
    ax.set_ylabel("accuracy")
    ax.legend(fontsize=8)
    ax.set_title(title, fontsize=9)
    save_figure(fig, path)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data", required=True)
    parser.add_argument("--split", default="test")
    parser.add_argument("--model", action="append", required=True, metavar="NAME=CHECKPOINT")
    parser.add_argument("--tta", default="none")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--name", default="occlusion_sweeps_fer2013")
    args = parser.parse_args()

    started = time.perf_counter()
    test = load_split(args.data, args.split)
    models = {}
    for item in args.model:
        name, _, path = item.partition("=")
        models[name] = load_model(path)
    out_dir = REPO / "benchmarks" / "results" / args.name
    result = {"data": args.data, "split": test.name, "tta": args.tta, "seed": args.seed,
              "models": {n: {"checkpoint": str(m.path), "recipe": m.recipe.get("name")} for n, m in models.items()}}

    result["clean"] = {n: accuracy(m, test, args.tta) for n, m in models.items()}
    ratio_sets = [occlude_dataset(test, fraction=1.0, ratio_range=(r, r), seed=args.seed)[0] for r in RATIOS]
    result["by_ratio"] = {"ratios": list(RATIOS), **{n: [accuracy(m, d, args.tta) for d in ratio_sets] for n, m in models.items()}}
    region_sets = [occlude_dataset(test, fraction=1.0, ratio_range=(0.15, 0.15), kinds=("random_block",), regions=(r,), seed=args.seed)[0] for r in REGIONS]
    result["by_region"] = {"regions": list(REGIONS), **{n: [accuracy(m, d, args.tta) for d in region_sets] for n, m in models.items()}}
    occ_half = occlude_dataset(test, fraction=0.5, ratio_range=(0.1, 0.5), seed=args.seed)[0]
    result["occ_half"] = {n: accuracy(m, occ_half, args.tta) for n, m in models.items()}
    result["alpha"] = {"alphas": list(ALPHAS)}
    for n, m in models.items():
        module = occlusion_module(m.model)
        if module is None:
            continue
        original = module.alpha
        result["alpha"][n] = []
        for a in ALPHAS:
            module.alpha = a
            result["alpha"][n].append(accuracy(m, occ_half, args.tta))
        module.alpha = original
        from ferkit.evaluate.occlusion_maps import occlusion_overlay_grid
        from ferkit.artifacts import to_model_input
        import torch

        occluded_idx = np.flatnonzero(occ_half.images.reshape(len(occ_half), -1).astype(int).sum(1) != test.images.reshape(len(test), -1).astype(int).sum(1))[:16]
        with torch.no_grad():
            maps = m.model.backbone.occlusion_map(to_model_input(torch.from_numpy(occ_half.images[occluded_idx]), m.in_chans, m.image_size)).numpy()
        occlusion_overlay_grid(occ_half.images[occluded_idx], maps, out_dir / f"occlusion_maps_{n}.png")

    line_plot([int(r * 100) for r in RATIOS], {n: result["by_ratio"][n] for n in models}, "occluded share of the face (%)", out_dir / "accuracy_by_ratio.png", f"{test.name}: accuracy vs occlusion ratio")
    bar_plot(list(REGIONS), {n: result["by_region"][n] for n in models}, out_dir / "accuracy_by_region.png", f"{test.name}: 15% block on one region")
    alpha_series = {n: v for n, v in result["alpha"].items() if n != "alphas"}
    if alpha_series:
        line_plot(list(ALPHAS), alpha_series, "alpha (occlusion threshold)", out_dir / "accuracy_by_alpha.png", f"OCC-{test.name}: alpha sweep")
    result.update(provenance("cpu", started))
    write_result(args.name, result)
    return 0


if __name__ == "__main__":
    sys.exit(main())
