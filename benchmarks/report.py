"""Render the result tables in README.md and docs/*.md from benchmarks/results/*.json.

Every figure in the docs comes from here: the pages hold ``<!-- results:NAME -->`` ...
``<!-- /results -->`` blocks, and this script rewrites their contents. Run it after benchmarks:

    python benchmarks/report.py
"""

from __future__ import annotations

import json
import re
import sys
from pathlib import Path
from typing import Any, Callable

sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import REPO, RESULTS  # noqa: E402
from report_ablations import BLOCKS as ABLATION_BLOCKS  # noqa: E402
from report_long_run import BLOCKS as LONG_RUN_BLOCKS  # noqa: E402
from report_realtime import BLOCKS as REALTIME_BLOCKS  # noqa: E402
from report_reproduction import BLOCKS as REPRODUCTION_BLOCKS  # noqa: E402

from ferkit.io_utils import atomic_write_text  # noqa: E402


def load(name: str) -> dict[str, Any] | None:
    path = RESULTS / f"{name}.json"
    return json.loads(path.read_text()) if path.exists() else None


def pct(x: float | None) -> str:
    return "–" if x is None else f"{100 * x:.2f}"


def mean_std(summary: dict, key: str) -> str:
    row = summary.get(key)
    if row is None:
        return "–"
    if row["n_folds"] == 1:
        return pct(row["mean_accuracy"])
    return f"{100 * row['mean_accuracy']:.2f} ± {100 * row['std_accuracy']:.2f}"


def training_seconds(run_name: str) -> float | None:
    """Sum of the epoch times in the committed per-epoch logs of a run (all folds)."""
    logs = list((RESULTS / "logs" / run_name).glob("**/metrics.jsonl"))
    if not logs:
        return None
    return sum(json.loads(line)["epoch_time_s"] for log in logs for line in log.read_text().splitlines() if line.strip())


def source_run(r: dict) -> str | None:
    """The run a two-stage recipe started from (``init_weights: runs/<name>/best.pt``), if it was one of ours."""
    init = (r.get("recipe_config") or {}).get("init_weights") or ""
    parts = Path(init).parts
    return parts[-2] if len(parts) >= 3 and parts[-3] == "runs" and load(parts[-2]) else None


def total_training_seconds(run_name: str) -> float | None:
    """A run's epoch times plus those of the run it started from, recursively."""
    seconds = training_seconds(run_name)
    r = load(run_name)
    source = source_run(r) if r else None
    if seconds is not None and source:
        before = total_training_seconds(source)
        return None if before is None else seconds + before
    return seconds


def minutes(r: dict, run_name: str | None = None) -> str:
    """Training time from the epoch logs (a resumed or re-scored run's own wall time would understate it), including a
    warm start's source run; an ensemble's is its members' sum."""
    if r.get("member_runs"):
        times = [total_training_seconds(name) for name in r["member_runs"]]
        seconds = None if None in times else sum(times)
        return f"{seconds / 60:.0f} min ({len(times)} members)" if seconds else "–"
    name = run_name or r.get("run_name") or _run_name(r)
    seconds, total = training_seconds(name), total_training_seconds(name)
    if not seconds:
        return "–"
    if total and total != seconds:
        return f"{seconds / 60:.0f} min (+ {(total - seconds) / 60:.0f} min for `{source_run(r)}`)"
    return f"{seconds / 60:.0f} min"


def _run_name(r: dict) -> str:
    return r["recipe"] + (f"__{r['protocol']}" if r.get("protocol") else "")


def epochs_of(r: dict) -> str:
    """Epochs of the run, after those of the run it started from ("60 + 30"); an ensemble's per member."""
    members = [load(name) for name in r.get("member_runs") or []]
    if members and None not in members:
        return " / ".join(epochs_of(m) for m in members) + " (members)"
    source = source_run(r)
    own = str(r["recipe_config"]["epochs"])
    return f"{epochs_of(load(source))} + {own}" if source else own


def missing(name: str) -> str:
    return f"| `{name}` | not run yet: `benchmarks/` has the command | | | | | |"


def fer_table(names: list[tuple[str, str]]) -> str:
    lines = ["| Model (recipe) | Epochs | PublicTest (val) | PrivateTest | PrivateTest, flip TTA | OCC-PrivateTest (half occluded), flip | All faces occluded, flip | Device, training time |",
             "|---|---|---|---|---|---|---|---|"]
    for label, name in names:
        r = load(name)
        if r is None:
            lines.append(f"| {label} (`{name}`) | not run yet | | | | | | |")
            continue
        fold = r["folds"][0]
        s = r["summary"]
        chosen = f"epoch {fold['best_epoch']}" if fold.get("best_epoch") is not None else "member subset chosen, flip TTA"
        lines.append(f"| {label} (`{r['recipe']}`) | {epochs_of(r)} | {pct(fold['best_val'])} ({chosen}) | {mean_std(s, 'clean_none')} | "
                     f"**{mean_std(s, 'clean_flip')}** | {mean_std(s, 'occ_half_flip')} | {mean_std(s, 'occ_all_flip')} | {r['device'].split(',')[0]}, {minutes(r, name)} |")
    return "\n".join(lines)


def ck_table(names: list[tuple[str, str, str | None]], erased: bool = False) -> str:
    head = "| Model (recipe) | Protocol | Epochs | Clean test | " + ("Randomly erased test | " if erased else "") + "OCC test (half occluded) | All occluded | Paper | Training time |"
    lines = [head, "|" + "---|" * (head.count("|") - 1)]
    for label, name, paper in names:
        r = load(name)
        if r is None:
            lines.append(f"| {label} (`{name}`) | not run yet |" + " |" * (head.count("|") - 3))
            continue
        s = r["summary"]
        leak = " (leaks subjects)" if r["folds"][0].get("leaks_subjects") else ""
        cells = [f"{label} (`{r['recipe']}`)", f"{r['protocol']}{leak}, {s['clean_none']['n_folds']} fold(s)", epochs_of(r), mean_std(s, "clean_none")]
        if erased:
            cells.append(mean_std(s, "erased_none"))
        cells += [mean_std(s, "occ_half_none"), mean_std(s, "occ_all_none"), paper or "–", minutes(r, name)]
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines)


def block_fer_baselines() -> str:
    return fer_table([("Modified ResNet-18, CE", "fer2013-ce-modres18"), ("ResNet-18, CE", "fer2013-ce-resnet18-v1"),
                      ("Default candidate 1: modified ResNet-18, CE, occluders, one stage", "fer2013-default-modres18-occ-v1"),
                      ("Default candidate 2: stage 1 above, then 10 epochs with occluders", "fer2013-default-modres18-occ-v2"),
                      ("Default candidate 3: one stage, 60 epochs with occluders", "fer2013-default-modres18-occ-v3"),
                      ("Ensemble member: candidate 3's recipe, seed 1", "fer2013-default-member-seed1-v1"),
                      ("Ensemble member: candidate 3's recipe, seed 2", "fer2013-default-member-seed2-v1"),
                      ("Ensemble member: candidate 3's recipe, seed 3", "fer2013-default-member-seed3-v1"),
                      ("Previous default (v4): candidate 3 + seed 3, probabilities averaged", "fer2013-default-ensemble"),
                      *[(f"Member {name} continued 30 epochs (second one-cycle, peak 0.02)", f"fer2013-default-continued-seed{seed}-v1")
                        for seed, name in ((0, "candidate 3"), (1, "seed 1"), (2, "seed 2"), (3, "seed 3"))],
                      *[(f"Member {name}, third one-cycle of 30 epochs", f"fer2013-default-continued-seed{seed}-v2")
                        for seed, name in ((0, "candidate 3"), (3, "seed 3"))],
                      ("**Shipped default (v5): at most 3 of the 6 continued members, chosen on PublicTest, probabilities averaged**",
                       "fer2013-default-ensemble-v5")])


def block_ck_baselines() -> str:
    return ck_table([("Modified ResNet-18, CE", "ckplus-ce-modres18-v1__kfold10", None)])


def block_tlstn_table2() -> str:
    rows = [("STN + ResNet-18, CE", "ckplus-stn-resnet18-ce-v1__random800", "96.87"),
            ("STN + modified ResNet-18, CE; STN at full lr", "ckplus-tlstn-ce-v1__random800", "98.96"),
            ("STN + modified ResNet-18, CE; STN at 0.1x lr", "ckplus-tlstn-ce-v2__random800", "98.96"),
            ("TL-STN (triplet); STN at full lr", "ckplus-tlstn-triplet-v1__random800", "99.41"),
            ("TL-STN (triplet); STN at 0.1x lr", "ckplus-tlstn-triplet-v2__random800", "99.41"),
            ("TL-STN (triplet); STN at 0.1x lr, 32 triplets per batch instead of 8", "ckplus-tlstn-triplet-v2-batch32__random800", "99.41"),
            ("STN + ResNet-18, CE", "ckplus-stn-resnet18-ce-v1__kfold10", "–"),
            ("STN + modified ResNet-18, CE; STN at 0.1x lr", "ckplus-tlstn-ce-v2__kfold10", "–"),
            ("TL-STN (triplet); STN at full lr", "ckplus-tlstn-triplet-v1__kfold10", "–"),
            ("TL-STN (triplet); STN at 0.1x lr", "ckplus-tlstn-triplet-v2__kfold10", "–")]
    return ck_table(rows, erased=True)


def block_tlstn_fer() -> str:
    table = fer_table([("TL-STN: STN + modified ResNet-18 + triplet, STN at 0.1x lr (paper 73.31)", "fer2013-tlstn-v2"),
                       ("STN + ResNet-18 + triplet, STN at 0.1x lr (paper 72.30)", "fer2013-stn-resnet18-tl-v2")])
    return table


EMBED_PAPER = {"svm_linear": "74.64", "svm_rbf": "74.52", "svm_poly": "74.50", "svm_sigmoid": "74.49", "lda": "74.62", "softmax": "74.53"}


def block_embeddings() -> str:
    runs = [("Triplet from scratch (v1)", "embeddings_svm__fer2013-embed-triplet-v1"),
            ("Triplet, warm start (v2)", "embeddings_svm__fer2013-embed-triplet-v2"),
            ("Triplet, warm start, no weighted sampling", "embeddings_svm__fer2013-embed-triplet-noweight-v2")]
    loaded = [(label, load(name)) for label, name in runs]
    loaded = [(label, r) for label, r in loaded if r is not None]
    if not loaded:
        return "Not run in this session: `python benchmarks/embeddings_svm.py --data fer2013:../shared/data/fer2013`."
    ce = next(((r["cross_entropy_embeddings"]["classifiers"], r["cross_entropy_embeddings"].get("recipe")) for _, r in loaded if r.get("cross_entropy_embeddings")), ({}, None))
    head = "| Classifier on embeddings | " + " | ".join(f"{label}: val / PrivateTest" for label, _ in loaded) + " | CE-trained network's features: PrivateTest | Paper 002 (FER2013) |"
    lines = [head, "|" + "---|" * (len(loaded) + 3)]
    for name in loaded[0][1]["classifiers"]:
        cells = []
        for _, r in loaded:
            sc = r["classifiers"].get(name)
            mark = " ◀" if name == r["chosen_on_validation"] else ""
            cells.append("–" if sc is None else f"{pct(sc['val']['accuracy'])} / {pct(sc['test']['accuracy'])}{mark}")
        ce_acc = pct(ce[0][name]["test"]["accuracy"]) if name in ce[0] else "–"
        lines.append(f"| {name} | " + " | ".join(cells) + f" | {ce_acc} | {EMBED_PAPER.get(name, '–')} |")
    lines.append("\n◀ the classifier chosen on validation (PublicTest) for that network.")
    for label, r in loaded:
        cfg = r["recipe_config"]
        lines.append(f"- {label}: `{r['recipe']}`, {cfg['epochs']} epochs, {cfg['model']}, sampler {cfg['sampler']} {cfg['sampler_kwargs']}"
                     f"{', initialised from ' + cfg['init_weights'] if cfg.get('init_weights') else ''}; seed {r['seed']}; {r['device']}; "
                     f"{r.get('wall_time_s', 0) / 60:.0f} min in all (training, per-epoch classifier fits, final fits); macro one-vs-rest AUC of the chosen classifier {r.get('macro_auc', 0):.3f}.")
    lines.append(f"- The CE column: the same classifiers on the penultimate features of `{ce[1]}-v1` (the 'no triplet loss' ablation; paper 71.40). "
                 f"Kernel SVMs were fitted on a stratified subsample of {loaded[0][1]['kernel_svm_fit_samples']} training embeddings. Paper 002's other ablation, no weighted sampling: 64.56.")
    return "\n".join(lines)


def block_embeddings_ck() -> str:
    r = load("embeddings_svm__ckplus-embed-triplet-v1__kfold10")
    if r is None:
        return "Not run in this session: `python benchmarks/embeddings_svm.py --recipe ckplus-embed-triplet-v1 --data ckplus48:../shared/data/ckplus48`."
    s = r["summary"]
    lines = ["| Classifier on embeddings | CK+48 test, mean ± std over folds |", "|---|---|"]
    for name, row in s.items():
        if name == "chosen_on_validation":
            continue
        lines.append(f"| {name} | {100 * row['mean_test_accuracy']:.2f} ± {100 * row['std_test_accuracy']:.2f} |")
    chosen = s["chosen_on_validation"]
    lines.append(f"| **chosen on each fold's validation subjects** | **{100 * chosen['mean_test_accuracy']:.2f} ± {100 * chosen['std_test_accuracy']:.2f}** |")
    cfg = r["recipe_config"]
    lines.append(f"\n`{r['recipe']}`, {len(r['folds'])} subject-independent folds ({r['protocol']}), {cfg['epochs']} epochs per fold, initialised from {cfg['init_weights']} "
                 f"(FER2013: no CK+ subject seen); choices per fold: {', '.join(chosen['choices'])}; {r['device']}, {r.get('wall_time_s', 0) / 60:.0f} min in all. Paper 002 reports no CK+ figure.")
    return "\n".join(lines)


def block_occlusion_ck() -> str:
    return ck_table([("Plain modified ResNet-18, CE, occlusion-augmented", "ckplus-ce-modres18-occ-v2__kfold10", "ResNet50: 92.12 / 88.16"),
                     ("Single-channel occlusion-aware", "ckplus-occnet-single-v2__kfold10", "96.58 / 92.69"),
                     ("Double-channel occlusion-aware", "ckplus-occnet-double-v2__kfold10", "97.36 / 93.21"),
                     ("Single-channel, occlusion map supervised with the occluder masks", "ckplus-occnet-single-v3__kfold10", "–"),
                     ("Double-channel, occlusion map supervised with the occluder masks", "ckplus-occnet-double-v3__kfold10", "–"),
                     ("Single-channel, supervised map, residual channel mixing, unnormalised features", "ckplus-occnet-single-v4__kfold10", "–"),
                     ("Double-channel, supervised map, residual channel mixing, unnormalised features", "ckplus-occnet-double-v4__kfold10", "–")])


def block_occlusion_fer() -> str:
    return fer_table([("Modified ResNet-18, CE (no occlusion augmentation)", "fer2013-ce-modres18"),
                      ("Modified ResNet-18, CE, occlusion-augmented, one stage", "fer2013-default-modres18-occ-v1"),
                      ("Modified ResNet-18, CE, then occlusion-augmented (two stages)", "fer2013-default-modres18-occ-v2"),
                      ("Modified ResNet-18, CE, occlusion-augmented, one stage, 60 epochs", "fer2013-default-modres18-occ-v3"),
                      ("Seed 3 of that recipe, third one-cycle, occluders on 40% of faces", "fer2013-default-continued-seed3-v2"),
                      ("The same third cycle with occluders on 70% of faces", "fer2013-default-continued-occ70-seed3-v1"),
                      ("Single-channel, occlusion map supervised with the occluder masks", "fer2013-occnet-single-v1"),
                      ("Double-channel occlusion-aware", "fer2013-occnet-double-v1"),
                      ("Double-channel, occlusion map supervised with the occluder masks", "fer2013-occnet-double-v2")])


def block_occlusion_sweeps() -> str:
    r = load("occlusion_sweeps_fer2013")
    if r is None:
        return "Not run in this session: `python benchmarks/occlusion_sweeps.py` (command in docs)."
    names = list(r["models"])
    lines = ["| Model | clean | " + " | ".join(f"{int(x * 100)}% occluded" for x in r["by_ratio"]["ratios"]) + " | " + " | ".join(r["by_region"]["regions"]) + " |",
             "|" + "---|" * (2 + len(r["by_ratio"]["ratios"]) + len(r["by_region"]["regions"]))]
    for n in names:
        run = Path(r["models"][n]["checkpoint"]).parent.name  # the run directory names the recipe version
        lines.append(f"| {n} (`{run}`) | {pct(r['clean'][n])} | " + " | ".join(pct(x) for x in r["by_ratio"][n]) + " | " + " | ".join(pct(x) for x in r["by_region"][n]) + " |")
    alpha = {n: v for n, v in r["alpha"].items() if n != "alphas"}
    if alpha:
        lines.append("\n| Alpha sweep on OCC-PrivateTest | " + " | ".join(str(a) for a in r["alpha"]["alphas"]) + " |")
        lines.append("|---|" + "---|" * len(r["alpha"]["alphas"]))
        for n, v in alpha.items():
            lines.append(f"| {n} | " + " | ".join(pct(x) for x in v) + " |")
    lines.append(f"\n{r['split']}, TTA {r['tta']}, occlusion seed {r['seed']}; {r['device']}, {r.get('wall_time_s', 0):.0f} s.")
    return "\n".join(lines)


LOSS_ROWS = [("Cross-entropy", "fer2013-loss-ce"), ("Weighted softmax", "fer2013-loss-weighted-ce"),
             ("CE + center loss", "fer2013-loss-center"), ("CE + weighted-cluster loss", "fer2013-loss-weighted-cluster")]


def block_occlusion_map_agreement() -> str:
    r = load("occlusion_map_agreement_fer2013")
    if r is None:
        return "Not run in this session: `python benchmarks/occlusion_map_agreement.py` (command below)."
    lines = ["| Model (run) | Map on covered regions | Map on clean regions | AUC covered vs clean |", "|---|---|---|---|"]
    for name, m in r["models"].items():
        lines.append(f"| {name} (`{m['run']}`) | {m['mean_on_covered']:.3f} | {m['mean_on_clean']:.3f} | {m['auc']:.3f} |")
    lines.append(f"\n{r['split']}, {r['occlusion']} (seed {r['seed']}); {m['covered_cells']} covered and {m['clean_cells']} clean regions; {r['device']}.")
    return "\n".join(lines)


def block_losses() -> str:
    names = [(label, f"{name}-v3" if name == "fer2013-loss-weighted-cluster" else f"{name}-v2") for label, name in LOSS_ROWS]
    names += [("CE + 0.1 x weighted-cluster loss", "fer2013-loss-weighted-cluster-v4"), ("CE + 0.05 x weighted-cluster loss", "fer2013-loss-weighted-cluster-v5"),
              ("Cross-entropy, SE-ResNet backbone", "fer2013-loss-ce-seresnet-v1"),
              ("CE + 0.05 x weighted-cluster loss, SE-ResNet backbone", "fer2013-loss-weighted-cluster-seresnet-v2")]
    names.append(("CE + weighted-cluster loss before the centre-gradient fix (diverged: NaN from epoch 4, best epoch 3 kept)", "fer2013-loss-weighted-cluster-v2"))
    names += [(f"{label}, 4 epochs", f"{name}-v1") for label, name in LOSS_ROWS]
    lines = ["| Loss (recipe) | Backbone | Epochs | Accuracy | Macro-F1 | Balanced accuracy | Disgust recall | Fear recall | Training time |", "|---|---|---|---|---|---|---|---|---|"]
    bars = {}
    for label, name in names:
        r = load(name)
        if r is None:
            lines.append(f"| {label} (`{name}`) | not run yet | | | | | | | |")
            continue
        t = r["folds"][0]["test"]["clean_none"]
        if r["recipe_config"]["epochs"] == 10 and r["recipe_config"]["model"] == "modified_resnet18" and "before the" not in label:
            bars[label] = t["recall"]
        lines.append(f"| {label} (`{r['recipe']}`) | {r['recipe_config']['model']} | {epochs_of(r)} | {pct(t['accuracy'])} | {pct(t['macro_f1'])} | {pct(t['balanced_accuracy'])} | "
                     f"{pct(t['recall']['disgust'])} | {pct(t['recall']['fear'])} | {minutes(r, name)} |")
    if bars:
        from ferkit.evaluate.plots import per_class_bars_plot

        classes = list(next(iter(bars.values())))
        per_class_bars_plot(bars, classes, REPO / "docs" / "images" / "loss_per_class_recall.png", title="FER2013 PrivateTest per-class recall by loss (10 epochs each)")
    return "\n".join(lines)


def block_transfer() -> str:
    import numpy as np

    tr, scratch = load("ckplus-transfer-fer2013__kfold10"), load("ckplus-ce-modres18-v1__kfold10")
    if tr is None or scratch is None:
        return "Not run in this session (command below)."
    folds = {f["split"] for f in tr["folds"]}
    lines = ["| Start | Folds | Clean test | OCC test (half occluded) | All occluded |", "|---|---|---|---|---|"]
    for label, r in (("From scratch (`ckplus-ce-modres18-v1`)", scratch), ("FER2013 CE model (`fer2013-ce-modres18-v1`), fine-tuned", tr)):
        rows = [f for f in r["folds"] if f["split"] in folds]
        cells = []
        for key in ("clean_none", "occ_half_none", "occ_all_none"):
            accs = [f["test"][key]["accuracy"] for f in rows]
            cells.append(f"{100 * np.mean(accs):.2f} ± {100 * np.std(accs):.2f}")
        lines.append(f"| {label} | {', '.join(sorted(folds))} | " + " | ".join(cells) + " |")
    return "\n".join(lines)


def block_speed() -> str:
    r = load("speed_cpu")
    if r is None:
        return "Not run in this session: `python benchmarks/speed.py`."
    t, i, v = r["training_images_per_s"], r["inference_faces_per_s"], r["video_end_to_end"]
    lines = ["| Measure | Value |", "|---|---|"]
    for k, val in t.items():
        lines.append(f"| training {k} | {val} {'s' if k.endswith('epoch_s') else 'img/s'} |")
    for k, val in i.items():
        lines.append(f"| classify pre-cropped 48x48 faces, {k} (the model alone, no TTA) | {val} faces/s |")
    base = r.get("baseline")
    for k, val in (base or {}).get("inference_faces_per_s", {}).items():
        lines.append(f"| the same, {k}, with the model it replaced (`{base['checkpoint']}`, {base['name']}), timed in the same run | {val} faces/s |")
    detector = {"haar": "Haar", "HaarDetector": "Haar", "MTCNNDetector": "MTCNN"}.get(v["detector"], v["detector"])
    lines.append(f"| end to end {v['resolution']} video, {detector} detection + alignment + classification | {v['frames_per_s']:.1f} frames/s |")
    lines.append(f"\n{r['device']}; model {r['model']['name']}; torch {r['torch']}; commit {r['commit']}; {r['date']}. Training "
                 "rows time forward + backward + SGD step on synthetic batches (no data loading, no augmentation).")
    return "\n".join(lines)


def block_cpu_training_speed() -> str:
    r = load("cpu_training_speed")
    if r is None:
        return "Not run yet: `python benchmarks/cpu_training_speed.py`."
    lines = ["| Model | Precision | Runs x threads | channels_last | torch.compile | Training img/s | FER2013 epoch (s) | CPU | Measured (timed steps) |",
             "|---|---|---|---|---|---|---|---|---|"]
    for row in r["rows"]:
        lines.append(f"| `{row['model']}` | {row['dtype']} | {row['runs_x_threads']} | {'yes' if row['channels_last'] else 'no'} | "
                     f"{'yes' if row['compile'] else 'no'} | {row['images_per_s']:.1f} | {row['fer2013_epoch_s']:.0f} | {row.get('cpu', '?')} | "
                     f"{row.get('date', r['date'])[:10]} ({row.get('steps', r['steps'])}) |")
    when = sorted({(row.get("date", r["date"]), row.get("commit", r["commit"])) for row in r["rows"]})
    lines.append(f"\n2 cores; the sessions' hosts differ (CPU column: family 25 model 1 is a Zen 3, model 17 a Zen 4; bf16 is native only "
                 f"with AVX512-BF16 or AMX); batch {r['batch']}; torch {r['torch']}; measured "
                 + ", ".join(f"{date} (commit {commit})" for date, commit in when)
                 + ". Other processes were paused during the measurement.")
    return "\n".join(lines)


def block_cpu_hour_study() -> str:
    r = load("cpu_hour_study")
    if r is None:
        return "Not run yet: `bash benchmarks/queue_cpu_hour.sh`, then `python benchmarks/cpu_hour_study.py`."
    lines = ["| Candidate (recipe) | Epochs | Training minutes (one core) | img/s | PublicTest at the end | Best PublicTest | PrivateTest, flip (read once, not used to choose) |",
             "|---|---|---|---|---|---|---|"]
    for c in r["candidates"]:
        mark = "**" if c["recipe"] == r["chosen"] else ""
        teacher = f" (teacher pass {c['teacher_minutes']:.0f} min)" if c.get("teacher_minutes") else ""
        lines.append(f"| {mark}{c['label']}{mark} (`{c['recipe']}`) | {c['epochs']} | {c['training_minutes']:.0f}{teacher} | {c['images_per_s']:.0f} | "
                     f"{pct(c['final_public_test'])} | {pct(c['best_public_test'])} | {pct(c['private_test_flip'])} |")
    pending = r.get("not_finished") or []
    chosen = f"Chosen on PublicTest: `{r['chosen']}`" + (f", among the finished candidates only (still training: {', '.join(f'`{p}`' for p in pending)})" if pending else "")
    lines.append(f"\n{chosen}. {r['budget'][0].upper() + r['budget'][1:]}; {r['device']}; commit {r['commit']}; {r['date']}.")
    return "\n".join(lines + distillation_ablation_lines(r))


def distillation_ablation_lines(r: dict[str, Any]) -> list[str]:
    """Cached against online teacher signal, same budget (issue 15): the cached run is the study's distilled candidate."""
    online, pending = r.get("distillation_ablation") or [], r.get("distillation_not_finished") or []
    cached = [c for c in r["candidates"] if "cached" in c["label"]]
    if not online and not pending:
        return []
    lines = ["\n**Which teacher signal pays more per CPU minute.** The same teacher (the v5 ensemble), loss and budget; cached: "
             "its flip-averaged probabilities computed once on the un-augmented images; online: the teacher run on each augmented "
             "batch, its timed passes counted in the minutes.\n",
             "| Teacher signal (recipe) | Epochs | Training minutes (one idle core, teacher included) | Teacher wall minutes | PublicTest at the end | PrivateTest, flip |", "|---|---|---|---|---|---|"]
    for c in cached + online:
        lines.append(f"| {c['label'].split('(')[-1].rstrip(')')} (`{c['recipe']}`) | {c['epochs']} | {c['training_minutes']:.0f} | {c['teacher_minutes']:.0f} | "
                     f"{pct(c['final_public_test'])} | {pct(c['private_test_flip'])} |")
    for name in pending:
        lines.append(f"| online (`{name}`) | training | – | – | – | – |")
    return lines


def shipped_result(meta: dict) -> dict[str, Any] | None:
    """The test scores of the shipped file: its training run's result, or score_checkpoint.py's for an ensemble."""
    if meta["model_name"] != "ensemble":
        return load(Path(meta["source_checkpoint"]).parent.name)
    for path in sorted(RESULTS.glob("*.json")):
        r = json.loads(path.read_text())
        if isinstance(r, dict) and "summary" in r and str(r.get("checkpoint", "")).endswith("ferkit-default.pt") and r.get("recipe") == meta["recipe"]["name"]:
            return r
    return None


def training_device(r: dict) -> str:
    """Where the model was trained: an ensemble's result was written by scoring, so ask its first member's run."""
    member = load(r["member_runs"][0]) if r.get("member_runs") else None
    return (member or r)["device"]


def block_model_card() -> str:
    from ferkit.artifacts import load_checkpoint
    from ferkit.train.recipes import RECIPES

    path = REPO / "src" / "ferkit" / "weights" / "ferkit-default.pt"
    if not path.exists():
        return "No default model shipped yet."
    meta = load_checkpoint(path)
    recipe = meta["recipe"]
    storage = "int8 weights with per-channel scales" if meta.get("model_scales") else "fp16"
    values = f"{sum(v.numel() for v in meta['model'].values()) / 1e6:.2f} M values, {path.stat().st_size / 1e6:.1f} MB file ({storage})"
    if meta["model_name"] == "ensemble":
        members = meta["members"]
        kinds = sorted({(m["model_name"], str(m["model_kwargs"])) for m in meta["model_kwargs"]["members"]})
        arch = f"ensemble of {len(members)} × " + " + ".join(f"`{name}` {kwargs}" for name, kwargs in kinds) + ", probabilities averaged"
        tags = [f"{m['recipe']}-v{m['recipe_version']}" for m in members]
        recipe_text = "members " + "; ".join(f"`{t}` (seed {m.get('seed')})" + (f": {RECIPES.get(t).description}" if t in RECIPES else "")
                                             for t, m in zip(tags, members))
        member_epochs = ", ".join(f"epoch {m.get('epoch')}: {pct(m.get('val_metric'))}" for m in members)
        chosen = f"each member's epoch chosen on PublicTest ({member_epochs}), then the members: {meta.get('selected_on')}, {pct(meta.get('val_metric'))}"
    else:
        arch = f"`{meta['model_name']}` {meta['model_kwargs']}"
        # a member extracted from an ensemble records name, version and seed only: its description is the recipe's
        tag = f"{recipe['name']}-v{recipe['version']}"
        description = recipe.get("description") or (RECIPES.get(tag).description if tag in RECIPES else "")
        recipe_text = f"`{tag}`" + (f": {description}" if description else "")
        chosen = f"epoch {meta.get('epoch')} chosen on PublicTest (validation accuracy {pct(meta.get('val_metric'))})"
    lines = ["| Field | Value |", "|---|---|",
             f"| Architecture | {arch}; {values} |",
             f"| Input | {meta['image_size']}x{meta['image_size']} grayscale face crop, {meta['in_chans']} channel, (x/255 - 0.5)/0.5 |",
             f"| Classes | {', '.join(meta['class_names'])} |",
             f"| Recipe | {recipe_text} |",
             f"| Training data | FER2013 Training ({meta.get('train_size')} images); {chosen} |",
             f"| Source | `{meta['source_checkpoint']}` at commit {meta.get('source_commit')} |"]
    r = shipped_result(meta)
    if r is not None:
        s = r["summary"]
        lines += [f"| FER2013 PrivateTest | {mean_std(s, 'clean_none')} (no TTA), {mean_std(s, 'clean_flip')} (flip TTA, the recognizer's default) |",
                  f"| OCC-PrivateTest (half the faces occluded, 10–50% covered) | {mean_std(s, 'occ_half_none')} / {mean_std(s, 'occ_half_flip')} (flip) |",
                  f"| PrivateTest with every face occluded | {mean_std(s, 'occ_all_none')} / {mean_std(s, 'occ_all_flip')} (flip) |",
                  f"| Training device and time | {training_device(r)}, {minutes(r, Path(meta['source_checkpoint']).parent.name)} of training |"]
    c = load("cross_dataset_fer2013_to_ckplus48")
    if c is not None:
        recalls = ", ".join(f"{k} {100 * v['recall']:.0f}%" for k, v in c["per_class"].items())
        lines.append(f"| CK+48, all 981 images, cross-dataset (flip TTA) | {pct(c['accuracy'])} on the 6 shared classes (recall: {recalls}); contempt ({c['unmapped_samples']} images) has no FER2013 class |")
    sp = load("speed_cpu")
    if sp is not None:
        i = sp["inference_faces_per_s"]
        lines.append(f"| Speed (2-core CPU) | {i.get('pytorch@bs64')} faces/s PyTorch, {i.get('onnxruntime@bs64')} faces/s ONNX Runtime (batch 64); {sp['video_end_to_end']['frames_per_s']:.1f} frames/s on 640x480 video with detection |")
    return "\n".join(lines)


BLOCKS: dict[str, Callable[[], str]] = {
    "model_card": block_model_card,
    "fer_baselines": block_fer_baselines, "ck_baselines": block_ck_baselines, "tlstn_table2": block_tlstn_table2,
    "tlstn_fer": block_tlstn_fer, "embeddings": block_embeddings, "embeddings_ck": block_embeddings_ck, "occlusion_ck": block_occlusion_ck, "occlusion_fer": block_occlusion_fer,
    "occlusion_sweeps": block_occlusion_sweeps, "occlusion_map_agreement": block_occlusion_map_agreement, "losses": block_losses, "transfer": block_transfer, "speed": block_speed,
    "cpu_training_speed": block_cpu_training_speed, "cpu_hour_study": block_cpu_hour_study,
    **REALTIME_BLOCKS,
    **REPRODUCTION_BLOCKS,
    **ABLATION_BLOCKS,
    **LONG_RUN_BLOCKS,
}


def block_serve_load() -> str:
    r = load("serve_load")
    if r is None:
        return "Not run yet: `python benchmarks/serve_load.py`."
    lat = r["latency_ms"]
    load_avg = f"1-minute load average {r['loadavg_before'][0]:.1f} at the start, {r['loadavg_after'][0]:.1f} at the end"
    return "\n".join([
        "| Requests | At a time | Failed | p50 latency | p95 latency | Requests/s | Server |", "|---|---|---|---|---|---|---|",
        f"| {r['requests']} | {r['concurrency']} | {r['failed']} | {lat['p50']:.0f} ms | {lat['p95']:.0f} ms | {r['requests_per_s']:.2f} | "
        f"`{r['server']['model']}`, {r['server']['detector']} detector, {r['server']['tta']} TTA, {r['server']['options']} |",
        "",
        f"{r['what']}; {r['device']}, commit {r['commit']}, {r['date']}; {load_avg}; "
        f"{r['note']}. Status codes: {', '.join(f'{k}: {v}' for k, v in r['status_counts'].items())}."])


BLOCKS["serve_load"] = block_serve_load


def block_bulk_predict() -> str:
    """Memory (bulk_predict.json) and 1-vs-2-worker throughput (bulk_predict_throughput.json, when run separately)."""
    parts = [r for r in (load("bulk_predict"), load("bulk_predict_throughput")) if r is not None]
    if not parts:
        return missing("bulk_predict")

    def num(value: float | None, fmt: str = ".2f") -> str:
        return "–" if value is None else format(value, fmt)

    lines = ["| run | inputs | detector | workers | peak RSS (MB) | RSS at 25/50/75/100% of the run (MB) | wall incl. start-up (s) | rows/s once started |",
             "|---|---|---|---|---|---|---|---|"]
    for r in parts:
        for run in r["runs"]:
            what = f"{run['video_minutes']:g}-min video, {run['inputs']} frames" if "video_minutes" in run else f"{run['rows']} images"
            lines.append(f"| {run['name']} | {what} | {run['detector']} | {run['workers']} | {run['peak_rss_mb']:.0f} | "
                         f"{' / '.join(f'{v:.0f}' for v in run['rss_mb_at_quarters'])} | {run['wall_s']:.0f} | {num(run.get('steady_rows_per_s'), '.1f')} |")
    checks: dict = {}
    for r in parts:
        checks.update({k: v for k, v in r["checks"].items() if v is not None})
    lines += ["", f"Every run below {parts[0]['bound_mb']} MB: {'yes' if all(r['checks']['all_below_bound'] for r in parts) else 'NO'}. "
              f"Peak RSS, larger over smaller input: {num(checks.get('images_peak_ratio_large_over_small'))} (images), "
              f"{num(checks.get('video_peak_ratio_long_over_short'))} (video). Rows/s with 2 decode workers over 1: "
              f"x{num(checks.get('speedup_2_workers_none'))} without detection, x{num(checks.get('speedup_2_workers_haar'))} with Haar."]
    for r in parts:
        lines += ["", f"{'Throughput' if r is parts[-1] and len(parts) > 1 else 'Memory'} runs: {r['device']}, commit {r['commit']}, {r['date']}, "
                  f"load average {r['loadavg_start'][0]:.1f} at the start and {r['loadavg_end'][0]:.1f} at the end"
                  f"{'' if r.get('complete', True) else ' (stopped early: only the runs listed were measured)'}. {r['note']}."]
    return "\n".join(lines)


BLOCKS["bulk_predict"] = block_bulk_predict


def block_decoder_drift() -> str:
    """How far each image quarter's mean moves under another decoder and under other images (the resume check)."""
    r = load("decoder_drift")
    if r is None:
        return missing("decoder_drift")
    def verdict(row: dict) -> str:
        return "same pixels: goes on" if row["pixels_equal"] else "goes on (DataDriftWarning)" if row["resumes"] else "refused"

    lines = ["| FER2013 training images compared with OpenCV's decode | pixels differing | quarter mean moved (max / average, levels) | resume |",
             "|---|---|---|---|"]
    for name, row in r["rows"].items():
        lines.append(f"| {name} | {100 * row['share_of_pixels_differing']:.1f}% | {row['quarter_mean_moved_max']} / "
                     f"{row['quarter_mean_moved_mean']:.2f} | {verdict(row)} |")
    lines += ["", f"{r['images']} images, tolerance {r['tolerance_levels']} levels; {r['device']}, commit {r['commit']}, {r['date']}."]
    return "\n".join(lines)


BLOCKS["decoder_drift"] = block_decoder_drift
PATTERN = re.compile(r"(<!-- results:(\w+) -->\n)(.*?)(<!-- /results -->)", re.S)


def render(path: Path) -> bool:
    text = path.read_text()

    def replace(match: re.Match) -> str:
        name = match.group(2)
        if name not in BLOCKS:
            raise SystemExit(f"{path}: unknown results block {name!r}; known: {', '.join(BLOCKS)}")
        return match.group(1) + BLOCKS[name]().rstrip() + "\n" + match.group(4)

    new = PATTERN.sub(replace, text)
    if new != text:
        atomic_write_text(path, new)
        return True
    return False


def main() -> int:
    for path in [REPO / "README.md", *sorted((REPO / "docs").glob("*.md"))]:
        if path.exists() and render(path):
            print(f"updated {path.relative_to(REPO)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
