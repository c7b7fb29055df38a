"""docs/reproduction.md and the README headline: one row per paper figure, the paper's number against ours.

The paper numbers are typed here once, from the paper texts in ``../shared/papers``; every "ours" figure, epoch
count and CPU time is read from ``benchmarks/results`` (see report.py). Which of our runs stands for a row is fixed
in advance (``ours``: the first result that exists, in the order written, preferring full-length runs), never
picked by its test score.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any, Callable

from common import RESULTS

# Transfer start files that are not runs/<name>/best.pt: the FER2013 run that produced them (for CPU time).
START_SOURCES = {"runs/start/fer2013-modres18-v5best.pt": "fer2013-default-continued-seed3-v2"}


@dataclass(frozen=True)
class PaperRow:
    """One figure of a paper and the results of ours that reproduce it."""

    paper: str  # "000 T2": paper number and table
    method: str
    dataset: str  # "CK+" or "FER2013"
    paper_value: float | None  # None: the paper text we have gives no number
    paper_protocol: str
    ours: tuple[str, ...] = ()  # under the paper's protocol (or the nearest we have)
    ours_si: tuple[str, ...] = ()  # CK+ subject-independent 10-fold
    key: str = "clean_none"  # which test column the paper's figure corresponds to
    note: str = ""
    also_key: str | None = None  # another test column shown beside ours (e.g. clean, when the paper's is erased)


ROWS: tuple[PaperRow, ...] = (
    PaperRow("000 T2 / 001 T2", "STN + ResNet-18, CE", "CK+", 96.87, "random 800/181 images, randomly erased test (paper §4.1.2)",
             ("ckplus-stn-resnet18-ce-v1-e60__random800", "ckplus-stn-resnet18-ce-v1__random800"), ("ckplus-stn-resnet18-ce-v1__kfold10",),
             note="no FER2013-trained ResNet-18 here: from scratch", key="erased_none", also_key="clean_none"),
    PaperRow("000 T2", "STN + modified ResNet-18, CE", "CK+", 98.96, "random 800/181 images, randomly erased test",
             ("ckplus-tlstn-ce-v2-fer2013init-e60__random800", "ckplus-tlstn-ce-v2__random800"),
             ("ckplus-tlstn-ce-v2-fer2013init-e60__kfold10", "ckplus-tlstn-ce-v2-fer2013init-es__kfold10", "ckplus-tlstn-ce-v2__kfold10"), key="erased_none", also_key="clean_none"),
    PaperRow("000 T2", "STN + modified ResNet-18, CE, epoch ties broken by validation loss", "CK+", None, "–", (),
             ("ckplus-tlstn-ce-v2-fer2013init-e60-tieloss__kfold10",),
             note="the row above with select_ties = val_loss, queued before any fold ran with it; see docs/training_loop.md"),
    PaperRow("000 T2", "TL-STN: STN + modified ResNet-18, triplet", "CK+", 99.41, "random 800/181 images, randomly erased test",
             ("ckplus-tlstn-triplet-v2-fer2013init-e60__random800", "ckplus-tlstn-triplet-v2__random800"),
             ("ckplus-tlstn-triplet-v2-fer2013init-e60__kfold10", "ckplus-tlstn-triplet-v2-fer2013init-es__kfold10", "ckplus-tlstn-triplet-v2__kfold10"), key="erased_none", also_key="clean_none"),
    PaperRow("000 T3", "STN + ResNet-18, triplet", "FER2013", 72.30, "PrivateTest", ("fer2013-stn-resnet18-tl-v2-e60", "fer2013-stn-resnet18-tl-v2",)),
    PaperRow("000 T3", "TL-STN: STN + modified ResNet-18, triplet", "FER2013", 73.31, "PrivateTest", ("fer2013-tlstn-v2-e60", "fer2013-tlstn-v2",)),
    PaperRow("002 §4", "Triplet embeddings + SVM (best classifier)", "FER2013", 74.64, "PrivateTest (paper: best epoch, on its validation set)",
             ("embeddings_svm__fer2013-embed-triplet-v2-e60", "embeddings_svm__fer2013-embed-triplet-v2", "embeddings_svm__fer2013-embed-triplet-v1")),
    PaperRow("002 §4", "Triplet embeddings + SVM (best classifier)", "CK+", None, "–", (), ("embeddings_svm__ckplus-embed-triplet-v1__kfold10",),
             note="paper 002 reports JAFFE and MMI, not CK+"),
    PaperRow("003 T3", "Plain CNN baseline, CE (paper: ResNet-50; ours: modified ResNet-18)", "CK+", 92.12, "8-fold (ours: subject-independent 10-fold)",
             ("ckplus-ce-modres18-occ-v2-fer2013init-e60__kfold10", "ckplus-ce-modres18-occ-v2-fer2013init-es__kfold10", "ckplus-ce-modres18-occ-v2__kfold10")),
    PaperRow("003 T3", "Plain CNN baseline on OCC-CK+", "CK+", 88.16, "8-fold (ours: 10-fold), half the faces occluded",
             ("ckplus-ce-modres18-occ-v2-fer2013init-e60__kfold10", "ckplus-ce-modres18-occ-v2-fer2013init-es__kfold10", "ckplus-ce-modres18-occ-v2__kfold10"), key="occ_half_none"),
    PaperRow("003 T3", "Single-channel occlusion-aware network", "CK+", 96.58, "8-fold (ours: 10-fold)",
             ("ckplus-occnet-single-v4-fer2013init-e60__kfold10", "ckplus-occnet-single-v3-fer2013init-e60__kfold10", "ckplus-occnet-single-v3-fer2013init-es__kfold10", "ckplus-occnet-single-v4__kfold10", "ckplus-occnet-single-v3__kfold10", "ckplus-occnet-single-v2__kfold10")),
    PaperRow("003 T3", "Single-channel occlusion-aware network on OCC-CK+", "CK+", 92.69, "8-fold (ours: 10-fold), half occluded",
             ("ckplus-occnet-single-v4-fer2013init-e60__kfold10", "ckplus-occnet-single-v3-fer2013init-e60__kfold10", "ckplus-occnet-single-v3-fer2013init-es__kfold10", "ckplus-occnet-single-v4__kfold10", "ckplus-occnet-single-v3__kfold10", "ckplus-occnet-single-v2__kfold10"), key="occ_half_none"),
    PaperRow("003 T3", "Double-channel occlusion-aware network", "CK+", 97.36, "8-fold (ours: 10-fold)",
             ("ckplus-occnet-double-v4-fer2013init-e60__kfold10", "ckplus-occnet-double-v3-fer2013init-e60__kfold10", "ckplus-occnet-double-v3-fer2013init-es__kfold10", "ckplus-occnet-double-v4__kfold10", "ckplus-occnet-double-v3__kfold10", "ckplus-occnet-double-v2__kfold10")),
    PaperRow("003 T3", "Double-channel occlusion-aware network on OCC-CK+", "CK+", 93.21, "8-fold (ours: 10-fold), half occluded",
             ("ckplus-occnet-double-v4-fer2013init-e60__kfold10", "ckplus-occnet-double-v3-fer2013init-e60__kfold10", "ckplus-occnet-double-v3-fer2013init-es__kfold10", "ckplus-occnet-double-v4__kfold10", "ckplus-occnet-double-v3__kfold10", "ckplus-occnet-double-v2__kfold10"), key="occ_half_none"),
    PaperRow("003 (FER2013)", "Double-channel occlusion-aware network", "FER2013", None, "PrivateTest", ("fer2013-occnet-double-v3-e60", "fer2013-occnet-double-v2-e60", "fer2013-occnet-double-v2", "fer2013-occnet-double-v1"),
             note="paper 003 reports RAF-DB and SFEW, not FER2013"),
    PaperRow("004", "CE (baseline of the loss study)", "FER2013", None, "PrivateTest", ("fer2013-loss-ce-v2-e60", "fer2013-loss-ce-v2",), note="no number in the paper text we have"),
    PaperRow("004", "Weighted CE (the paper's weighted-softmax baseline)", "FER2013", None, "PrivateTest", ("fer2013-loss-weighted-ce-v2-e60", "fer2013-loss-weighted-ce-v2",),
             note="no number in the paper text we have"),
    PaperRow("004", "CE + center loss", "FER2013", None, "PrivateTest", ("fer2013-loss-center-v2-e60", "fer2013-loss-center-v2",), note="no number in the paper text we have"),
    PaperRow("004", "CE + weighted-cluster loss", "FER2013", None, "PrivateTest", ("fer2013-loss-weighted-cluster-v5-e60", "fer2013-loss-weighted-cluster-v5", "fer2013-loss-weighted-cluster-v3"),
             note="no number in the paper text we have"),
    PaperRow("004", "Two-stage transfer (FER2013 pre-training, CK+ fine-tuning), CE", "CK+", None, "–", (), ("ckplus-loss-ce-v1-fer2013init__kfold10",),
             note="paper 004 reports AffectNet, not CK+"),
    PaperRow("004", "Two-stage transfer, CE + center loss", "CK+", None, "–", (), ("ckplus-loss-center-v1-fer2013init__kfold10",),
             note="paper 004 reports AffectNet, not CK+"),
    PaperRow("004", "Two-stage transfer, CE + weighted-cluster loss", "CK+", None, "–", (), ("ckplus-loss-weighted-cluster-v1-fer2013init__kfold10",),
             note="paper 004 reports AffectNet, not CK+"),
    PaperRow("ferkit", "Ensemble of the FER2013-initialised CK+ runs above that keep their probabilities", "CK+", None, "–", (),
             ("ckplus-ensemble-fer2013init__kfold10",),
             note="averaged probabilities; the subset chosen on the folds' validation subjects pooled, benchmarks/ensemble_folds.py"),
)


def load(name: str) -> dict[str, Any] | None:
    path = RESULTS / f"{name}.json"
    return json.loads(path.read_text()) if path.exists() else None


def first(names: tuple[str, ...]) -> tuple[str, dict[str, Any]] | None:
    for name in names:
        r = load(name)
        if r is not None:
            return name, r
    return None


def log_seconds(run_name: str) -> float | None:
    """Sum of epoch times in the committed per-epoch logs (all folds); None when no log was committed."""
    logs = list((RESULTS / "logs" / run_name).glob("**/metrics.jsonl"))
    if not logs:
        return None
    return sum(json.loads(line).get("epoch_time_s", 0.0) for log in logs for line in log.read_text().splitlines() if line.strip())


def start_weights(r: dict[str, Any]) -> tuple[str, str | None]:
    """(description, source run name or None) of a run's warm start."""
    if r.get("recipe") == "ensemble of runs":
        return "its members' (FER2013)", None
    cfg = r.get("recipe_config") or {}
    init = cfg.get("init_weights") or (cfg.get("recipe") or {}).get("init_weights")
    if not init:
        return "scratch", None
    source = START_SOURCES.get(init)
    if source is None and init.startswith("runs/") and init.endswith("/best.pt"):
        source = init.split("/")[1]
    return (f"FER2013 `{source}`" if source else f"`{init}`"), source


def accuracy(r: dict[str, Any], key: str) -> tuple[float | None, str]:
    """(mean accuracy in %, text with ± std when there are folds) of a results file, for one test column."""
    if "summary" in r and key in r["summary"]:
        row = r["summary"][key]
        mean = 100 * row["mean_accuracy"]
        folds = r.get("protocol") == "kfold10" and row["n_folds"] < 10  # a partial run says so: its mean is over fewer subjects
        return mean, (f"{mean:.2f}" if row["n_folds"] == 1 else f"{mean:.2f} ± {100 * row['std_accuracy']:.2f}") + (f" ({row['n_folds']} of 10 folds)" if folds else "")
    if "chosen_test" in r:  # embeddings pipeline, FER2013: the classifier chosen on PublicTest
        mean = 100 * r["chosen_test"]["accuracy"]
        return mean, f"{mean:.2f} ({r['chosen_on_validation']})"
    if "summary" in r and "chosen_on_validation" in r["summary"]:  # embeddings pipeline, CK+ folds
        row = r["summary"]["chosen_on_validation"]
        return 100 * row["mean_test_accuracy"], f"{100 * row['mean_test_accuracy']:.2f} ± {100 * row['std_test_accuracy']:.2f}"
    return None, "–"


def epochs(r: dict[str, Any]) -> str:
    """The recipe's epochs; for early-stopped folds the epochs they actually trained (range over folds) of that maximum."""
    cfg = r.get("recipe_config") or {}
    trained = [f["epochs_trained"] for f in r.get("folds", []) if f.get("epochs_trained") is not None]
    if cfg.get("early_stop_patience") and trained:
        span = str(min(trained)) if min(trained) == max(trained) else f"{min(trained)}-{max(trained)}"
        return f"{span} of max {cfg.get('epochs', '–')} (early stop, patience {cfg['early_stop_patience']})"
    return str(cfg.get("epochs", "–"))


def chain_seconds(name: str) -> float | None:
    """Training seconds of a run plus those of the runs its start weights came from, recursively."""
    own = log_seconds(name)
    r = load(name)
    source = start_weights(r)[1] if r else None
    if own is None or not source:
        return own
    before = chain_seconds(source)
    return None if before is None else own + before


def cpu_time(name: str, r: dict[str, Any]) -> str:
    own = log_seconds(name)
    if own is None:
        return f"{r['wall_time_s'] / 60:.0f} min wall" if r.get("wall_time_s", -1) > 0 else "–"
    _, source = start_weights(r)
    before = chain_seconds(source) if source else None
    text = f"{own / 60:.0f} min"
    return text + (f" + {before / 60:.0f} min FER2013" if before else "")


def row_cells(row: PaperRow) -> list[str]:
    mine = first(row.ours)
    si = first(row.ours_si)
    paper = "–" if row.paper_value is None else f"{row.paper_value:.2f}"
    ours_value, ours_text, gap = None, ("not run yet" if row.ours else "–"), "–"
    if mine:
        ours_value, ours_text = accuracy(mine[1], row.key)
        if row.also_key and (also := accuracy(mine[1], row.also_key)[0]) is not None:
            ours_text += f" ({row.also_key.split('_')[0]}: {also:.2f})"
        if ours_value is not None and row.paper_value is not None:
            gap = f"{ours_value - row.paper_value:+.2f}"
    si_text = "not run yet" if row.ours_si and not si else "–"
    if si:
        si_text = " / ".join(accuracy(si[1], k)[1] for k in ("clean_none", "occ_half_none", "occ_all_none")) if "summary" in si[1] and "clean_none" in si[1]["summary"] \
            else accuracy(si[1], "clean_none")[1]
        if mine and si[0] != mine[0]:  # another run than the paper-protocol one: say which, from what, how long
            si_text += f" (`{si[0]}`: {start_weights(si[1])[0]}, {epochs(si[1])} epochs)"
    ref = mine or si
    start, epoch_text, time_text, source = "–", "–", "–", "–"
    if ref:
        start = start_weights(ref[1])[0]
        epoch_text, time_text, source = epochs(ref[1]), cpu_time(*ref), f"`{ref[0]}`"
    method = row.method + (f" ({row.note})" if row.note else "")
    return [row.paper, row.dataset, method, paper, ours_text, gap, row.paper_protocol, si_text, start, epoch_text, time_text, source]


def block_reproduction() -> str:
    head = ["Paper, table", "Data", "Method", "Paper", "Ours", "Gap", "Protocol (paper's)", "Ours, subject-independent 10-fold: clean / half occluded / all occluded",
            "Start weights", "Epochs", "CPU time (training)", "Result"]
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    lines += ["| " + " | ".join(row_cells(row)) + " |" for row in ROWS]
    return "\n".join(lines)


def block_reproduction_headline() -> str:
    """Counts of the figures we reach within 2 points either way, exceed by more, or trail by more; the epoch span of
    the runs that stand for them (read from their recipes)."""
    scored = [(row, mine, accuracy(mine[1], row.key)[0]) for row in ROWS if row.paper_value is not None and (mine := first(row.ours))]
    scored = [(row, mine, value) for row, mine, value in scored if value is not None]
    waiting = sum(row.paper_value is not None for row in ROWS) - len(scored)
    within = sum(abs(value - row.paper_value) <= 2 for row, _, value in scored)
    above = sum(value > row.paper_value + 2 for row, _, value in scored)
    spans = [int(e) for _, mine, _ in scored if (e := (mine[1].get("recipe_config") or {}).get("epochs")) is not None]
    budget = (f"{min(spans)}" if spans and min(spans) == max(spans) else f"{min(spans)}-{max(spans)}" if spans else "?") + " epochs at 48 px"
    text = (f"{within} of the {len(scored) + waiting} paper figures that have a number are reproduced to within 2 points (either way) by our "
            f"CPU-budget runs ({budget}); {len(scored) - within - above} trail by more")
    text += f", {above} exceed by more (the papers' random CK+ split, which leaks subjects)" if above else ""
    text += f"; {waiting} have no run of ours yet" if waiting else ""
    return text + (". Every row, with its protocol, start weights, epochs and CPU time: [docs/reproduction.md](docs/reproduction.md).")


BLOCKS: dict[str, Callable[[], str]] = {"reproduction": block_reproduction, "reproduction_headline": block_reproduction_headline}
