"""Ensemble finished runs fold by fold from their stored probabilities, choosing the members on validation only.

    python benchmarks/ensemble_folds.py --name ckplus-ensemble-fer2013init-e60__kfold10 \
        ckplus-tlstn-triplet-v2-fer2013init-e60__kfold10 ckplus-occnet-double-v3-fer2013init-e60__kfold10 ...

Each member is a result name of ``benchmarks/run_recipe.py``, which keeps the probabilities behind its scores
(and its validation split's) in ``benchmarks/results/probabilities/<name>.npz``; no checkpoint is needed. Every
non-empty subset of the members (up to ``--max-members``) is scored on the validation images of all folds
pooled (for CK+ folds: the held-out training subjects, about 90 images a fold, too few to choose per fold), with
no TTA, as single runs select; ties go to fewer members. The chosen subset's averaged probabilities are then
scored on each fold's test sets once, without and with flip TTA, and the result JSON has the shape of
``run_recipe.py``'s (summary + folds), so ``report.py`` reads it like any run. The members must have scored the
same images: the script refuses folds whose test ids, labels or (occluded) test pixels differ.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
import common  # noqa: E402
from common import choose_subset, provenance, write_result  # noqa: E402

from ferkit.evaluate.metrics import mapped_metrics  # noqa: E402
from ferkit.labels import map_labels  # noqa: E402
from ferkit.train.experiment import mean_std  # noqa: E402

MAX_MEMBERS = 8  # 255 subsets, each a cheap average


class MemberError(ValueError):
    """Members that cannot be ensembled (missing file, other folds or images)."""


def load_member(name: str, folder: Path | None = None) -> dict[str, np.ndarray]:
    path = (folder or common.RESULTS / "probabilities") / f"{name}.npz"
    if not path.is_file():
        raise MemberError(f"{path} not found: only runs scored by benchmarks/run_recipe.py since it kept probabilities have one "
                          f"(rerun the member, or leave it out)")
    with np.load(path) as data:
        return {k: data[k] for k in data.files}


def fold_names(member: dict[str, np.ndarray]) -> list[str]:
    return sorted(key[: -len("__test_ids")] for key in member if key.endswith("__test_ids"))


def scored_sets(member: dict[str, np.ndarray], fold: str) -> list[str]:
    """The test sets a member scored on ``fold`` (clean, erased, occ_half, occ_all), in a fixed order."""
    return sorted(key[len(fold) + 2:-len("_sha1")] for key in member if key.startswith(f"{fold}__") and key.endswith("_sha1"))


def check_aligned(names: list[str], members: list[dict[str, np.ndarray]]) -> tuple[list[str], list[str]]:
    """The folds and test sets every member shares; raises MemberError when they scored different images."""
    folds = fold_names(members[0])
    for name, member in zip(names[1:], members[1:]):
        if fold_names(member) != folds:
            raise MemberError(f"{name} has folds {fold_names(member)}, {names[0]} has {folds}: ensemble runs of the same protocol")
        if list(member["class_names"]) != list(members[0]["class_names"]):
            raise MemberError(f"{name} predicts {list(member['class_names'])}, {names[0]} {list(members[0]['class_names'])}")
    sets = [s for s in scored_sets(members[0], folds[0]) if all(s in scored_sets(m, f) for m in members for f in folds)]
    for fold in folds:
        keys = [f"{fold}__{k}" for k in ("test_ids", "test_labels", "val_ids", "val_labels")] + [f"{fold}__{s}_sha1" for s in sets]
        for key in keys:
            for name, member in zip(names, members):
                if key not in member:
                    raise MemberError(f"{name} lacks {key} (a run without a validation split cannot be chosen on validation)")
                if not np.array_equal(member[key], members[0][key]):
                    raise MemberError(f"{name} and {names[0]} differ in {key}: they did not score the same images "
                                      f"(another split seed, or occluded copies drawn with another seed)")
    return folds, sets


def averaged(members: list[dict[str, np.ndarray]], subset: tuple[int, ...], key: str) -> np.ndarray:
    return np.mean([members[i][key].astype(np.float32) for i in subset], axis=0)


def ensemble(names: list[str], members: list[dict[str, np.ndarray]], max_members: int | None = None) -> dict:
    """The chosen subset, every subset's pooled validation accuracy, and the fold rows and summary of the chosen one."""
    folds, sets = check_aligned(names, members)
    val_labels = np.concatenate([members[0][f"{fold}__val_labels"] for fold in folds])
    pooled = [np.concatenate([m[f"{fold}__val_none"].astype(np.float32) for fold in folds]) for m in members]
    best, scored = choose_subset(pooled, val_labels, max_members)
    mapping = map_labels(tuple(members[0]["data_class_names"]), tuple(members[0]["class_names"]))
    rows = []
    for fold in folds:
        labels = members[0][f"{fold}__test_labels"]
        row = {"split": fold, "best_val": float((averaged(members, best, f"{fold}__val_none").argmax(1)
                                                  == members[0][f"{fold}__val_labels"]).mean()),
               "test_size": int(len(labels)), "test": {}}
        for set_name in sets:
            for tta in ("none", "flip"):
                metrics = mapped_metrics(labels, averaged(members, best, f"{fold}__{set_name}_{tta}"), mapping)
                row["test"][f"{set_name}_{tta}"] = {k: metrics[k] for k in ("accuracy", "macro_f1", "balanced_accuracy")}
                row["test"][f"{set_name}_{tta}"]["recall"] = {c: v["recall"] for c, v in metrics["per_class"].items()}
        rows.append(row)
    summary = {}
    for key in rows[0]["test"]:
        mean, std = mean_std([r["test"][key]["accuracy"] for r in rows])
        summary[key] = {"mean_accuracy": mean, "std_accuracy": std, "n_folds": len(rows),
                        "mean_macro_f1": float(np.mean([r["test"][key]["macro_f1"] for r in rows]))}
    subsets = sorted(({"members": [names[i] for i in r["members"]], "val_accuracy": r["val_accuracy"]} for r in scored),
                     key=lambda r: -r["val_accuracy"])
    return {"chosen": [names[i] for i in best], "subsets": subsets, "summary": summary, "folds": rows}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("members", nargs="+", help="result names of run_recipe.py runs of one protocol")
    parser.add_argument("--name", "--out", dest="out", required=True, help="result name to write (benchmarks/results/NAME.json)")
    parser.add_argument("--max-members", type=int, default=None)
    args = parser.parse_args()
    if not 2 <= len(args.members) <= MAX_MEMBERS:
        parser.error(f"give 2 to {MAX_MEMBERS} members")
    if len(set(args.members)) != len(args.members):
        parser.error("a member is named twice")
    started = time.perf_counter()
    try:
        members = [load_member(name) for name in args.members]
        result = ensemble(args.members, members, args.max_members)
    except MemberError as exc:
        raise SystemExit(f"ensemble_folds: {exc}") from None
    print(f"chosen on pooled validation: {result['chosen']} ({result['subsets'][0]['val_accuracy']:.4f})")
    for key, row in result["summary"].items():
        print(f"  {key}: {row['mean_accuracy']:.4f} +- {row['std_accuracy']:.4f}")
    write_result(args.out, {
        "recipe": "ensemble of runs", "members": args.members, **result,
        "selection": "the subset of members (averaged probabilities) with the best validation accuracy, validation images of all "
                     "folds pooled, no TTA; ties to fewer members. Test splits scored once with the chosen subset",
        **provenance("cpu", started),
    })
    return 0


if __name__ == "__main__":
    sys.exit(main())
