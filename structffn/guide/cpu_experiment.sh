#!/usr/bin/env bash
# The CPU-scale self-guided training experiment of docs/SGT.md: dense vs 32% LowRank with and without
# SGT at matched training FLOPs, 3 seeds each, on the tiny preset (gosrc, bpe:512). Dense trains N=500
# steps; LowRank without SGT gets the same FLOPs as 604 steps (C_dense/C_lowrank = 1.2075); LowRank
# with SGT uses the fixed-FLOPs mode (sgt=flops: N(1+p) steps, the guided steps' data replayed).
#
#   structffn/guide/cpu_experiment.sh [OUT]      # ~12 min on 2 cores with the XLA CPU plugin
# Each run's directory (config.json, metrics.jsonl, train.log; checkpoints are not committed) goes to
# OUT (default results/sgt-cpu). A finished run (one with its train.log) is skipped and an interrupted
# one resumes from its checkpoint, so the script can be rerun after any interruption.
set -euo pipefail
cd "$(dirname "$0")/../.."
OUT="${1:-results/sgt-cpu}"
BIN="$(mktemp -d)/structffn"
go build -o "$BIN" ./cmd/structffn
mkdir -p "$OUT"
for seed in 0 1 2; do
  for v in "dense:structure=dense;train_steps=500" "lowrank:structure=lowrank;train_steps=604" \
           "lowrank-sgt:structure=lowrank;train_steps=500;sgt=flops"; do
    name=${v%%:*}
    [ -f "$OUT/$name-s$seed/train.log" ] && continue # finished (the log is moved in after the last step)
    "$BIN" train -out "$OUT/$name-s$seed" -set "${v#*:};seed=$seed;eval_every=50;log_every=25" >"$OUT/$name-s$seed.log"
    mv "$OUT/$name-s$seed.log" "$OUT/$name-s$seed/train.log"
  done
done
"$BIN" runs "$OUT"/*-s[012]
"$BIN" runs -json "$OUT"/*-s[012] | python3 -c '
import json, sys, statistics as st, collections
g = collections.defaultdict(list)
for line in sys.stdin:
    r = json.loads(line)
    g[r["dir"].rsplit("/", 1)[1].rsplit("-s", 1)[0]].append(r)
print("\n| model | steps | train FLOPs | val loss (mean ± sd, 3 seeds) | per seed |\n|---|---|---|---|---|")
for k, rs in g.items():
    v = [r["val_loss"] for r in rs]
    print("| %s | %d | %.4g | %.4f ± %.4f | %s |" % (k, rs[0]["steps"], rs[0]["train_flops"], st.mean(v), st.stdev(v),
          " ".join("%.4f" % x for x in v)))
'
