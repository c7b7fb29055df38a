#!/usr/bin/env bash
# CK+48 benchmarks, one after another (each resumable). CPU: OMP_NUM_THREADS=1 lets two queues share 2 cores.
set -u
cd "$(dirname "$0")/.."
PY=${PY:-.venv/bin/python}
CK=${CK:-ckplus48:../shared/data/ckplus48}
run() { echo "== $(date -u +%H:%M) $*"; $PY benchmarks/run_recipe.py "$@" || echo "FAILED: $*"; }
# Issue 2: CE baseline, 10 subject-independent folds
run ckplus-ce-modres18-v1 --data "$CK" --protocol kfold10
# Issue 3: paper 000 Table 2 on randomly erased CK+, the paper's random 800/181 split, then 10 folds
for r in ckplus-stn-resnet18-ce-v1 ckplus-tlstn-ce-v1 ckplus-tlstn-triplet-v1; do run $r --data "$CK" --protocol random800 --erased-test; done
for r in ckplus-tlstn-triplet-v1 ckplus-tlstn-ce-v1 ckplus-stn-resnet18-ce-v1; do run $r --data "$CK" --protocol kfold10 --erased-test; done
# Issue 5: paper 003 on CK+ / OCC-CK+, 10 folds
for r in ckplus-ce-modres18-occ-v1 ckplus-occnet-single-v1 ckplus-occnet-double-v1; do run $r --data "$CK" --protocol kfold10; done
echo "== $(date -u +%H:%M) done"
