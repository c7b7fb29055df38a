#!/usr/bin/env bash
# CK+48 benchmarks in the order this session ran them (each resumable), sized for a 2-core CPU
# shared with the FER2013 queue: OMP_NUM_THREADS=1.
set -u
cd "$(dirname "$0")/.."
PY=${PY:-.venv/bin/python}
CK=${CK:-ckplus48:../shared/data/ckplus48}
# FROM=<text>: skip the steps before the first one whose arguments contain <text> (to restart a queue).
run() {
  if [ -n "${FROM:-}" ]; then case "$*" in *"$FROM"*) FROM="" ;; *) echo "== skip $*"; return 0 ;; esac; fi
  echo "== $(date -u +%H:%M) $*"; $PY benchmarks/run_recipe.py "$@" || echo "FAILED: $*"
}
# Issue 2: CE baseline, 10 subject-independent folds
run ckplus-ce-modres18-v1 --data "$CK" --protocol kfold10
# Issue 3: paper 000 Table 2 on randomly erased CK+: the paper's random 800/181 split, then TL-STN on 10 folds
for r in ckplus-stn-resnet18-ce-v1 ckplus-tlstn-ce-v1 ckplus-tlstn-triplet-v1; do run $r --data "$CK" --protocol random800 --erased-test; done
run ckplus-tlstn-triplet-v1 --data "$CK" --protocol kfold10 --erased-test
# Issue 5: paper 003 on CK+ / OCC-CK+. v1 (the paper's SGD 0.01 step schedule, 10 epochs) did not train and was
# stopped after 5 folds; v2 runs on the first 5 of the 10 subject-independent folds to fit the CPU budget.
run ckplus-occnet-double-v2 --data "$CK" --protocol kfold10 --folds 0 1 2 3 4
# Issue 3, v2: the STN's localization network at 0.1x the learning rate (v1's STN + modified ResNet-18 + CE did not train)
for r in ckplus-tlstn-ce-v2 ckplus-tlstn-triplet-v2; do run $r --data "$CK" --protocol random800 --erased-test; done
$PY benchmarks/tlstn_figures.py --ce runs/ckplus-tlstn-ce-v2__random800/best.pt --triplet runs/ckplus-tlstn-triplet-v2__random800/best.pt || echo "FAILED: tlstn_figures"
for r in ckplus-ce-modres18-occ-v2 ckplus-occnet-single-v2; do run $r --data "$CK" --protocol kfold10 --folds 0 1 2 3 4; done
run ckplus-tlstn-triplet-v2 --data "$CK" --protocol kfold10 --erased-test --folds 0 1 2 3 4
# Issue 6: FER2013-pretrained (the CE baseline) fine-tuned on CK+ folds, against ckplus-ce-modres18-v1 from scratch
run ckplus-ce-modres18-v1 --data "$CK" --protocol kfold10 --folds 0 1 2 3 4 --set init_weights=runs/fer2013-ce-modres18/best.pt --name ckplus-transfer-fer2013__kfold10
run ckplus-tlstn-ce-v2 --data "$CK" --protocol kfold10 --erased-test --folds 0 1 2 3 4
# --- Second session. Issue 5: the occlusion map supervised with the occluder masks (same 5 folds as v2)
for r in ckplus-occnet-double-v3 ckplus-occnet-single-v3; do run $r --data "$CK" --protocol kfold10 --folds 0 1 2 3 4; done
# Issue 4: paper 002's pipeline on all 10 CK+ folds
$PY benchmarks/embeddings_svm.py --recipe ckplus-embed-triplet-v1 --data "$CK" --curve-every 10 || echo "FAILED: embeddings_svm ckplus"
# Issue 3: paper 000's batch of 8 triplets against 32
run ckplus-tlstn-triplet-v2 --data "$CK" --protocol random800 --erased-test --set batch_size=32 --name ckplus-tlstn-triplet-v2-batch32__random800
# Issue 3: paper 000 Table 2's three rows on all 10 subject-independent folds (finished folds resume from runs/)
for r in ckplus-stn-resnet18-ce-v1 ckplus-tlstn-ce-v2 ckplus-tlstn-triplet-v2; do run $r --data "$CK" --protocol kfold10 --erased-test; done
echo "== $(date -u +%H:%M) done"
