#!/usr/bin/env bash
# Issue 15's short ablations (src/ferkit/recipes/ablations.toml): one base (half-width modified ResNet-18, the v3
# default recipe, 12 epochs) and one variant per schedule or regulariser, trained one after another on one core
# (THREADS=1 by default, so the other core keeps its run). Every step resumes from its last.pt, a finished step
# (its result JSON exists) is skipped, and a step still training in another process (a queue restarted while its
# run goes on) is waited for. queue_after_long.sh starts it after the long run (one core); by hand:
#   nohup bash benchmarks/queue_ablations.sh >> runs/queue_ablations.log 2>&1 &
# then `python benchmarks/report.py` renders the table in docs/training_on_cpu.md (rows not trained say so).
set -u
cd "$(dirname "$0")/.."
VARIANTS=${VARIANTS:-"base nols mixup cutmix noerasing occ70 cosine plateau"}
source benchmarks/queue_lib.sh  # train RECIPE
for variant in $VARIANTS; do
  train "fer2013-ablate-$variant-v1"
done
$PY benchmarks/report.py >/dev/null 2>&1 || true
