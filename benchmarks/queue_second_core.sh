#!/usr/bin/env bash
# The second core's queue while the issue-15 long run holds the first (queue_cpu_hour.sh with LONG_THREADS=1):
# 1. issue 17's fast student (a half-width modified ResNet-18 distilled from the v5 ensemble), reusing the long
#    run's cached teacher logits (same teacher file, same training images: the cache key checks both);
# 2. then the CK+ transfer queue of issue 16.
# Every step resumes from its last.pt and a finished step (its result JSON exists) is skipped:
#   nohup bash benchmarks/queue_second_core.sh >> runs/queue_second_core.log 2>&1 &
set -u
cd "$(dirname "$0")/.."
PY=${PY:-.venv/bin/python}
FER=${FER:-fer2013:../shared/data/fer2013}
export OMP_NUM_THREADS=${THREADS:-1}
STUDENT=fer2013-cpu-student-modres18c32-kd-v1
CACHE=runs/fer2013-cpu-long-modres18-kd-v1/teacher_logits.pt
while pgrep -f "run_recipe[.]py ckplus" >/dev/null; do sleep 60; done  # a CK+ run left from an earlier queue
if [ ! -f "benchmarks/results/$STUDENT.json" ]; then
  if [ -f "$CACHE" ] && [ ! -f "runs/$STUDENT/teacher_logits.pt" ]; then mkdir -p "runs/$STUDENT"; cp "$CACHE" "runs/$STUDENT/"; fi
  echo "== $(date -u +%H:%M) $STUDENT"
  $PY benchmarks/run_recipe.py "$STUDENT" --data "$FER" 2> >(grep -v "it/s\]" >&2) || echo "FAILED: $STUDENT"
  $PY benchmarks/collect_logs.py >/dev/null 2>&1 || true
fi
bash benchmarks/queue_ckplus_transfer.sh
