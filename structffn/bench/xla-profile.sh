#!/usr/bin/env bash
# XLA's side of docs/PERFORMANCE.md, "Where a training step's time goes": what XLA CPU compiles for
# the training step of tiny and mini (dense), counted from its own HLO dump after optimisation
# (fusions, dots, copies and transposes, the largest of them), and where a step's CPU time goes by
# shared object (perf; JIT-compiled XLA kernels have no object and show as "[JIT]"/"[unknown]").
# Writes OUT/xla-dump.txt and OUT/perf-dso.txt (default results/perf-cpu). ~3 minutes on 2 cores.
#
#   structffn/bench/xla-profile.sh [OUT]      # perf: apt-get install linux-perf (optional)
set -euo pipefail
cd "$(dirname "$0")/../.."
OUT="${1:-results/perf-cpu}"
TMP="$(mktemp -d)"
BIN="$TMP/structffn"
go build -o "$BIN" ./cmd/structffn
mkdir -p "$OUT"

{
  for p in tiny mini; do
    XLA_FLAGS="--xla_dump_to=$TMP/dump-$p --xla_dump_hlo_as_text" \
      "$BIN" bench train -backend xla:cpu -set "preset=$p;structure=dense" -steps 2 -min_time 0s >/dev/null 2>&1
    f="$(ls "$TMP/dump-$p"/*train_0.cpu_after_optimizations.txt)"
    echo "== $p dense, train graph after XLA's optimisation ($(basename "$f"))"
    echo "fusions: $(grep -cE ' fusion\(' "$f")  dots: $(grep -cE ' dot\(' "$f")  copies and transposes: $(grep -cE ' (transpose|copy)\(' "$f")"
    echo "temporaries allocated per execution: $(grep -m1 -o 'size [0-9.]*[KMG]iB, preallocated-temp' "${f%.txt}-memory-usage-report.txt" | cut -d, -f1)"
    echo "-- dots by result shape and dimensions (count):"
    grep -E ' dot\(' "$f" | sed -E 's/, metadata=.*//; s/.*= (\S+) dot\([^)]*\), (.*)/\1 \2/' | sort | uniq -c | sort -rn
    echo "-- copies and transposes by result shape (count):"
    grep -E ' (transpose|copy)\(' "$f" | sed -E 's/, metadata=.*//; s/^\s*(ROOT )?\S+ = //; s/%[A-Za-z_.0-9]+/x/g' | sort | uniq -c | sort -rn
    echo
  done
} >"$OUT/xla-dump.txt"
echo "wrote $OUT/xla-dump.txt"

if command -v perf >/dev/null; then
  {
    for p in tiny mini; do
      echo "== $p dense on xla:cpu: CPU time by shared object (perf record -F 499, bench train -min_time 10s)"
      perf record -q -F 499 -o "$TMP/perf-$p.data" -- \
        "$BIN" bench train -backend xla:cpu -set "preset=$p;structure=dense" -min_time 10s >/dev/null 2>&1
      perf report -q -i "$TMP/perf-$p.data" --sort dso --stdio 2>/dev/null | sed -n 1,12p
      echo "-- top symbols"
      perf report -q -i "$TMP/perf-$p.data" --sort dso,sym --stdio 2>/dev/null | sed -n 1,15p | cut -c1-140
      echo
    done
  } >"$OUT/perf-dso.txt"
  echo "wrote $OUT/perf-dso.txt"
else
  echo "perf not found: $OUT/perf-dso.txt not written (apt-get install linux-perf)"
fi
rm -rf "$TMP"
