"""Copy each run's per-epoch log (``runs/<run>/[<fold>/]metrics.jsonl``) and the queue logs into
``benchmarks/results/logs/``, so that training curves and times behind every result are committed
(checkpoints are not: they stay in ``runs/``).

A run or queue restarted from nothing (its ``runs/`` lost, as on 2026-12-01) writes a log that does not
continue the committed one; the committed one is then kept beside it as ``<name>.until-<date><suffix>``
instead of being overwritten."""

from __future__ import annotations

import shutil
import sys
from datetime import datetime, timezone
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import REPO, RESULTS  # noqa: E402


def keep_if_not_continued(target: Path, source: Path) -> Path | None:
    """Move ``target`` aside when ``source`` does not start with its bytes; return where it went."""
    if not target.exists():
        return None
    old = target.read_bytes()
    if source.read_bytes().startswith(old):
        return None
    stamp = datetime.fromtimestamp(target.stat().st_mtime, timezone.utc).strftime("%Y-%m-%dT%H%M")
    kept = target.with_name(f"{target.stem}.until-{stamp}{target.suffix}")
    target.replace(kept)
    return kept


def copy_log(source: Path, target: Path) -> None:
    target.parent.mkdir(parents=True, exist_ok=True)
    kept = keep_if_not_continued(target, source)
    if kept is not None:
        print(f"{source} does not continue the committed log: kept it as {kept.name}")
    shutil.copyfile(source, target)


def main() -> int:
    out = RESULTS / "logs"
    for log in sorted((REPO / "runs").glob("**/metrics.jsonl")):
        rel = log.parent.relative_to(REPO / "runs")
        if rel.parts[0].startswith(("smoke", "tmp")):
            continue
        copy_log(log, out / rel / "metrics.jsonl")
    for queue in sorted((REPO / "runs").glob("queue_*.log")):
        copy_log(queue, out / queue.name)
    print(f"copied logs into {out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
