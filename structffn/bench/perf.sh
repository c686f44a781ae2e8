#!/usr/bin/env bash
# Reproduces docs/PERFORMANCE.md's FFN latency tables and its 2026-11-29 training throughput on the
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
echo "== tables (markdown) -> $OUT/tables.md"
python3 - "$OUT" <<'PY' | tee "$OUT/tables.md"
import json, sys, collections
out = sys.argv[1]
def load(name):
    with open(f"{out}/{name}") as f:
        return [json.loads(l) for l in f if l.startswith("{")]
train = load("train.jsonl")
print("| preset | structure | backend | tok/s | ms/step | MFU | vs PyTorch |")
print("|---|---|---|---|---|---|---|")
ref = {(r["preset"], r["structure"]): r["tok_per_s"] for r in train if r["backend"].startswith("pytorch")}
for r in train:
    k = (r["preset"], r["structure"])
    ratio = f'{r["tok_per_s"] / ref[k]:.2f}x' if k in ref else "-"
    print(f'| {r["preset"]} | {r["structure"]} | {r["backend"]} | {r["tok_per_s"]:.0f} | {r["ms_per_step"]:.1f} | {100*r["mfu"]:.1f}% | {ratio} |')
for name in ("ffn-xla.jsonl", "ffn-go.jsonl"):
    rows = load(name)
    print(f"\n{name}: ms (GFLOP/s, speed-up vs dense)\n")
    cols = sorted({(r["structure"], r["fraction"]) for r in rows}, key=lambda c: (c[0] != "dense", c[0], -c[1]))
    print("| d | tokens | pass | " + " | ".join(f"{s} {100*f:.1f}%" if s != "dense" else "dense" for s, f in cols) + " |")
    print("|---|---|---|" + "---|" * len(cols))
    cell = {(r["width"], r["tokens"], r["pass"], r["structure"], r["fraction"]): r for r in rows}
    for w, t, p in sorted({(r["width"], r["tokens"], r["pass"]) for r in rows}):
        vals = []
        for s, f in cols:
            r = cell.get((w, t, p, s, f))
            vals.append("-" if r is None else f'{r["ms"]:.3g} ({r["gflops"]:.0f}, {r["speedup"]:.2f}x)')
        print(f"| {w} | {t} | {p} | " + " | ".join(vals) + " |")
PY
echo "results in $OUT"
