#!/usr/bin/env bash
# Issue 15's last step, run when the long run (queue_cpu_hour.sh) has written its result: the new default model,
# chosen on PublicTest (flip TTA) among every subset of up to 3 of {the long run, the v5 ensemble's three members}
# (a single network when it matches; ties go to fewer members), stored in int8 and shipped to
# src/ferkit/weights/ferkit-default.pt; then scored once on PrivateTest (an ensemble by score_checkpoint.py; a single
# network's run already scored it) and with half / every face occluded; then the cross-dataset and speed tables.
# Then the real-time tables and the generated docs (model card included), for the session that reviews the choice
# and commits it; then both cores join issue 16's queues. Waits for the long run if it is still training:
#   nohup bash benchmarks/queue_after_long.sh >> runs/queue_after_long.log 2>&1 &
# Each step that succeeds leaves a marker in runs/after_long/ (STEPS), so a queue cut off mid-way (a session that
# ends) takes up at the first step not done; choosing the default again clears the markers of the steps after it.
set -u
cd "$(dirname "$0")/.."
source benchmarks/queue_lib.sh  # PY, FER, THREADS defaults
export OMP_NUM_THREADS=2  # its steps run alone on both cores (queue_lib's one thread is for two queues side by side)
FERKIT=${FERKIT:-.venv/bin/ferkit}
LONG=${LONG:-$($PY benchmarks/report_long_run.py --name)}
[ -n "$LONG" ] || { echo "no long-run name (benchmarks/report_long_run.py --name)"; exit 1; }
V5=runs/teachers/ferkit-default-v5.pt
STEPS=${STEPS:-runs/after_long}
# step NAME COMMAND...: runs COMMAND unless NAME's marker exists; a success writes the marker, a failure is logged
# (the queue goes on: the reviewing session reruns what failed) and leaves the step to the next start.
step() {
  local name=$1; shift
  if [ -f "$STEPS/$name.done" ]; then echo "== done: $name"; return 0; fi
  echo "== $(date -u +%H:%M) $name"
  if "$@"; then mkdir -p "$STEPS" && date -u +%FT%TZ > "$STEPS/$name.done"; else echo "FAILED: $name"; return 1; fi
}
tail_queues() {  # both cores, one queue each: issue 16's CK+ transfer rows then its full-length FER2013 rows on one;
  # issue 15's recipe ablations then the same full-length queue on the other (a step another process runs is left to it)
  { bash benchmarks/queue_ckplus_transfer.sh; bash benchmarks/queue_fer2013_full.sh; } &
  { bash benchmarks/queue_ablations.sh; bash benchmarks/queue_fer2013_full.sh; }
  wait
}
# Waits while the long run trains or its queue may still start it.
while [ ! -f "benchmarks/results/$LONG.json" ] && pgrep -f "queue_cpu_hour[.]sh|run_recipe[.]py $LONG( |\$)" >/dev/null; do sleep 300; done
if [ ! -f "benchmarks/results/$LONG.json" ] || [ ! -f "runs/$LONG/best.pt" ]; then
  echo "== $LONG has not finished (no result JSON or best.pt): nothing to choose from; the other queues take the cores"
  tail_queues; exit 1
fi
[ -s "$V5" ] || { mkdir -p runs/teachers; git show 6b5df7d:src/ferkit/weights/ferkit-default.pt > "$V5.tmp" && mv "$V5.tmp" "$V5"; }
for i in 0 1 2; do
  [ -f "runs/start/v5-member$i.pt" ] || $PY benchmarks/extract_member.py "$V5" --index $i --out "runs/start/v5-member$i.pt" || { tail_queues; exit 1; }
done
choose_default() {  # the choice on PublicTest; the steps after it measure the model it ships, so they run again
  rm -f "$STEPS"/*.done
  $PY benchmarks/ship_default_model.py --ensemble --max-members 3 "runs/$LONG/best.pt" runs/start/v5-member0.pt \
      runs/start/v5-member1.pt runs/start/v5-member2.pt
}
score_private() {  # an ensemble is scored here; a single network's run already scored PrivateTest
  if $PY -c "import sys, torch; sys.exit(torch.load('src/ferkit/weights/ferkit-default.pt', weights_only=False)['model_name'] != 'ensemble')"; then
    $PY benchmarks/score_checkpoint.py src/ferkit/weights/ferkit-default.pt --name fer2013-default-ensemble-v6
  fi
}
evaluate() {  # evaluate OCCLUDE (empty: clean)
  $FERKIT evaluate --data "$FER" --split test --tta flip ${1:+--occlude $1} --overwrite \
      --out "benchmarks/results/default_model_evaluate/${1:+occ}${1:-clean}"
}
step choose-default choose_default || { tail_queues; exit 1; }
step score-private score_private || { tail_queues; exit 1; }
step evaluate-clean evaluate "" || { tail_queues; exit 1; }
step evaluate-occ0.5 evaluate 0.5 || { tail_queues; exit 1; }
step evaluate-occ1.0 evaluate 1.0 || { tail_queues; exit 1; }
step cross-dataset $PY benchmarks/cross_dataset.py
step speed $PY benchmarks/speed.py --baseline-model "$V5"  # the old default timed beside the new: the host's speed drifts
# The real-time tables (issue 17) for the new default while nothing else trains (--quiet-cpu is then true): every
# section on the benchmark video, the held-out videos, the covered-faces table; then every generated doc. About half
# an hour; a failure is logged and the queues go on (the reviewing session reruns what failed).
step realtime $PY benchmarks/realtime.py --quiet-cpu --sections crops tta detectors video camera breakdown
step realtime-heldout $PY benchmarks/realtime.py --quiet-cpu --sections heldout --heldout 1:3000 2:6000 4:6000
step occluder-recall $PY benchmarks/occluder_recall.py
$PY benchmarks/report.py || echo "FAILED: report.py"
echo "== $(date -u +%H:%M) default chosen: review benchmarks/results/default_model_selection.json and the regenerated docs, commit"
tail_queues
