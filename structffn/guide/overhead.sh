#!/usr/bin/env bash
# SGT's wall-time overhead over whole runs (docs/SGT.md, "Cost"): for each model, a plain structured
# run, then sgt=steps and sgt=flops on the same settings, one after another, each timed from process
# start to exit (setup, compilation and evaluation included). The overhead of an SGT run is
#   (its wall time / the plain run's) / (its training FLOPs / the plain run's),
# FLOPs in the paper's accounting (metrics.jsonl's train_flops: each guide at α × a dense layer);
# the target is <= 1.25. Then `structffn bench train` times each model's guided window alone.
#
#   structffn/guide/overhead.sh [OUT]     # ~25 min on 2 cores with the XLA CPU plugin
# Writes OUT/<model>-<mode>/ (config.json, metrics.jsonl), OUT/overhead.jsonl (one row per run) and
# OUT/bench.jsonl (one bench train record per model and mode), and prints the table.
set -euo pipefail
cd "$(dirname "$0")/../.."
OUT="${1:-results/sgt-overhead}"
BIN="$(mktemp -d)/structffn"
go build -o "$BIN" ./cmd/structffn
mkdir -p "$OUT"
: >"$OUT/overhead.jsonl"
: >"$OUT/bench.jsonl"
models=(
  "4x64:preset=tiny;layers=4;d_model=64;heads=2;ffn=256;structure=lowrank;train_steps=80"
  "mini:preset=mini;structure=lowrank;train_steps=300;eval_every=100"
)
for m in "${models[@]}"; do
  name=${m%%:*} settings=${m#*:}
  for mode in off steps flops; do
    dir="$OUT/$name-$mode"
    rm -rf "$dir"
    t0=$(date +%s.%N)
    "$BIN" train -out "$dir" -set "$settings;sgt=$mode" >"$dir.log" 2>&1
    t1=$(date +%s.%N)
    rm -rf "$dir/checkpoints"
    python3 - "$dir" "$name" "$mode" "$t0" "$t1" >>"$OUT/overhead.jsonl" <<'PY'
import json, sys
d, name, mode, t0, t1 = sys.argv[1:]
last = [json.loads(l) for l in open(d + "/metrics.jsonl")][-1]
print(json.dumps({"model": name, "sgt": mode, "steps": last["step"], "wall_s": round(float(t1) - float(t0), 2),
                  "train_flops": last["train_flops"], "computed_flops": last.get("computed_flops", last["train_flops"]),
                  "val_loss": last.get("val_loss")}))
PY
    mv "$dir.log" "$dir/train.log"
  done
  for mode in steps flops; do
    "$BIN" bench train -json -set "$settings;sgt=$mode" >>"$OUT/bench.jsonl"
  done
done
python3 - "$OUT" <<'PY'
import json, sys
out = sys.argv[1]
rows = [json.loads(l) for l in open(out + "/overhead.jsonl")]
plain = {r["model"]: r for r in rows if r["sgt"] == "off"}
print("| model | sgt | steps | wall | FLOPs vs plain (computed) | wall vs plain | overhead | val loss |")
print("|---|---|---|---|---|---|---|---|")
for r in rows:
    p = plain[r["model"]]
    fr, cr, wr = r["train_flops"] / p["train_flops"], r["computed_flops"] / p["train_flops"], r["wall_s"] / p["wall_s"]
    print("| %s | %s | %d | %.1f s | %.3fx (%.3fx) | %.3fx | %s | %.4f |" % (r["model"], r["sgt"], r["steps"], r["wall_s"], fr, cr, wr,
          "-" if r["sgt"] == "off" else "%.3f" % (wr / fr), r["val_loss"]))
print()
print("| model | sgt | window | guided-graph steps | with SGT | plain | compiles (SGT, plain) | FLOPs (computed) | overhead |")
print("|---|---|---|---|---|---|---|---|---|")
names = [r["model"] for r in rows if r["sgt"] == "off"]
for i, l in enumerate(open(out + "/bench.jsonl")):
    b = json.loads(l); s = b["sgt"]
    print("| %s | %s | %d of %d | %d | %.2f s | %.2f s | %d, %d | %.3fx (%.3fx) | %.3f |" % (names[i // 2], s["mode"], s["window_steps"], s["run_steps"],
          s["guided_graph_steps"], s["sgt_wall_s"], s["plain_wall_s"], s["sgt_compiles"], s["plain_compiles"], s["flop_ratio"],
          s["computed_flop_ratio"], s["overhead"]))
PY
