"""Train a named recipe on every fold of a dataset, select on validation, score the test split once.

    python benchmarks/run_recipe.py fer2013-ce-modres18-v1 --data fer2013:../shared/data/fer2013
    python benchmarks/run_recipe.py ckplus-tlstn-triplet-v1 --data ckplus48:../shared/data/ckplus48 --protocol random800 --erased-test

Runs are resumable (``runs/<recipe>/...``, last.pt every epoch). The result JSON holds per-fold
and mean/std test accuracy without and with flip TTA, on the clean test split and on occluded
copies (synthetic occluders on half / all of the faces; with --erased-test also randomly erased),
plus recipe, seed, device, wall time and commit. The probabilities behind every score (and the validation
split's) go to ``benchmarks/results/probabilities/<name>.npz``, so runs can be ensembled later
(``benchmarks/ensemble_folds.py``) without their checkpoints.
"""

from __future__ import annotations

import argparse
import hashlib
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
import common  # noqa: E402
from common import REPO, provenance, write_result  # noqa: E402

from ferkit.errors import FerkitError  # noqa: E402
from ferkit.evaluate.predict import predict_probabilities  # noqa: E402
from ferkit.evaluate.reports import evaluate_model  # noqa: E402
from ferkit.io_utils import atomic_write  # noqa: E402
from ferkit.occlusion import erase_dataset, occlude_dataset  # noqa: E402
from ferkit.artifacts import load_model  # noqa: E402
from ferkit.train.config import override  # noqa: E402
from ferkit.train.experiment import FoldRun, mean_std, train_folds  # noqa: E402
from ferkit.train.recipes import get_recipe  # noqa: E402
from ferkit.train.runs import resolve_warm_start  # noqa: E402


def test_sets(test, erased: bool, seed: int) -> dict:
    sets = {"clean": test}
    if erased:
        sets["erased"] = erase_dataset(test, p=0.5, seed=seed)
    sets["occ_half"] = occlude_dataset(test, fraction=0.5, ratio_range=(0.1, 0.5), seed=seed)[0]
    sets["occ_all"] = occlude_dataset(test, fraction=1.0, ratio_range=(0.1, 0.5), seed=seed)[0]
    return sets


def result_name(recipe, args: argparse.Namespace) -> str:
    """The run and result name: recipe[__protocol], and a hash of the overrides (an overridden recipe is another run)."""
    protocol = args.protocol or recipe.protocol
    name = args.name or (recipe.tag + (f"__{protocol}" if protocol else ""))
    if args.overrides and not args.name:  # never resume or overwrite the plain recipe's run
        name += "__set-" + hashlib.sha1("\n".join(sorted(args.overrides)).encode()).hexdigest()[:8]
    return name


def score_fold(run: FoldRun, erased: bool, seed: int, *, early_stopping: bool = False) -> tuple[dict, dict[str, np.ndarray]]:
    """One fold's row: test accuracy without and with flip TTA on the clean and occluded test sets, and the
    probabilities behind it (validation split too), keyed ``<fold>__<set>_<tta>``, for ``ensemble_folds.py``.

    With ``early_stopping`` the row also says how many epochs the fold trained and why it stopped
    (rows of recipes without it keep the shape of earlier results)."""
    result, split = run.result, run.split
    loaded = load_model(result.best_path, device=result.torch_device)
    row = {"split": split.name, "best_epoch": result.best_epoch, "best_val": result.best_val}
    if early_stopping:
        row.update(epochs_trained=result.epochs_trained, stopped_early=result.stopped_early)
    row.update({"train_size": len(split.train), "test_size": len(split.test), "leaks_subjects": split.leaks_subjects, "test": {}})
    sets = test_sets(split.test, erased, seed)
    arrays = fold_identity(split.name, {"test": split.test, **({"val": split.val} if split.val is not None else {})}, sets)
    arrays["class_names"] = np.asarray(loaded.class_names, dtype=str)  # the probabilities' columns
    arrays["data_class_names"] = np.asarray(split.test.class_names, dtype=str)  # what the labels index
    for tta in ("none", "flip"):
        if split.val is not None:
            arrays[f"{split.name}__val_{tta}"] = predict(loaded, split.val, tta, result.torch_device)
    for set_name, dataset in sets.items():
        for tta in ("none", "flip"):
            probs = predict(loaded, dataset, tta, result.torch_device)
            arrays[f"{split.name}__{set_name}_{tta}"] = probs
            metrics = evaluate_model(loaded, dataset, tta=tta, device=result.torch_device, out_dir=run.run_dir / "eval", tag=f"{set_name}_{tta}",
                                     probabilities=probs)
            row["test"][f"{set_name}_{tta}"] = {k: metrics[k] for k in ("accuracy", "macro_f1", "balanced_accuracy")}
            row["test"][f"{set_name}_{tta}"]["recall"] = {c: v["recall"] for c, v in metrics["per_class"].items()}
    return row, arrays


def predict(loaded, dataset, tta: str, device) -> np.ndarray:
    return predict_probabilities(loaded.model, dataset.images, in_chans=loaded.in_chans, image_size=loaded.image_size, tta=tta, device=device)


def fold_identity(fold: str, splits: dict, sets: dict) -> dict[str, np.ndarray]:
    """What makes two runs' probabilities comparable image by image: each split's ids and labels, and a hash of
    every scored set's pixels (occluded copies depend on the recipe's seed)."""
    arrays: dict[str, np.ndarray] = {}
    for name, dataset in splits.items():
        arrays[f"{fold}__{name}_ids"] = np.asarray(dataset.ids, dtype=str)
        arrays[f"{fold}__{name}_labels"] = np.asarray(dataset.labels, dtype=np.int64)
    for name, dataset in sets.items():
        arrays[f"{fold}__{name}_sha1"] = np.asarray(hashlib.sha1(np.ascontiguousarray(dataset.images).tobytes()).hexdigest())
    return arrays


def write_probabilities(name: str, arrays: dict[str, np.ndarray]) -> Path:
    """``benchmarks/results/probabilities/<name>.npz``: float16 probabilities, compressed (about 0.1 MB for CK+)."""
    path = common.RESULTS / "probabilities" / f"{name}.npz"
    packed = {k: (v.astype(np.float16) if v.dtype.kind == "f" else v) for k, v in arrays.items()}

    def write(tmp: Path) -> None:
        with open(tmp, "wb") as f:  # a file object: np.savez would add ".npz" to the temporary's name
            np.savez_compressed(f, **packed)

    return atomic_write(path, write)


def run_folds(recipe, args: argparse.Namespace) -> tuple[list[dict], str, dict[str, np.ndarray]]:
    """Train (or resume) every chosen fold under runs/<name>, scoring each as it finishes; rows, the device and
    the folds' probabilities."""
    name = result_name(recipe, args)
    folds, device, arrays = [], args.device, {}
    for run in train_folds(recipe, args.data, Path(args.runs) / name, protocol=args.protocol, folds=args.folds, resume=None,
                           runs_dir=args.runs, device=args.device, progress=False):
        row, fold_arrays = score_fold(run, args.erased_test, recipe.seed, early_stopping=recipe.early_stop_patience is not None)
        folds.append(row)
        arrays.update(fold_arrays)
        device = str(run.result.torch_device)
        stopped = f" (stopped early after epoch {run.result.epochs_trained})" if run.result.stopped_early else ""
        print(f"{name} {run.split.name}{stopped}: " + ", ".join(f"{k} {v['accuracy']:.4f}" for k, v in row["test"].items()), flush=True)
    return folds, device, arrays


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("recipe")
    parser.add_argument("--data", required=True)
    parser.add_argument("--protocol", default=None)
    parser.add_argument("--set", dest="overrides", action="append", default=[])
    parser.add_argument("--folds", type=int, nargs="*", default=None, help="only these folds")
    parser.add_argument("--erased-test", action="store_true", help="also score a randomly erased copy of the test split (papers 000/001)")
    parser.add_argument("--runs", default=str(REPO / "runs"))
    parser.add_argument("--name", default=None, help="result file name (default: recipe[__protocol])")
    parser.add_argument("--device", default="auto")
    args = parser.parse_args()

    started = time.perf_counter()
    try:
        protocol = [f"protocol={args.protocol}"] if args.protocol else []  # recorded in each checkpoint, so evaluate finds the same folds
        recipe = resolve_warm_start(override(get_recipe(args.recipe), args.overrides + protocol), args.runs)  # run:NAME/best.pt in --runs
        folds, device, arrays = run_folds(recipe, args)
    except FerkitError as exc:
        raise SystemExit(f"run_recipe: {exc}") from None
    summary = {}
    for key in folds[0]["test"]:
        mean, std = mean_std([f["test"][key]["accuracy"] for f in folds])
        summary[key] = {"mean_accuracy": mean, "std_accuracy": std, "n_folds": len(folds),
                        "mean_macro_f1": float(np.mean([f["test"][key]["macro_f1"] for f in folds]))}
    payload = {
        "recipe": recipe.tag, "recipe_config": recipe.to_dict(), "data": args.data, "protocol": args.protocol or recipe.protocol, "seed": recipe.seed,
        "selection": "best validation epoch (PublicTest for FER2013, held-out training subjects for CK+ folds); last epoch where no validation split"
                     + (f"; early stopping after {recipe.early_stop_patience} epochs without a better validation {recipe.select_metric}"
                        if recipe.early_stop_patience is not None else ""),
        "overrides": args.overrides, "summary": summary, "folds": folds, **provenance(device, started),
    }
    write_probabilities(result_name(recipe, args), arrays)
    write_result(result_name(recipe, args), payload)
    return 0


if __name__ == "__main__":
    sys.exit(main())
