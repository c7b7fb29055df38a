# Shared by the resumable training queues (source it after `cd` to the repository root). Defaults, each
# overridable from the environment: PY (the venv's python), FER and CK (dataset specs), THREADS (torch threads
# of each run, 1: the other core keeps its run).
PY=${PY:-.venv/bin/python}
FER=${FER:-fer2013:../shared/data/fer2013}
CK=${CK:-ckplus48:../shared/data/ckplus48}
export OMP_NUM_THREADS=${THREADS:-1}
# train RECIPE: trains the recipe with run_recipe.py at $OMP_NUM_THREADS threads; skipped when its result JSON
# exists; a run of the same recipe still going in another process (a queue restarted while its runs go on) is
# waited for; a finished run's per-epoch logs are copied into benchmarks/results/logs.
train() {
  local recipe=$1
  while pgrep -f "run_recipe[.]py $recipe( |\$)" >/dev/null; do sleep 60; done
  if [ -f "benchmarks/results/$recipe.json" ]; then echo "== done: $recipe"; return 0; fi
  echo "== $(date -u +%H:%M) $recipe"
  $PY benchmarks/run_recipe.py "$recipe" --data "$FER" 2> >(grep -v "it/s\]" >&2) || echo "FAILED: $recipe"
  $PY benchmarks/collect_logs.py >/dev/null 2>&1 || true
}
# run_named NAME SCRIPT ARGS...: runs `$PY SCRIPT ARGS...` (which writes benchmarks/results/NAME.json; pass it
# --name NAME) unless that file exists or another process is running it (so two cores can work through the same
# queue side by side, each taking the next step the other has not); with ONLY=NAME set, every other step is skipped.
run_named() {
  local name=$1; shift
  if [ -n "${ONLY:-}" ] && [ "$name" != "$ONLY" ]; then return 0; fi
  if [ -f "benchmarks/results/$name.json" ]; then echo "== done: $name"; return 0; fi
  if pgrep -f -- "--name $name( |\$)" >/dev/null; then echo "== running in another process: $name"; return 0; fi
  echo "== $(date -u +%H:%M) $name"
  $PY "$@" 2> >(grep -v "it/s\]" >&2) || echo "FAILED: $name"
  $PY benchmarks/collect_logs.py >/dev/null 2>&1 || true
}
# The FER2013 start weights of the transfer rows: the member of the shipped v5 ensemble with the best PublicTest
# accuracy (a modified ResNet-18, fer2013-default-continued-seed3-v2, 65.9%), written to runs/start/ from the git
# history once. Sets START to its path.
START=runs/start/fer2013-modres18-v5best.pt
start_weights() {
  [ -f "$START" ] && return 0
  mkdir -p runs/start; git show 6b5df7d:src/ferkit/weights/ferkit-default.pt > runs/start/ferkit-default-v5.pt
  $PY benchmarks/extract_member.py runs/start/ferkit-default-v5.pt --best --out "$START"
}
