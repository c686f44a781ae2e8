#!/usr/bin/env bash
# Random SIGKILLs against `structffn train`, the way a user's kill -9 or a machine crash lands: each
# round trains a tiny model (checkpoint every step) from scratch, killing it 0.1-0.9 s after every
# start, until a start finishes by itself; any start that fails by itself prints its output and the
# checkpoint directory. TestSurvivesRandomKills is the short version in `go test`; this is the long
# one (about 700 starts in 6 rounds, ~6 minutes on 2 cores).
#
#   cmd/structffn/killstress.sh [ROUNDS]      # default 6; prints "round N done after K starts"
set -uo pipefail
cd "$(dirname "$0")/../.." || exit 1
ROUNDS="${1:-6}"
W="$(mktemp -d)"
trap 'rm -rf "$W"' EXIT
go build -o "$W/structffn" ./cmd/structffn || exit 1
for _ in $(seq 4000); do printf 'a kill can land in any step and in any save of a checkpoint\n'; done > "$W/corpus.txt"
SET="layers=2;d_model=32;heads=2;head_dim=16;ffn=128;context=32;batch=8;tokenizer=byte;val_fraction=0.1;eval_batches=2;eval_every=0;log_every=1;checkpoint_every=1;train_steps=300;corpus=file:$W/corpus.txt"
failed=0
for round in $(seq "$ROUNDS"); do
	rm -rf "$W/run"
	for attempt in $(seq 400); do
		"$W/structffn" train -backend go -out "$W/run" -set "$SET" -cache "$W/cache" >"$W/out.txt" 2>&1 &
		pid=$!
		sleep "0.$((RANDOM % 9 + 1))"
		if kill -0 "$pid" 2>/dev/null; then
			kill -9 "$pid"
			wait "$pid" 2>/dev/null
			continue
		fi
		if ! wait "$pid"; then
			failed=1
			echo "round $round, start $attempt failed by itself:"
			grep -v '^step\|^ *[0-9]' "$W/out.txt" | tail -5
			ls -la "$W/run/checkpoints" "$W/run/checkpoints/.saving"
		fi
		break
	done
	echo "round $round done after $attempt starts"
done
exit "$failed"
