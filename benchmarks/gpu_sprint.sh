#!/usr/bin/env bash
# GPU sprint: train RECIPE with SEEDS on a lent GPU within BUDGET_S seconds, from a FER2013
# Training + PublicTest pack, and leave the checkpoints, logs and a summary under $OUT for the
# device tool to bring back. PrivateTest is scored afterwards where the dataset lives
# (benchmarks/score_sprint.py). See docs/gpu_sprint.md for the device-tool command.
#
#   bash benchmarks/gpu_sprint.sh                       # on the device machine ($OUT set by the tool)
#   DRY_RUN=1 PYTHON=.venv/bin/python bash benchmarks/gpu_sprint.sh   # here: CPU, 1 epoch, 512 images
#
# Environment: RECIPE, SEEDS ("0 1 2"), EPOCHS (default: fitted to the time left), SET (more KEY=VALUE
# overrides, space-separated), BUDGET_S (540), PARALLEL (3; 1 in a dry run), PACK, OUT, RUNS,
# DEVICE (auto; cpu in a dry run), PYTHON (python3), SPRINT_COMMIT (recorded in the summary).
set -euo pipefail
export SPRINT_T0=${SPRINT_T0:-$(date +%s.%N)}  # the budget counts from here
cd "$(dirname "$0")/.."

PYTHON=${PYTHON:-python3}
RECIPE=${RECIPE:-fer2013-default-modres18-occ-v3}
SEEDS=${SEEDS:-0 1 2}
PACK=${PACK:-runs/sprint/fer2013_train_public.npz}
RUNS=${RUNS:-runs/sprint}
DRY_RUN=${DRY_RUN:-0}
if [[ "$DRY_RUN" == 1 ]]; then
  DEVICE=${DEVICE:-cpu}; PARALLEL=${PARALLEL:-1}; BUDGET_S=${BUDGET_S:-600}
  OUT=${OUT:-$RUNS/dry_run_out}; RUNS=$RUNS/dry_run; extra=(--dry-run)
else
  DEVICE=${DEVICE:-auto}; PARALLEL=${PARALLEL:-3}; BUDGET_S=${BUDGET_S:-540}
  extra=()
fi
: "${OUT:?set OUT (the device tool sets it) to the folder that comes back}"

if [[ ! -f "$PACK" ]]; then
  echo "gpu_sprint: no pack at $PACK; write it with 'python benchmarks/pack_fer2013.py' and name it in the device tool's carry" >&2
  exit 2
fi
if ! "$PYTHON" -c "import torch, cv2, timm" 2>/dev/null; then
  echo "gpu_sprint: $PYTHON cannot import torch, cv2 and timm; set PYTHON to an interpreter that has them" >&2
  exit 2
fi
sets=()
[[ -n "${EPOCHS:-}" ]] && sets+=(--set "epochs=$EPOCHS")
for s in ${SET:-}; do sets+=(--set "$s"); done

export PYTHONPATH="$PWD/src${PYTHONPATH:+:$PYTHONPATH}" PYTHONUNBUFFERED=1
command -v nvidia-smi >/dev/null && nvidia-smi --query-gpu=name,memory.used,memory.total,utilization.gpu --format=csv,noheader || true
# shellcheck disable=SC2086
exec "$PYTHON" benchmarks/gpu_sprint.py --recipe "$RECIPE" --pack "$PACK" --out "$OUT" --runs "$RUNS" --seeds $SEEDS \
  --budget-s "$BUDGET_S" --parallel "$PARALLEL" --device "$DEVICE" "${sets[@]}" "${extra[@]}"
