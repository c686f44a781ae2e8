#!/usr/bin/env bash
# Issue 19's comparison of every structure at equal FLOPs, in results/structures-cpu: the 4x64 size
# (4 blocks, so 3 of 4 FFNs are structured; tiny's 512-token BPE vocabulary and 128-token context,
# gosrc corpus) at the FLOPs of its dense model on 10 tokens per parameter (4.12e12: 1137 steps of
# 2048 tokens); dense and the 32% LowRank, BlockDense, BlockShuffle, Monarch and BTT, each trained to
# that budget (more tokens for the structured ones), 3 seeds; once with the paper's initialisation and
# one learning rate (OUT/paper) and once with lr_scaling=cbs, Compute Better Spent's structure-aware
# initialisation and per-factor learning rates (OUT/cbs; dense is the same run there, so it is not
# repeated). Seed 0 of everything first, then seeds 1 and 2. Resumable: rerun to continue.
#
#   structffn/scaling/structures_study.sh [OUT]      # OUT: default results/structures-cpu; 33 runs, about 1.5 h on 2 idle cores
set -euo pipefail
cd "$(dirname "$0")/../.."
OUT="${1:-results/structures-cpu}"
mkdir -p "$OUT/paper" "$OUT/cbs"
BIN="$(mktemp -d)/structffn"
go build -o "$BIN" ./cmd/structffn
common=(-sizes 4x64 -fractions 0.3125 -flops 4.12e12)
set_=(eval_every=0 eval_batches=32 log_every=50)
base="$(IFS=';'; echo "${set_[*]}")"
for seeds in 0 1,2; do
	"$BIN" sweep -out "$OUT/paper" "${common[@]}" -seeds "$seeds" -structures dense,lowrank,blockdense,blockshuffle,monarch,btt -set "$base"
	"$BIN" sweep -out "$OUT/cbs" "${common[@]}" -seeds "$seeds" -structures lowrank,blockdense,blockshuffle,monarch,btt -set "$base;lr_scaling=cbs"
done
# Checkpoints are not committed (.gitignore); the run files and results.jsonl are.
wc -l "$OUT"/*/results.jsonl
