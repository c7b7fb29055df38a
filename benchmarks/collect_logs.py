"""Copy each run's per-epoch log (``runs/<run>/[<fold>/]metrics.jsonl``) and the queue logs into
``benchmarks/results/logs/``, so that training curves and times behind every result are committed
(checkpoints are not: they stay in ``runs/``).

A run or queue restarted from nothing (its ``runs/`` lost, as on 2026-12-01) writes a log that does not
continue the committed one; the committed one is then kept beside it as ``<name>.until-<date><suffix>``
instead of being overwritten (``.rewound-<date>`` for a run resumed from an older copy of its folder)."""

from __future__ import annotations

import shutil
import sys
from datetime import datetime, timezone
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import REPO, RESULTS  # noqa: E402


def keep_if_not_continued(target: Path, source: Path) -> Path | None:
    """Move ``target`` aside when ``source`` does not continue it; return where it went.

    ``source`` restarted from nothing (its first epoch differs): kept as ``<name>.until-<date>``, a lost attempt.
    A run's ``source`` resumed from an older copy of it (runs-keep/, benchmarks/mirror_runs.sh: the same first epochs,
    then epochs trained again): kept as ``<name>.rewound-<date>``, which the reports do not list as an attempt."""
    if not target.exists():
        return None
    old, new = target.read_bytes(), source.read_bytes()
    if new.startswith(old):
        return None
    same_start = target.name == "metrics.jsonl" and old.split(b"\n", 1)[0] == new.split(b"\n", 1)[0]  # a queue log's first line repeats
    stamp = datetime.fromtimestamp(target.stat().st_mtime, timezone.utc).strftime("%Y-%m-%dT%H%M")
    kept = target.with_name(f"{target.stem}.{'rewound' if same_start else 'until'}-{stamp}{target.suffix}")
    target.replace(kept)
    return kept


def copy_log(source: Path, target: Path) -> None:
    """Copy ``source`` over ``target``, keeping a ``target`` that it does not continue (above); a ``source`` that is
    only behind ``target`` (a run resumed from an older copy that has not trained past it yet) is not copied."""
    target.parent.mkdir(parents=True, exist_ok=True)
    if target.exists() and target.read_bytes().startswith(source.read_bytes()) and target.stat().st_size > source.stat().st_size:
        print(f"{source} is behind the committed log: left for later")
        return
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
