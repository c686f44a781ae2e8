#!/usr/bin/env bash
# Trains the "longer finished runs" that notebooks/02_training.ipynb and 03_self_guided_training.ipynb
# reload, and keeps only each run's config.json and metrics.jsonl (no checkpoints) under results/runs/NAME/.
#
#   notebooks/finished_runs.sh [SCRATCH]     # ~15-20 min on 2 cores with the XLA CPU plugin
#
# (a) baseline-{dense,lowrank,blockdense,blockshuffle}: the tiny preset, 32% structured FFN, 1000 steps,
#     validation every 100, seed 0 (README.md "Baseline at CPU scale", with more validation points).
# (b) sgt-{dense,lowrank,lowrank-sgt}: docs/SGT.md's matched-FLOPs comparison (structffn/guide/cpu_experiment.sh)
#     for seed 0 only, validation every 50: dense 500 steps, LowRank 604 steps, LowRank with sgt=flops from
#     N=500 (590 steps: guided over the first p·N, those steps' data replayed at the end).
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
run sgt-dense       "structure=dense;train_steps=500;eval_every=50;seed=0"
run sgt-lowrank     "structure=lowrank;train_steps=604;eval_every=50;seed=0"
run sgt-lowrank-sgt "structure=lowrank;train_steps=500;sgt=flops;eval_every=50;seed=0"

"$SCRATCH/structffn" runs results/runs/baseline-{dense,lowrank,blockdense,blockshuffle} results/runs/sgt-{dense,lowrank,lowrank-sgt}
