# Shared by the resumable training queues (source it after `cd` to the repository root, with PY and FER set).
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
