#!/usr/bin/env bash
# Issue 14's measurements (docs/PERFORMANCE.md, "Where a training step's time goes"): training
# throughput of tiny and mini, dense and 32% LowRank, on XLA CPU beside the PyTorch reference (twice
# each, back to back), the pure-Go backend against GoMLX v0.26.0 as shipped on tiny, and the time
# breakdown of tiny's and mini's dense step on both sides (bench breakdown -reference, and torch.profiler's
# table of the reference's step). JSON Lines go
# to OUT (default results/perf-cpu), the tables to OUT/tables.md.
#
#   STRUCTFFN_TORCH_PYTHON=~/venv-torch/bin/python structffn/bench/breakdown.sh [OUT]   # ~40 min on 2 cores
set -euo pipefail
cd "$(dirname "$0")/../.."
OUT="${1:-results/perf-cpu}"
BIN="$(mktemp -d)/structffn"
go build -o "$BIN" ./cmd/structffn
mkdir -p "$OUT"
{ nproc; grep -m1 'model name' /proc/cpuinfo; go version; "${STRUCTFFN_TORCH_PYTHON:-python3}" -c 'import torch; print("torch", torch.__version__)'; date -u; } >"$OUT/machine.txt"

: >"$OUT/train.jsonl"
for round in 1 2; do
  for m in "preset=tiny;structure=dense" "preset=tiny;structure=lowrank" "preset=mini;structure=dense" "preset=mini;structure=lowrank"; do
    "$BIN" bench train -json -backend xla:cpu -set "$m" -min_time 10s -reference 2>/dev/null >>"$OUT/train.jsonl"
  done
done
"$BIN" bench train -json -backend go -stock -set "preset=tiny;structure=dense" -steps 2 -min_time 0s 2>/dev/null >>"$OUT/train.jsonl"
"$BIN" bench train -json -backend go -set "preset=tiny;structure=dense" -steps 3 -min_time 10s 2>/dev/null >>"$OUT/train.jsonl"

for p in tiny mini; do
  "$BIN" bench breakdown -backend xla:cpu -set "preset=$p;structure=dense" -rounds 5 -reference -json 2>/dev/null >"$OUT/breakdown-$p.jsonl"
  # torch.profiler's table of the reference's step (self CPU time by op, 5 steps)
  "${STRUCTFFN_TORCH_PYTHON:-python3}" structffn/bench/pytorch/train_bench.py --preset "$p" --structure dense \
    --steps 5 --min_time 0 --profile 5 2>&1 >/dev/null | grep -v -e "^USDT:" -e "gpuGetDeviceCount" >"$OUT/torch-profile-$p.txt"
done

python3 - "$OUT" <<'PY' | tee "$OUT/tables.md"
import json, sys, statistics as st, collections
out = sys.argv[1]
rows = [json.loads(l) for l in open(out + "/train.jsonl")]
print("| preset | structure | backend | tok/s (each run) | vs PyTorch (each pair) |\n|---|---|---|---|---|")
pairs = collections.defaultdict(list)
for i in range(0, 16, 2):
    ours, ref = rows[i], rows[i + 1]
    pairs[(ours["preset"], ours["structure"])].append((ours, ref))
for (p, s), ps in pairs.items():
    print("| %s | %s | %s | %s | %s |" % (p, s, ps[0][0]["backend"], " ".join("%.0f" % o["tok_per_s"] for o, _ in ps),
          " ".join("%.2fx" % (o["tok_per_s"] / r["tok_per_s"]) for o, r in ps)))
    print("| %s | %s | %s | %s | |" % (p, s, ps[0][1]["backend"], " ".join("%.0f" % r["tok_per_s"] for _, r in ps)))
stock, fixed = rows[16], rows[17]
print("\npure Go, tiny dense: %.0f tok/s as shipped (%s), %.0f with this project's options (%s): %.1fx\n" % (
    stock["tok_per_s"], stock["backend"], fixed["tok_per_s"], fixed["backend"], fixed["tok_per_s"] / stock["tok_per_s"]))
for p in ("tiny", "mini"):
    ours, ref = [json.loads(l) for l in open("%s/breakdown-%s.jsonl" % (out, p))]
    print("%s dense, ms per step (the fastest of %d rounds per variant): %s %.1f, %s %.1f\n" % (
        p, ours["rounds"], ours["model"]["backend"], ours["model"]["ms_per_step"], ref["model"]["backend"], ref["model"]["ms_per_step"]))
    r = {x["kind"]: x for x in ref["rows"]}
    print("| kind of work | ours ms | share | PyTorch ms | share |\n|---|---|---|---|---|")
    for x in ours["rows"]:
        y = r.get(x["kind"])
        print("| %s | %.1f | %.0f%% | %s | %s |" % (x["kind"], x["ms"], 100 * x["share"],
              "-" if y is None else "%.1f" % y["ms"], "-" if y is None else "%.0f%%" % (100 * y["share"])))
    print()
PY
