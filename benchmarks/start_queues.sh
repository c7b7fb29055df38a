#!/usr/bin/env bash
# Starts this project's training queues at the beginning of a session, in the order they need:
# 1. copies back from the mirror (runs-keep/, untracked in the work tree) what runs/ lacks (benchmarks/mirror_runs.sh
#    restore), then keeps the mirror going;
# 2. the long run (queue_cpu_hour.sh) on both cores: it is the critical path (the new default model, issue 17's
#    targets and the transfer weights wait on it). On 2026-12-01 its epoch took 109-159 s alone on both cores
#    (epochs 12-16) against 187-208 s on one core beside a CK+ run (epochs 6-9): sharing trains perhaps a quarter
#    more images in all, but the long run would end about 1.5x later. SHARE=1 puts it on one core with the
#    second-core queue beside it;
# 3. the step after the long run (queue_after_long.sh: it waits for the long run, chooses
#    the default, then takes the CK+ rows and ablations on both cores; it exits at once if the long run is neither
#    running nor finished).
# Queues already running are left alone, so running this twice starts nothing twice. Logs: runs/queue_*.log.
#   bash benchmarks/start_queues.sh
set -u
cd "$(dirname "$0")/.."
mkdir -p runs
running() { pgrep -f "$1" >/dev/null; }
running "mirror_runs[.]sh loop" || { bash benchmarks/mirror_runs.sh restore; nohup bash benchmarks/mirror_runs.sh loop >/dev/null 2>&1 & }
if ! running "queue_cpu_hour[.]sh"; then
  if [ "${SHARE:-0}" = 1 ]; then
    LONG_THREADS=1 BESIDE="bash benchmarks/queue_second_core.sh >> runs/queue_second_core.log 2>&1" \
      nohup bash benchmarks/queue_cpu_hour.sh >> runs/queue_cpu_hour.log 2>&1 &
  else
    LONG_THREADS=2 nohup bash benchmarks/queue_cpu_hour.sh >> runs/queue_cpu_hour.log 2>&1 &
  fi
fi
running "queue_after_long[.]sh" || nohup bash benchmarks/queue_after_long.sh >> runs/queue_after_long.log 2>&1 &  # it waits for the long run
sleep 2; pgrep -af "run_recipe[.]py|queue_[a-z_]*[.]sh|mirror_runs" | grep -v pgrep
