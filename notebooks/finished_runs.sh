#!/usr/bin/env bash
# Trains the "longer finished runs" that notebooks/02_training.ipynb reloads, and keeps only each run's
# config.json and metrics.jsonl (no checkpoints) under results/runs/NAME/. (Notebook 03 reloads
# docs/SGT.md's experiment, all three seeds, from results/sgt-cpu: structffn/guide/cpu_experiment.sh.)
#
#   notebooks/finished_runs.sh [SCRATCH]     # ~15-20 min on 2 cores with the XLA CPU plugin
#
# baseline-{dense,lowrank,blockdense,blockshuffle}: the tiny preset, 32% structured FFN, 1000 steps,
#     validation every 100, seed 0 (README.md "Baseline at CPU scale", with more validation points).
# Runs train into SCRATCH (default runs/finished, ignored by git); a rerun resumes or skips finished runs.
set -euo pipefail
cd "$(dirname "$0")/.."
SCRATCH="${1:-runs/finished}"
mkdir -p "$SCRATCH" results/runs
go build -o "$SCRATCH/structffn" ./cmd/structffn

run() { # NAME SETTINGS
  local name=$1 set=$2
  echo "== $name: $set"
  "$SCRATCH/structffn" train -out "$SCRATCH/$name" -set "$set;log_every=50" >"$SCRATCH/$name.log" 2>&1 ||
    { tail -20 "$SCRATCH/$name.log"; exit 1; }
  tail -1 "$SCRATCH/$name.log"
  mkdir -p "results/runs/$name"
  cp "$SCRATCH/$name/config.json" "$SCRATCH/$name/metrics.jsonl" "results/runs/$name/"
}

for s in dense lowrank blockdense blockshuffle; do
  run "baseline-$s" "structure=$s;train_steps=1000;eval_every=100;seed=0"
done

"$SCRATCH/structffn" runs results/runs/baseline-{dense,lowrank,blockdense,blockshuffle}
