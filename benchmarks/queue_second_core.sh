#!/usr/bin/env bash
# The second core's queue while the issue-15 long run holds the first (queue_cpu_hour.sh with LONG_THREADS=1):
# 1. issue 17's fast student (a half-width modified ResNet-18 distilled from the v5 ensemble), reusing the long
#    run's cached teacher logits (same teacher file, same training images: the cache key checks both);
# 2. issue 15's distillation ablation: the study's distilled candidate with the teacher run on each augmented
#    batch (online) in the same 40-minute budget;
# 3. issue 16's first subject-independent 10-fold CK+ row from FER2013 weights (paper 003's plain baseline, with
#    early stopping: kept as a measured negative result), then TL-STN (CE) at a fixed 60 epochs, the candidate for
#    the issue's >= 95% subject-independent target;
# 4. the rest of the CK+ transfer queue of issue 16 (its open rows: under an hour each);
# 5. issue 15's short schedule and regulariser ablations (benchmarks/queue_ablations.sh, about 4 hours);
# 6. then issue 16's FER2013 rows at full length (benchmarks/queue_fer2013_full.sh, about 4 hours a row).
# Every step resumes from its last.pt, a finished step (its result JSON exists) is skipped, and a step still
# training in another process (a queue restarted while its runs go on) is waited for:
#   nohup bash benchmarks/queue_second_core.sh >> runs/queue_second_core.log 2>&1 &
set -u
cd "$(dirname "$0")/.."
STUDENT=fer2013-cpu-student-modres18c32-kd-v1
source benchmarks/queue_lib.sh  # train RECIPE
CACHE=runs/$($PY benchmarks/report_long_run.py --name)/teacher_logits.pt
while pgrep -f "run_recipe[.]py (ckplus|fer2013-ablate)" >/dev/null; do sleep 60; done  # a run left from an earlier queue
if [ -f "$CACHE" ] && [ ! -f "runs/$STUDENT/teacher_logits.pt" ]; then mkdir -p "runs/$STUDENT"; cp "$CACHE" "runs/$STUDENT/"; fi
train "$STUDENT"
train fer2013-cpu-study-modres18-kdonline-v1
$PY benchmarks/cpu_hour_study.py >/dev/null 2>&1 || true
ONLY=ckplus-ce-modres18-occ-v2-fer2013init-es__kfold10 bash benchmarks/queue_ckplus_transfer.sh
ONLY=ckplus-tlstn-ce-v2-fer2013init-e60__kfold10 bash benchmarks/queue_ckplus_transfer.sh
bash benchmarks/queue_ckplus_transfer.sh  # issue 16's open CK+ rows first: under an hour each on one core
bash benchmarks/queue_ablations.sh        # issue 15's training-recipe ablations (12 FER2013 epochs each)
bash benchmarks/queue_fer2013_full.sh
