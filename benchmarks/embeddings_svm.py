"""Paper 002: triplet-mined embeddings, then SVM / LDA / softmax-regression classifiers (issue 4).

    python benchmarks/embeddings_svm.py --recipe fer2013-embed-triplet-v1 --data fer2013:../shared/data/fer2013 \
        --curve-every 3 --compare-checkpoint runs/fer2013-ce-modres18/best.pt

Trains the embedding recipe epoch by epoch (resumable), and every ``--curve-every`` epochs fits
the classifiers on training embeddings and scores validation and test (the paper's Figures
10-14 curves; test is logged for the figure only, never used to choose). At the end, each
classifier is fitted on the selected checkpoint's training embeddings; the classifier reported
as ferkit's choice is the one best on validation. Optionally the same classifiers on the
embeddings of a cross-entropy-trained network (the paper's "no triplet loss" ablation).
Kernel SVMs are fitted on a class-stratified subsample (``--kernel-svm-max``) because libsvm
scales quadratically in N; that is stated in the result file.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import REPO, provenance, write_result  # noqa: E402

from ferkit.classifiers import EmbeddingPipeline, classifier_scores, fit_classifiers, score_classifiers  # noqa: E402
from ferkit.data import experiment_splits  # noqa: E402
from ferkit.evaluate.metrics import classification_metrics  # noqa: E402
from ferkit.evaluate.plots import confusion_matrix_plot  # noqa: E402
from ferkit.evaluate.predict import predict_embeddings  # noqa: E402
from ferkit.evaluate.roc import classifier_curves_plot, roc_curves, roc_plot  # noqa: E402
from ferkit.io_utils import atomic_write_json  # noqa: E402
from ferkit.artifacts import load_model  # noqa: E402
from ferkit.train.config import override  # noqa: E402
from ferkit.train.loop import train  # noqa: E402
from ferkit.train.recipes import get_recipe  # noqa: E402
from ferkit.train.resume import metrics_rows  # noqa: E402
from ferkit.train.runs import keep_recorded_warm_start, resolve_warm_start  # noqa: E402

CLASSIFIERS = ("svm_linear", "svm_rbf", "svm_poly", "svm_sigmoid", "lda", "softmax", "nearest_centroid", "knn")
KERNEL_SVMS = {"svm_rbf", "svm_poly", "svm_sigmoid"}
CURVE_CLASSIFIERS = ("svm_linear", "lda", "softmax", "nearest_centroid")


def stratified_subsample(labels: np.ndarray, max_n: int, seed: int = 0) -> np.ndarray:
    if len(labels) <= max_n:
        return np.arange(len(labels))
    from sklearn.model_selection import train_test_split

    keep, _ = train_test_split(np.arange(len(labels)), train_size=max_n, stratify=labels, random_state=seed)
    return np.sort(keep)


def embed_all(model, split, kw) -> dict[str, np.ndarray]:
    return {name: predict_embeddings(model, getattr(split, name).images, **kw) for name in ("train", "val", "test")}


def fit_and_score(emb: dict[str, np.ndarray], split, names, kernel_max: int) -> tuple[dict, dict]:
    fitted, scores = {}, {}
    sub = stratified_subsample(split.train.labels, kernel_max)
    for name in names:
        idx = sub if name in KERNEL_SVMS else np.arange(len(split.train))
        t0 = time.perf_counter()
        fitted[name] = fit_classifiers(emb["train"][idx], split.train.labels[idx], [name])[name]
        scores[name] = {"fit_seconds": round(time.perf_counter() - t0, 1), "fit_samples": int(len(idx))}
        for part in ("val", "test"):
            scores[name][part] = score_classifiers({name: fitted[name]}, emb[part], getattr(split, part).labels)[name]
    return fitted, scores


def train_with_curves(recipe, split, run_dir: Path, curve_every: int, kernel_max: int) -> tuple[list, object]:
    """Train epoch by epoch (resumable); every ``curve_every`` epochs fit the curve classifiers. Returns (curves, device)."""
    # Curve rows are kept beside the run, so a resumed script never labels later weights with an earlier epoch.
    curves_path = run_dir / "classifier_curves.json"
    curves = json.loads(curves_path.read_text()) if curves_path.exists() else []
    done = {row["epoch"] for row in curves}
    device = None
    recipe = keep_recorded_warm_start(recipe, run_dir)  # a run started with runs/x/best.pt resumes with the same file
    trained = metrics_rows(run_dir / "metrics.jsonl")  # a restarted script continues after them (a run only grows)
    for epoch in range(max(1, min(trained, recipe.epochs)), recipe.epochs + 1):
        result = train(dataclasses.replace(recipe, epochs=epoch), split, run_dir, resume=(run_dir / "last.pt").exists(), progress=False)
        device = result.torch_device
        if (epoch % curve_every == 0 or epoch == recipe.epochs) and epoch not in done and len(result.history) == epoch:
            model = load_model(result.last_path, device=device).model
            emb = embed_all(model, split, {"in_chans": recipe.in_chans, "image_size": recipe.image_size, "device": device})
            _, scores = fit_and_score(emb, split, CURVE_CLASSIFIERS, kernel_max)
            curves.append({"epoch": epoch, **{c: {"val": s["val"]["accuracy"], "test": s["test"]["accuracy"]} for c, s in scores.items()}})
            atomic_write_json(curves_path, curves)
            print(f"epoch {epoch}: " + ", ".join(f"{c} val {s['val']['accuracy']:.4f}" for c, s in scores.items()), flush=True)
    return curves, device


def score_split(recipe, split, run_dir: Path, out_dir: Path | None, args) -> dict:
    """Train one split, fit every classifier on the selected checkpoint, choose one on validation.

    Plots (curves, confusion, ROC) go to ``out_dir`` when given; the fitted pipeline is saved in ``run_dir``.
    """
    curves, device = train_with_curves(recipe, split, run_dir, args.curve_every, args.kernel_svm_max)
    loaded = load_model(run_dir / "best.pt")
    emb = embed_all(loaded.model, split, {"in_chans": recipe.in_chans, "image_size": recipe.image_size})
    fitted, scores = fit_and_score(emb, split, CLASSIFIERS, args.kernel_svm_max)
    chosen = max(scores, key=lambda c: scores[c]["val"]["accuracy"])
    scores_test = classifier_scores(fitted[chosen], emb["test"], len(split.test.class_names))
    metrics = classification_metrics(split.test.labels, scores_test.argmax(1), split.test.class_names)
    curves_roc = roc_curves(scores_test, split.test.labels, split.test.class_names)
    if out_dir is not None:
        classifier_curves_plot(curves, out_dir / "classifier_curves.png", title=f"{recipe.tag}: classifiers on embeddings per epoch")
        confusion_matrix_plot(metrics["confusion_matrix"], metrics["class_names"], out_dir / "confusion.png", title=f"{recipe.tag} + {chosen}: test acc {metrics['accuracy']:.4f}")
        roc_plot(curves_roc, out_dir / "roc.png", title=f"{recipe.tag} + {chosen} (one-vs-rest, test)")
    pipeline = EmbeddingPipeline(loaded.model, fitted[chosen], split.train.class_names, model_name=loaded.model_name,
                                 model_kwargs={"num_classes": len(loaded.class_names), **dict(loaded.recipe.get("model_kwargs", {}))},
                                 image_size=recipe.image_size, classifier_name=chosen)
    pipeline.save(run_dir / f"pipeline_{chosen}.pt", overwrite=True)
    return {"classifiers": scores, "chosen_on_validation": chosen,
            "chosen_test": {k: metrics[k] for k in ("accuracy", "macro_f1", "balanced_accuracy")},
            "chosen_test_per_class_recall": {c: v["recall"] for c, v in metrics["per_class"].items()},
            "roc_auc": {c: v["auc"] for c, v in curves_roc["per_class"].items()}, "macro_auc": curves_roc.get("macro_auc"),
            "curves": curves, "device": str(device or "cpu")}


def fold_summary(folds: list[dict]) -> dict:
    """Mean and std over folds of each classifier's test accuracy, and of the classifier chosen on validation per fold."""
    summary = {name: {"mean_test_accuracy": float(np.mean([f["classifiers"][name]["test"]["accuracy"] for f in folds])),
                      "std_test_accuracy": float(np.std([f["classifiers"][name]["test"]["accuracy"] for f in folds]))}
               for name in folds[0]["classifiers"]}
    chosen = [f["chosen_test"]["accuracy"] for f in folds]
    summary["chosen_on_validation"] = {"mean_test_accuracy": float(np.mean(chosen)), "std_test_accuracy": float(np.std(chosen)),
                                       "choices": [f["chosen_on_validation"] for f in folds]}
    return summary


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--recipe", default="fer2013-embed-triplet-v1")
    parser.add_argument("--data", required=True)
    parser.add_argument("--protocol", default=None, help="dataset protocol, e.g. kfold10 for CK+48 (default: the recipe's)")
    parser.add_argument("--folds", type=int, nargs="*", default=None, help="only these folds")
    parser.add_argument("--set", dest="overrides", action="append", default=[])
    parser.add_argument("--curve-every", type=int, default=3)
    parser.add_argument("--kernel-svm-max", type=int, default=8000)
    parser.add_argument("--compare-checkpoint", default=None, help="a cross-entropy checkpoint for the 'no triplet' ablation (single-split data)")
    parser.add_argument("--runs", default=str(REPO / "runs"))
    parser.add_argument("--name", default=None)
    args = parser.parse_args()

    started = time.perf_counter()
    recipe = resolve_warm_start(override(get_recipe(args.recipe), args.overrides), args.runs)  # run:NAME/best.pt in --runs
    protocol = args.protocol or recipe.protocol
    splits = experiment_splits(args.data, protocol, recipe.seed)
    name = args.name or f"embeddings_svm__{recipe.tag}" + (f"__{protocol}" if protocol and len(splits) > 1 else "")
    out_dir = REPO / "benchmarks" / "results" / name
    common = {"recipe": recipe.tag, "recipe_config": recipe.to_dict(), "data": args.data, "seed": recipe.seed,
              "kernel_svm_fit_samples": args.kernel_svm_max,
              "note": "test accuracy of every classifier is reported; the choice among them is made on validation "
                      "(PublicTest for FER2013, held-out training subjects for CK+ folds)"}
    if len(splits) == 1:
        run_dir = Path(args.runs) / (args.name or recipe.tag)  # a named row (e.g. the -e60 one) trains apart from the recipe's own
        result = score_split(recipe, splits[0], run_dir, out_dir, args)
        device = result.pop("device")
        payload = {**common, **result}
        if args.compare_checkpoint:
            split = splits[0]
            ce = load_model(args.compare_checkpoint)
            ce_emb = embed_all(ce.model, split, {"in_chans": ce.in_chans, "image_size": ce.image_size})
            _, ce_scores = fit_and_score(ce_emb, split, CLASSIFIERS, args.kernel_svm_max)
            payload["cross_entropy_embeddings"] = {"checkpoint": str(args.compare_checkpoint), "recipe": ce.recipe.get("name"), "classifiers": ce_scores}
    else:
        chosen_folds = args.folds if args.folds is not None else range(len(splits))
        folds = []
        for k in chosen_folds:
            split = splits[k]
            result = score_split(recipe, split, Path(args.runs) / name / split.name, out_dir if not folds else None, args)
            device = result.pop("device")
            folds.append({"split": split.name, "train_size": len(split.train), "test_size": len(split.test),
                          "leaks_subjects": split.leaks_subjects, **result})
            print(f"{name} {split.name}: {result['chosen_on_validation']} test {result['chosen_test']['accuracy']:.4f}", flush=True)
        payload = {**common, "protocol": protocol, "summary": fold_summary(folds), "folds": folds,
                   "plots": "classifier curves, confusion and ROC of the first fold run"}
    payload.update(provenance(device, started))
    write_result(name, payload)
    return 0


if __name__ == "__main__":
    sys.exit(main())
