"""Accuracy per CPU hour: PublicTest accuracy against training minutes for every candidate of the study.

    python benchmarks/cpu_hour_study.py

Reads each candidate's per-epoch log (``runs/<recipe>/metrics.jsonl``, or the committed copy in
``benchmarks/results/logs/``) and its result JSON (written by run_recipe.py). Minutes are the
epochs times the candidate's epoch time on an otherwise idle core (2 runs x 1 thread in
benchmarks/results/cpu_training_speed.json), because the runs shared the machine with other work and
their wall time stretched unevenly; the measured wall minutes are kept beside them. For distilled
runs the teacher's pass over the training set is added as measured, scaled by the same stretch. The network
for the long run is the candidate with the best PublicTest accuracy at the end of the budget
(PrivateTest is shown, never used to choose). The distillation ablation (cached teacher logits against the
teacher run on each augmented batch) is plotted and listed beside the candidates, in the same minutes (the online
teacher's timed passes are stretched like the student's work), but is not a long-run candidate: the long run was
chosen before it ran. Writes benchmarks/results/cpu_hour_study.json and cpu_hour_study.png.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import REPO, RESULTS, provenance, write_result  # noqa: E402

CANDIDATES = {
    "fer2013-cpu-study-modres18-v1": "modified ResNet-18 (7x7/2 stem + max-pool)",
    "fer2013-cpu-study-fer10s2-v1": "FER ResNet-10, 3x3 stride-2 stem, width 64",
    "fer2013-cpu-study-fer10s1w32-v1": "FER ResNet-10, 3x3 stride-1 stem, width 32",
    "fer2013-cpu-study-modres18-kd-v1": "modified ResNet-18 distilled from the v5 ensemble (cached)",
}
# Same budget, not candidates for the long run: which teacher signal pays more per CPU minute (issue 15).
DISTILLATION = {
    "fer2013-cpu-study-modres18-kdonline-v1": "modified ResNet-18 distilled from the v5 ensemble (online)",
}


def epoch_log(run: str) -> list[dict]:
    for path in (REPO / "runs" / run / "metrics.jsonl", RESULTS / "logs" / run / "metrics.jsonl"):
        if path.exists():
            return [json.loads(line) for line in path.read_text().splitlines() if line.strip()]
    return []


def idle_epoch_seconds(model: str, model_kwargs: dict, run_date: str) -> float | None:
    """One FER2013 epoch on one idle core, from the throughput table (2 runs x 1 thread, fp32, channels_last),
    as measured on the run's own host: the latest row dated no later than ``run_date`` (the host's speed
    drifts from day to day, so a later re-measure must not rescale an old run), else the earliest row."""
    speed = json.loads((RESULTS / "cpu_training_speed.json").read_text())
    spec = model + ("" if "width" not in model_kwargs else f":width={model_kwargs['width']}")
    rows = sorted((row for row in speed["rows"] if row["model"] == spec and row["dtype"] == "fp32" and row["runs_x_threads"] == "2 x 1"
                   and row["channels_last"] and not row["compile"]), key=lambda row: row.get("date", ""))
    if not rows:
        return None
    before = [row for row in rows if row.get("date", "") <= run_date]
    return 2 * (before[-1] if before else rows[0])["fer2013_epoch_s"]  # the table sums both runs' images/s


def curve(rows: list[dict], idle_epoch_s: float) -> list[tuple[float, float]]:
    """(idle-equivalent training minutes, PublicTest accuracy) after each epoch. The teacher's cost counts as
    measured, stretched like the student's own work: its pass over the data (cached mode) at the start, its
    per-batch passes (online mode, timed inside the epoch) in each epoch."""
    minutes, points = 0.0, []
    for row in rows:
        online = row.get("teacher_forward_s", 0.0)
        stretch = idle_epoch_s / (row["epoch_time_s"] - online)
        minutes += (idle_epoch_s + (row.get("teacher_time_s", 0.0) + online) * stretch) / 60
        points.append((round(minutes, 2), row["val_accuracy"]))
    return points


PROVENANCE_KEYS = ("device", "torch", "commit", "date", "wall_time_s")


def unchanged(path: Path, result: dict) -> bool:
    """True when ``path`` already holds ``result`` apart from its provenance: the long-run queue re-runs the study at
    every start, and a rewrite that changes only the date and commit would say the study was remade when it was not."""
    if not path.exists():
        return False
    old = json.loads(path.read_text())
    strip = lambda d: {k: v for k, v in d.items() if k not in PROVENANCE_KEYS}  # noqa: E731
    return strip(old) == strip(json.loads(json.dumps(result)))


def main() -> int:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    candidates, missing = [], []
    for run, label in (CANDIDATES | DISTILLATION).items():
        rows = epoch_log(run)
        if not rows or not (RESULTS / f"{run}.json").exists():  # unfinished runs are not candidates yet
            print(f"{run}: not finished yet", file=sys.stderr)
            missing.append(run)
            continue
        result = json.loads((RESULTS / f"{run}.json").read_text()) if (RESULTS / f"{run}.json").exists() else None
        config = json.loads((REPO / "runs" / run / "recipe.json").read_text()) if (REPO / "runs" / run / "recipe.json").exists() else result["recipe_config"]
        points = curve(rows, idle_epoch_seconds(config["model"], config["model_kwargs"], result["date"]))
        candidates.append({
            "recipe": run, "label": label, "epochs": len(rows), "training_minutes": points[-1][0],
            "wall_minutes": round(sum(r["epoch_time_s"] + r.get("teacher_time_s", 0.0) for r in rows) / 60, 1),
            "teacher_minutes": round(sum(r.get("teacher_time_s", 0.0) + r.get("teacher_forward_s", 0.0) for r in rows) / 60, 2),
            "images_per_s": round(sum(r["images_per_s"] for r in rows) / len(rows), 1),
            "final_public_test": points[-1][1], "best_public_test": max(p[1] for p in points), "curve": points,
            "private_test_flip": result["summary"]["clean_flip"]["mean_accuracy"] if result else None,
        })
    ablation = [c for c in candidates if c["recipe"] in DISTILLATION]
    candidates = [c for c in candidates if c["recipe"] in CANDIDATES]
    if not candidates:
        print("no study runs found", file=sys.stderr)
        return 1
    chosen = max(candidates, key=lambda c: c["final_public_test"])
    fig, ax = plt.subplots(figsize=(7, 4.5))
    for c in candidates + ablation:
        xs, ys = zip(*c["curve"])
        ax.plot(xs, [100 * y for y in ys], marker="o", linestyle="--" if c in ablation else "-", label=f"{c['label']} ({c['epochs']} ep)")
    ax.set_xlabel("training minutes on one idle core (teacher pass included)")
    ax.set_ylabel("FER2013 PublicTest accuracy (%)")
    ax.set_title("Accuracy per CPU minute, equal budget per candidate")
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8)
    fig.tight_layout()
    from ferkit.io_utils import atomic_write

    atomic_write(RESULTS / "cpu_hour_study.png", lambda tmp: fig.savefig(tmp, format="png", dpi=110))
    plt.close(fig)
    result = {
        **provenance(), "budget": "equal budget per candidate: epochs x its epoch time on one idle core (cpu_training_speed.json); run two at a time, one core each, beside other work",
        "selection": "highest PublicTest accuracy at the end of the budget", "chosen": chosen["recipe"], "candidates": candidates,
        "distillation_ablation": ablation,
        "not_finished": [m for m in missing if m in CANDIDATES], "distillation_not_finished": [m for m in missing if m in DISTILLATION],
    }
    if unchanged(RESULTS / "cpu_hour_study.json", result):
        print("cpu_hour_study.json: the same study as before; left as it is (its date and commit say when it was made)")
    else:
        write_result("cpu_hour_study", result)
    print(f"chosen for the long run: {chosen['recipe']} (PublicTest {100 * chosen['final_public_test']:.2f})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
