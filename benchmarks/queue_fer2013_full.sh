#!/usr/bin/env bash
# Issue 16: every paper method's FER2013 run at full length (60 epochs: the recipes' 8-10 epoch runs stopped far
# below their papers). Same recipes as the short rows (src/ferkit/recipes/*.toml) with epochs=60, one-cycle or
# the recipe's own schedule sized to the 60 epochs; each result JSON is named RECIPE-e60 and its runs resume from
# last.pt, so the queue can be stopped and restarted across sessions:
#   nohup bash benchmarks/queue_fer2013_full.sh >> runs/queue_fer2013_full.log 2>&1 &
# About 1-2 hours per run on one core of the AVX2 Zen 3 host (less on Zen 4, in bf16) (THREADS, default 1, so the
# other core keeps its run).
# Order: paper 004's loss comparison at equal epochs (CE, centre, weighted cluster), papers 000/001's TL-STN and
# STN + ResNet-18 with triplet loss, paper 003's double-channel network, paper 002's embeddings warm-started
# from the FER2013 network (the same start weights as the CK+ transfer rows). Changed 2026-12-02, before any of these
# ran, after a read of the code against the papers: the double-channel network is fer2013-occnet-double-v3 (residual
# channel mixing, unnormalised features into the heads: see the CK+ v4 recipes), and the centre and
# weighted-cluster losses move their centres by plain SGD steps (ferkit.train.optim), unlike their 10-epoch rows.
set -u
cd "$(dirname "$0")/.."
source benchmarks/queue_lib.sh  # run_named, start_weights
start_weights || exit 1
for recipe in fer2013-loss-ce-v2 fer2013-loss-center-v2 fer2013-loss-weighted-cluster-v5 fer2013-tlstn-v2 \
              fer2013-stn-resnet18-tl-v2 fer2013-occnet-double-v3; do
  run_named "$recipe-e60" benchmarks/run_recipe.py "$recipe" --data "$FER" --set epochs=60 --name "$recipe-e60"
done
run_named embeddings_svm__fer2013-embed-triplet-v2-e60 benchmarks/embeddings_svm.py --recipe fer2013-embed-triplet-v2 --data "$FER" \
    --set epochs=60 --set init_weights=$START --curve-every 10 --name embeddings_svm__fer2013-embed-triplet-v2-e60
echo "== $(date -u +%H:%M) done"
