#!/usr/bin/env bash
# Reproduces the decoding figures in docs/PERFORMANCE.md ("Decoding and pre-merge"): the latency of
# one KV-cache decoding step by tokens in flight, for the structured weights, their pre-merged dense
# matrices and a dense model of the same shape, and the crossover `structffn sample -premerge` uses.
# Writes JSON Lines under OUT (default /tmp/structffn-decode) and prints markdown tables.
#
#   structffn/bench/decode.sh [OUT]
#
# Needs the XLA CPU plugin (kernel/install-xla-cpu.sh); about 10 minutes on 2 cores.
set -euo pipefail
cd "$(dirname "$0")/../.."
OUT="${1:-/tmp/structffn-decode}"
mkdir -p "$OUT"
go build -o "$OUT/structffn" ./cmd/structffn
S="$OUT/structffn"
: >"$OUT/decode.jsonl"
: >"$OUT/stderr.txt"
for structure in lowrank blockdense blockshuffle; do
  set_="preset=small;structure=$structure;fraction=0.3125"
  # Token-by-token decoding of 1..256 sequences, then prompt chunks of one sequence.
  "$S" bench decode -json -backend xla:cpu -set "$set_" -batch 1,4,16,64,256 -new 1 2>>"$OUT/stderr.txt" | tee -a "$OUT/decode.jsonl"
  "$S" bench decode -json -backend xla:cpu -set "$set_" -batch 1 -new 16,64,128 2>>"$OUT/stderr.txt" | tee -a "$OUT/decode.jsonl"
done
"$S" bench decode -json -backend go -set "preset=tiny;structure=lowrank" -batch 1,4,16 -new 1 2>>"$OUT/stderr.txt" | tee -a "$OUT/decode.jsonl"
grep -E "^(bench decode|crossover)" "$OUT/stderr.txt" | tee "$OUT/crossover.txt"
python3 - "$OUT" <<'PY' | tee "$OUT/tables.md"
import json, sys, collections
rows = [json.loads(l) for l in open(f"{sys.argv[1]}/decode.jsonl") if l.startswith("{")]
groups = collections.defaultdict(list)
for r in rows:
    groups[(r["preset"], r["structure"], r["backend"])].append(r)
for (preset, structure, backend), rs in groups.items():
    print(f"\n{preset} {structure} {100*rs[0]['fraction']:.1f}% on {backend}: ms per step (tok/s)\n")
    print("| batch × new | in flight | structured | merged | dense | merged / structured |")
    print("|---|---|---|---|---|---|")
    cell = {(r["batch"], r["new_tokens"], r["mode"]): r for r in rs}
    for b, n in sorted({(r["batch"], r["new_tokens"]) for r in rs}, key=lambda k: (k[0] * k[1], k)):
        get = lambda m: cell.get((b, n, m))
        fmt = lambda r: "-" if r is None else f'{r["ms"]:.3g} ({r["tok_per_s"]:.0f})'
        s, m = get("structured"), get("merged")
        ratio = f'{m["ms"] / s["ms"]:.2f}' if s and m else "-"
        print(f"| {b} × {n} | {b*n} | {fmt(s)} | {fmt(m)} | {fmt(get('dense'))} | {ratio} |")
PY
echo "results in $OUT"
