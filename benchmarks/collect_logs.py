"""Copy each run's per-epoch log (``runs/<run>/[<fold>/]metrics.jsonl``) and the queue logs into
``benchmarks/results/logs/``, so that training curves and times behind every result are committed
(checkpoints are not: they stay in ``runs/``)."""

from __future__ import annotations

import shutil
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import REPO, RESULTS  # noqa: E402


def main() -> int:
    out = RESULTS / "logs"
    for log in sorted((REPO / "runs").glob("**/metrics.jsonl")):
        rel = log.parent.relative_to(REPO / "runs")
        if rel.parts[0].startswith(("smoke", "tmp")):
            continue
        target = out / rel / "metrics.jsonl"
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(log, target)
    for queue in sorted((REPO / "runs").glob("queue_*.log")):
        shutil.copyfile(queue, out / queue.name)
    print(f"copied logs into {out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
