#!/usr/bin/env bash
# The CPU-scale scaling study in results/scaling-cpu (issue 7): four sizes (2x64, 4x64, 4x96, 4x128:
# L layers of width D, tiny's 512-token BPE vocabulary and 128-token context, gosrc corpus), each
# trained on 2 tokens per dense parameter, for dense, LowRank 63% and 32%, BlockDense 32% and
# BlockShuffle 32%, and the three 32% structures with fixed-FLOPs self-guided training. Three
# sweeps into one directory; results.jsonl collects them all. Resumable: rerun to continue.
#
#   structffn/scaling/cpu_study.sh [OUT]      # ~1 h on 2 cores (idle) with the XLA CPU plugin
set -euo pipefail
cd "$(dirname "$0")/../.."
OUT="${1:-results/scaling-cpu}"
mkdir -p "$OUT"
go build -o /tmp/structffn-study ./cmd/structffn
S=/tmp/structffn-study
common=(-out "$OUT" -sizes 2x64,4x64,4x96,4x128 -tokens_per_param 2 -set "eval_every=0;eval_batches=32;log_every=50")
"$S" sweep "${common[@]}" -structures dense,lowrank -fractions 0.625,0.3125
"$S" sweep "${common[@]}" -structures blockdense,blockshuffle -fractions 0.3125
"$S" sweep "${common[@]}" -structures lowrank,blockdense,blockshuffle -fractions 0.3125 -sgt flops
# Keep what the fits and notebooks read; drop checkpoints (results/ is committed).
find "$OUT" -name checkpoints -type d -prune -exec rm -rf {} +
wc -l "$OUT/results.jsonl"
