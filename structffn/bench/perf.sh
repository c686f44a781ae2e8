#!/usr/bin/env bash
# Reproduces every figure in docs/PERFORMANCE.md: FFN latency tables and training throughput on the
# pure-Go backend (stock GoMLX v0.26.0 and with this project's fixes), on XLA CPU, and the PyTorch
# reference back to back. Writes JSON Lines under OUT (default /tmp/structffn-perf) and prints tables.
#
#   structffn/bench/perf.sh [OUT]
#
# Needs the XLA CPU plugin (kernel/install-xla-cpu.sh) and, for the reference, torch in
# $STRUCTFFN_TORCH_PYTHON (structffn/bench/pytorch/README.md). Run it on an otherwise idle machine:
# it takes about 20 minutes on 2 cores.
set -euo pipefail
cd "$(dirname "$0")/../.."
OUT="${1:-/tmp/structffn-perf}"
mkdir -p "$OUT"
go build -o "$OUT/structffn" ./cmd/structffn
S="$OUT/structffn"

echo "== machine"
{ nproc; grep -m1 'model name' /proc/cpuinfo; go version; } | tee "$OUT/machine.txt"

echo "== training throughput (tiny, mini; dense and 32% LowRank)"
: >"$OUT/train.jsonl"
for preset in tiny mini; do
  for structure in dense lowrank; do
    set_="preset=$preset;structure=$structure"
    if [ "$preset" = tiny ]; then
      "$S" bench train -json -backend go -stock -set "$set_" -steps 2 -min_time 0s | tee -a "$OUT/train.jsonl"
    fi
    "$S" bench train -json -backend go -set "$set_" -steps 3 -min_time 10s | tee -a "$OUT/train.jsonl"
    "$S" bench train -json -backend xla:cpu -set "$set_" -min_time 10s -reference | tee -a "$OUT/train.jsonl"
  done
done

echo "== FFN latency, XLA CPU"
"$S" bench ffn -backend xla:cpu -widths 256,1024,2048 -tokens 16,256,4096,8192 -json | tee "$OUT/ffn-xla.jsonl"

echo "== FFN latency, pure Go"
"$S" bench ffn -backend go -widths 256,512 -tokens 16,256,1024 -json | tee "$OUT/ffn-go.jsonl"
echo "results in $OUT"
