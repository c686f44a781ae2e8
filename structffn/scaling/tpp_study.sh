#!/usr/bin/env bash
# Issue 15's study in results/tpp-cpu: how the dense/structured comparison moves with tokens per
# parameter. Two sizes (4x64, 4x96: 4 blocks, so 3 of 4 FFNs are structured; tiny's 512-token BPE
# vocabulary and 128-token context, gosrc corpus), token budgets of 2, 5, 10 and 20 tokens per dense
# parameter, 3 seeds; per budget and seed: dense; 32% LowRank on the dense model's tokens; 32% LowRank
# at the dense model's FLOPs (-equal_flops, more tokens); 32% LowRank with SGT at equal tokens
# (sgt=steps, the paper's Table 3) and at the dense model's FLOPs (sgt=flops). One sweep, runs
# ordered size, budget, structure, seed; resumable: rerun to continue (finished runs are skipped, an
# interrupted one resumes from its checkpoint). `structffn sweep ... -dry-run` (the same flags) prints
# the plan: 120 runs, about 9 h on 2 cores with the XLA CPU plugin.
#
#   structffn/scaling/tpp_study.sh [OUT]      # OUT: default results/tpp-cpu
set -euo pipefail
cd "$(dirname "$0")/../.."
OUT="${1:-results/tpp-cpu}"
mkdir -p "$OUT"
BIN="$(mktemp -d)/structffn"
go build -o "$BIN" ./cmd/structffn
"$BIN" sweep -out "$OUT" -sizes 4x64,4x96 -structures dense,lowrank -fractions 0.3125 -sgt off,steps,flops -equal_flops \
  -seeds 0,1,2 -tokens_per_param 2,5,10,20 -set "eval_every=0;eval_batches=32;log_every=50"
# Checkpoints are not committed (.gitignore); the run files and results.jsonl are.
wc -l "$OUT/results.jsonl"
