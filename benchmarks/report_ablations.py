"""The ``ablations`` block of docs/training_on_cpu.md (issue 15): the short schedule and regulariser ablations.

Reads benchmarks/results/fer2013-ablate-<variant>-v1.json (written by run_recipe.py) and the run's per-epoch
log benchmarks/results/logs/<run>/metrics.jsonl (copied by collect_logs.py). PublicTest chooses; PrivateTest
is read once and shown, never used to choose.
"""

from __future__ import annotations

import json
import statistics
import sys
from pathlib import Path
from typing import Any, Callable

sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import RESULTS  # noqa: E402

# (variant, what differs from the base): the order of the table; the recipes are in src/ferkit/recipes/ablations.toml.
VARIANTS = [
    ("base", "the base: CE + label smoothing 0.1, one-cycle, random erasing 0.25, occluders 40%"),
    ("nols", "no label smoothing"),
    ("mixup", "mixup, alpha 0.2"),
    ("cutmix", "CutMix, alpha 1.0"),
    ("noerasing", "no random erasing"),
    ("occ70", "occluders on 70% of faces"),
    ("cosine", "cosine schedule"),
    ("plateau", "reduce-on-plateau (factor 0.5, patience 1)"),
]
COMMAND = "`bash benchmarks/queue_ablations.sh`"


def recipe_tag(variant: str) -> str:
    return f"fer2013-ablate-{variant}-v1"


def epoch_rows(run_name: str) -> list[dict[str, Any]]:
    """The run's per-epoch log rows (empty when its log is not committed)."""
    path = RESULTS / "logs" / run_name / "metrics.jsonl"
    if not path.exists():
        return []
    return [json.loads(line) for line in path.read_text().splitlines() if line.strip()]


def pct(x: float | None) -> str:
    return "–" if x is None else f"{100 * x:.2f}"


def ablation_row(variant: str, differs: str) -> str:
    tag = recipe_tag(variant)
    path, rows = RESULTS / f"{tag}.json", epoch_rows(tag)
    if not path.exists():
        status = f"training ({len(rows)} epochs logged)" if rows else "not run yet"
        return f"| {differs} (`{tag}`) | {status} | | | | |"
    r = json.loads(path.read_text())
    fold = r["folds"][0]
    final = rows[-1].get("val_accuracy") if rows else None
    epoch_minutes = statistics.mean(row["epoch_time_s"] for row in rows) / 60 if rows else None
    private = (r["summary"].get("clean_flip") or {}).get("mean_accuracy")
    return (f"| {differs} (`{tag}`) | {len(rows) or r['recipe_config']['epochs']} | {pct(final)} | {pct(fold['best_val'])} (epoch {fold['best_epoch']}) | "
            f"{pct(private)} | {'–' if epoch_minutes is None else f'{epoch_minutes:.1f}'} |")


def block_ablations() -> str:
    lines = ["| What differs from the base (recipe) | Epochs | PublicTest at the end | Best PublicTest | PrivateTest, flip (read once, not used to choose) | Minutes per epoch |",
             "|---|---|---|---|---|---|"]
    lines += [ablation_row(variant, differs) for variant, differs in VARIANTS]
    done = [json.loads((RESULTS / f"{recipe_tag(v)}.json").read_text()) for v, _ in VARIANTS if (RESULTS / f"{recipe_tag(v)}.json").exists()]
    if done:
        devices = sorted({r["device"].split(",")[0] for r in done})
        commits = sorted({r.get("commit", "?") for r in done})
        lines.append(f"\n{len(done)} of {len(VARIANTS)} trained; {', '.join(devices)}; commit {', '.join(commits)}. Rows not trained yet: {COMMAND}.")
    else:
        lines.append(f"\nNone trained yet: {COMMAND}, then `python benchmarks/report.py`.")
    return "\n".join(lines)


BLOCKS: dict[str, Callable[[], str]] = {"ablations": block_ablations}
