#!/usr/bin/env bash
# Issue 15 (accuracy per CPU hour), the order this work runs in. Every step resumes from its last.pt and a
# finished step (its result JSON exists) is skipped, so the queue can be stopped and started again at will:
#   nohup bash benchmarks/queue_cpu_hour.sh > runs/queue_cpu_hour.log 2>&1 &
# LONG_THREADS (default 2) sets the long run's threads; BESIDE, a command run at the same time as the long run
# (e.g. BESIDE="bash benchmarks/queue_ckplus_transfer.sh" with LONG_THREADS=1: one core each).
# A step whose recipe is still training in another process (a queue restarted while its runs go on) is waited for.
# On this project's 2-core machine two one-thread runs side by side train more images per second in total
# than one two-thread run (benchmarks/results/cpu_training_speed.json), so the study's candidates run in pairs.
set -u
cd "$(dirname "$0")/.."
PY=${PY:-.venv/bin/python}
FER=${FER:-fer2013:../shared/data/fer2013}
TEACHER=runs/teachers/ferkit-default-v5.pt  # the v5 shipped ensemble, the distillation teacher
[ -s "$TEACHER" ] || { mkdir -p runs/teachers; git show 6b5df7d:src/ferkit/weights/ferkit-default.pt > "$TEACHER.tmp" && mv "$TEACHER.tmp" "$TEACHER"; }
train() {  # train THREADS RECIPE: skipped when its result is already written
  local threads=$1 recipe=$2
  while pgrep -f "run_recipe[.]py $recipe( |\$)" >/dev/null; do sleep 60; done
  if [ -f "benchmarks/results/$recipe.json" ]; then echo "== done: $recipe"; return 0; fi
  echo "== $(date -u +%H:%M) threads=$threads $recipe"
  OMP_NUM_THREADS=$threads $PY benchmarks/run_recipe.py "$recipe" --data "$FER" 2> >(grep -v "it/s\]" >&2) || echo "FAILED: $recipe"
}
collect() { wait; $PY benchmarks/collect_logs.py >/dev/null 2>&1 || true; }
# 1. Equal-time study: each candidate 40 min on one core (epochs sized from the speed table), two at a time.
train 1 fer2013-cpu-study-modres18-v1 & train 1 fer2013-cpu-study-fer10s2-v1 &
collect
train 1 fer2013-cpu-study-fer10s1w32-v1 & train 1 fer2013-cpu-study-modres18-kd-v1 &
collect
$PY benchmarks/cpu_hour_study.py || exit 1
# 2. The long run of the chosen candidate (continues across sessions): since 2026-12-02 its bf16 twin
# (benchmarks/report_long_run.py names it; about 4.5 hours of both cores on an AVX512-BF16 host, fp32 elsewhere).
LONG=$($PY benchmarks/report_long_run.py --name)
[ -n "$LONG" ] || { echo "no long-run name (benchmarks/report_long_run.py --name)"; exit 1; }
bash benchmarks/mirror_runs.sh restore  # never start the long run afresh while its mirror holds more of it
if [ -n "${BESIDE:-}" ]; then echo "== $(date -u +%H:%M) beside the long run: $BESIDE"; bash -c "$BESIDE" & fi
train "${LONG_THREADS:-2}" "$LONG"
collect
