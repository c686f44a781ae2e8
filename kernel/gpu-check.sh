#!/usr/bin/env bash
# One-command check of structffn on an NVIDIA GPU (the xla:cuda backend), about 10 minutes on one GPU:
#
#   kernel/gpu-check.sh OUTDIR
#
#  1. finds the GPU (nvidia-smi -L) and a CUDA PJRT plugin, and makes go-xla find it as plugin "cuda";
#  2. gets the CLI: $STRUCTFFN_BIN if set, else builds ./cmd/structffn with cgo, else (no Go toolchain,
#     or the build failed) a prebuilt ./structffn-bin (CGO_ENABLED=1 go build -o structffn-bin ./cmd/structffn);
#  3. the steps, in groups (GPU_CHECK_STEPS, comma-separated, default all, always in this order):
#     check      structffn check -backend xla:cuda: the same seeded tiny model on the pure-Go backend and
#                on the GPU, logits and loss compared (check.json);
#     train      bench train on the paper's s preset, dense and 32% LowRank, at GPU_CHECK_BATCH sequences
#                of 1024 tokens per step in GPU_CHECK_DTYPE (train.jsonl);
#     reference  the PyTorch reference of the same two steps on the same GPU (reference.jsonl; CUDA
#                profile of the dense one in log.txt), when a Python with a CUDA torch is found;
#     decode     bench decode on s, 32% LowRank vs merged vs dense, 1/16/256 sequences (decode.jsonl);
#     sgt        bench train of s LowRank with sgt=steps: the guided window against the plain steps (train.jsonl);
#     breakdown  bench breakdown of the s dense step by kind of work (breakdown.jsonl);
#     ffn        bench ffn, widths GPU_CHECK_FFN_WIDTHS x GPU_CHECK_FFN_TOKENS tokens, dense and each
#                structure at 32%, same dtype (ffn.jsonl);
#     checks     check of the other structures, and LowRank with TF32 turned off (NVIDIA_TF32_OVERRIDE=0,
#                no Triton GEMMs) at a 1e-4 tolerance (checks.jsonl);
#  4. summary.txt: GPU, driver, plugin, versions, settings, each step's status and time, the numbers.
#
# Every step runs under `timeout`, inside one budget for the whole script (GPU_CHECK_BUDGET_S, default
# 540 s); benchmarks write JSON Lines as cases finish, so a step cut short keeps what it measured. On an
# H200 (2026-12-04) one s-preset training graph compiles in about 20 s and one FFN case in about 2 s
# (structffn's default XLA flags on xla:cuda, docs/PERFORMANCE.md), so the default budget covers every
# group but part of ffn; GPU_CHECK_STEPS and the FFN grid choose what a shorter lease measures. Exit
# status: 0 when every step ran and every check said OK; 1 when a step failed, timed out, was skipped or
# said NOT OK (summary.txt says which); 2, with a one-line message, when there is no GPU, no CUDA PJRT
# plugin or no structffn binary.
#
# The plugin, first found wins:
#   $STRUCTFFN_CUDA_PLUGIN       a CUDA PJRT plugin .so, any name
#   go-xla's own directories     pjrt_c_api_cuda_plugin.so in each directory of $PJRT_PLUGIN_LIBRARY_PATH,
#                                else ~/.local/lib/go-xla{,/nvidia} and /usr/local/lib/go-xla{,/nvidia}
#                                (where go-xla's installer puts it; docker/Dockerfile.gpu does the same)
#   a Python's JAX plugin        jax_plugins/xla_cuda13/xla_cuda_plugin.so of jax-cuda13-pjrt (then
#                                xla_cuda12 of jax-cuda12-pjrt), by importlib.util.find_spec, else by
#                                `pip show -f`; Pythons tried: $STRUCTFFN_PYTHON, python3
# A plugin outside go-xla's directories is linked into a scratch directory under the name go-xla looks
# for (pjrt_c_api_<name>_plugin.so), beside a link to the nvidia/ folder of its Python package so that
# the plugin's RPATH ($ORIGIN/../nvidia/..., $ORIGIN/../../nvidia/...) still finds CUDA's libraries, and
# that directory is put first in PJRT_PLUGIN_LIBRARY_PATH (before go-xla's defaults, which it replaces).
#
# Env: GPU_CHECK_BUDGET_S (540); GPU_CHECK_STEPS (all groups); GPU_CHECK_FFN_WIDTHS (5120,8192,4096,2048);
# GPU_CHECK_FFN_TOKENS (32768,1024); GPU_CHECK_BATCH (32: the paper's 512 x 1024 tokens per step of s is far
# beyond a check's minutes); GPU_CHECK_DTYPE (bfloat16, the paper's bf16 compute with float32 master
# weights; float32 for TF32); PEAK_TFLOPS (MFU's denominator; by default the GPU's dense tensor-core peak
# in that dtype where the name is known, else 0 = no MFU); STRUCTFFN_BIN, STRUCTFFN_CUDA_PLUGIN,
# STRUCTFFN_PYTHON.
set -uo pipefail

die() { # one line on stderr (and in OUTDIR/summary.txt once OUTDIR exists), exit status 2
	echo "gpu-check: $*" >&2
	[ -n "${SUMMARY:-}" ] && echo "gpu-check: $*" >"$SUMMARY"
	exit 2
}
[ $# -eq 1 ] && [ -n "$1" ] || die "usage: kernel/gpu-check.sh OUTDIR"
mkdir -p "$1" || die "cannot create $1"
OUT="$(cd "$1" && pwd)"
REPO="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$REPO" || die "cannot cd to $REPO"

BUDGET="${GPU_CHECK_BUDGET_S:-540}"
BATCH="${GPU_CHECK_BATCH:-32}"
FFN_WIDTHS="${GPU_CHECK_FFN_WIDTHS:-5120,8192,4096,2048}"
FFN_TOKENS="${GPU_CHECK_FFN_TOKENS:-32768,1024}"
DTYPE="${GPU_CHECK_DTYPE:-bfloat16}"
case "$DTYPE" in
bfloat16 | float32) ;;
*)
	echo "gpu-check: GPU_CHECK_DTYPE=$DTYPE: allowed values are bfloat16, float32" >&2
	exit 2
	;;
esac
T0=$SECONDS
LOG="$OUT/log.txt"
SUMMARY="$OUT/summary.txt"
rm -f "$OUT/check.json" "$OUT/checks.jsonl" "$OUT/train.jsonl" "$OUT/ffn.jsonl" "$OUT/decode.jsonl" "$OUT/reference.jsonl" \
	"$OUT/breakdown.jsonl" "$SUMMARY"
: >"$LOG"
TMPD="$(mktemp -d)"
trap 'rm -rf "$TMPD"' EXIT
log() { echo "gpu-check: $*" | tee -a "$LOG" >&2; }

# --- 1. the GPU --------------------------------------------------------------------------------------
command -v nvidia-smi >/dev/null 2>&1 || die "no GPU: nvidia-smi is not on PATH"
GPUS="$(nvidia-smi -L 2>&1)" || die "no GPU: nvidia-smi -L failed: $(head -n 1 <<<"$GPUS")"
grep -q '^GPU [0-9]' <<<"$GPUS" || die "no GPU: nvidia-smi -L lists none ($(head -n 1 <<<"$GPUS"))"
GPU_INFO="$(nvidia-smi --query-gpu=name,driver_version,memory.total --format=csv,noheader 2>/dev/null)"
GPU_NAME="$(sed -n '1s/^GPU [0-9]*: \(.*\) (UUID.*/\1/p' <<<"$GPUS")"

# --- 1b. the CUDA PJRT plugin ------------------------------------------------------------------------
plugin_in_goxla_dirs() { # prints the first pjrt_c_api_cuda_plugin.so where go-xla searches
	local dirs=() d
	if [ -n "${PJRT_PLUGIN_LIBRARY_PATH:-}" ]; then
		IFS=: read -r -a dirs <<<"$PJRT_PLUGIN_LIBRARY_PATH"
	elif [ -n "${HOME:-}" ]; then
		dirs=("$HOME/.local/lib/go-xla" "$HOME/.local/lib/go-xla/nvidia" /usr/local/lib/go-xla /usr/local/lib/go-xla/nvidia)
	else
		dirs=(/usr/local/lib/go-xla /usr/local/lib/go-xla/nvidia)
	fi
	for d in "${dirs[@]}"; do
		if [ -n "$d" ] && [ -f "$d/pjrt_c_api_cuda_plugin.so" ]; then
			echo "$d/pjrt_c_api_cuda_plugin.so"
			return 0
		fi
	done
	return 1
}

plugin_in_python() { # prints "PYTHON<TAB>PLUGIN.so" for the first Python with JAX's CUDA plugin
	local pys=() py so pkg
	[ -n "${STRUCTFFN_PYTHON:-}" ] && pys+=("$STRUCTFFN_PYTHON")
	pys+=(python3)
	for py in "${pys[@]}"; do
		command -v "$py" >/dev/null 2>&1 || continue
		so="$("$py" - 2>/dev/null <<'EOF'
import importlib.util, os, sys
for name in ("jax_plugins.xla_cuda13", "jax_plugins.xla_cuda12"):
    try:
        spec = importlib.util.find_spec(name)
    except Exception:
        spec = None
    for d in (spec.submodule_search_locations or []) if spec else []:
        so = os.path.join(d, "xla_cuda_plugin.so")
        if os.path.isfile(so):
            print(os.path.realpath(so))
            sys.exit(0)
sys.exit(1)
EOF
)"
		if [ -n "$so" ] && [ -f "$so" ]; then
			printf '%s\t%s\n' "$(command -v "$py")" "$so"
			return 0
		fi
		for pkg in jax-cuda13-pjrt jax-cuda12-pjrt; do
			so="$("$py" -m pip show -f "$pkg" 2>/dev/null |
				awk '/^Location:/ { loc = $2 } /xla_cuda_plugin\.so$/ { f = $1 } END { if (loc != "" && f != "") print loc "/" f }')"
			if [ -n "$so" ] && [ -f "$so" ]; then
				printf '%s\t%s\n' "$(command -v "$py")" "$so"
				return 0
			fi
		done
	done
	return 1
}

PLUGIN_SRC="" PLUGIN_PY="" PLUGIN_HOW=""
if [ -n "${STRUCTFFN_CUDA_PLUGIN:-}" ]; then
	[ -f "$STRUCTFFN_CUDA_PLUGIN" ] || die "no CUDA PJRT plugin: STRUCTFFN_CUDA_PLUGIN=$STRUCTFFN_CUDA_PLUGIN is not a file"
	PLUGIN_SRC="$(realpath "$STRUCTFFN_CUDA_PLUGIN")"
	PLUGIN_HOW="\$STRUCTFFN_CUDA_PLUGIN"
elif found="$(plugin_in_goxla_dirs)"; then
	PLUGIN="$found"
	PLUGIN_HOW="go-xla's search path"
elif found="$(plugin_in_python)"; then
	PLUGIN_PY="${found%%$'\t'*}"
	PLUGIN_SRC="${found#*$'\t'}"
	PLUGIN_HOW="Python package of $PLUGIN_PY"
else
	die "no CUDA PJRT plugin: no pjrt_c_api_cuda_plugin.so in ${PJRT_PLUGIN_LIBRARY_PATH:-~/.local/lib/go-xla, /usr/local/lib/go-xla (and nvidia/)}, no jax-cuda13-pjrt or jax-cuda12-pjrt in ${STRUCTFFN_PYTHON:+$STRUCTFFN_PYTHON or }python3; set STRUCTFFN_CUDA_PLUGIN=/path/to/xla_cuda_plugin.so"
fi

# The nvidia/ folder the plugin's RPATH points at ($ORIGIN/../../nvidia, then $ORIGIN/../nvidia).
real="$(realpath "${PLUGIN_SRC:-$PLUGIN}")"
NV=""
for c in "$(dirname "$real")/../../nvidia" "$(dirname "$real")/../nvidia"; do
	if [ -d "$c" ]; then
		NV="$(cd "$c" && pwd)"
		break
	fi
done
if [ -n "$PLUGIN_SRC" ]; then
	mkdir -p "$TMPD/pjrt/lib"
	ln -s "$PLUGIN_SRC" "$TMPD/pjrt/lib/pjrt_c_api_cuda_plugin.so"
	# $ORIGIN of a library opened through a link is the link's folder: give it the same neighbours.
	[ -n "$NV" ] && ln -s "$NV" "$TMPD/pjrt/nvidia" && ln -s "$NV" "$TMPD/nvidia"
	PLUGIN="$TMPD/pjrt/lib/pjrt_c_api_cuda_plugin.so"
	# Setting it replaces go-xla's default directories: keep them after ours (the XLA CPU plugin).
	defaults="${HOME:+$HOME/.local/lib/go-xla:$HOME/.local/lib/go-xla/nvidia:}/usr/local/lib/go-xla:/usr/local/lib/go-xla/nvidia"
	export PJRT_PLUGIN_LIBRARY_PATH="$TMPD/pjrt/lib:${PJRT_PLUGIN_LIBRARY_PATH:-$defaults}"
fi
# Run-time set-up: no downloads; go-xla v0.1.4's CUDA "checks" off (finding nvidia/ beside the plugin,
# they set --xla_gpu_cuda_data_dir to a fixed path of go-xla's author's machine); XLA's CUDA data
# directory (bin/ptxas, nvvm/libdevice) when one is found; and the NVIDIA libraries on the loader's path,
# as JAX preloads them from Python (cuDNN opens cuBLAS by soname).
export GOMLX_NO_AUTO_INSTALL=1 GOPJRT_CUDA_CHECKS=0
DATA_DIR=""
case "${XLA_FLAGS:-}" in
*xla_gpu_cuda_data_dir*) ;;
*)
	for c in ${NV:+"$NV/cu13" "$NV/cuda_nvcc"} /usr/local/cuda; do
		if [ -d "$c/nvvm/libdevice" ] || [ -x "$c/bin/ptxas" ]; then
			DATA_DIR="$c"
			break
		fi
	done
	[ -n "$DATA_DIR" ] && export XLA_FLAGS="${XLA_FLAGS:+$XLA_FLAGS }--xla_gpu_cuda_data_dir=$DATA_DIR"
	;;
esac
LIBDIRS=""
if [ -n "$NV" ]; then
	for d in "$NV"/*/lib; do
		[ -d "$d" ] && LIBDIRS="${LIBDIRS:+$LIBDIRS:}$d"
	done
	[ -n "$LIBDIRS" ] && export LD_LIBRARY_PATH="$LIBDIRS${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}"
fi
PLUGIN_VERSION=""
if [ -n "$PLUGIN_PY" ]; then
	PLUGIN_VERSION="$("$PLUGIN_PY" -c 'import importlib.metadata as m
for p in ("jax-cuda13-pjrt", "jax-cuda12-pjrt"):
    try:
        print(p, m.version(p)); break
    except Exception:
        pass' 2>/dev/null)"
elif [ -f "$(dirname "$real")/pjrt_c_api_cuda_plugin.source" ]; then
	PLUGIN_VERSION="$(tr '\n' ';' <"$(dirname "$real")/pjrt_c_api_cuda_plugin.source")"
fi
log "GPU: $(head -n 1 <<<"$GPUS")"
log "plugin ($PLUGIN_HOW): $PLUGIN -> $real ${PLUGIN_VERSION:+($PLUGIN_VERSION)}"

# --- 2. the CLI --------------------------------------------------------------------------------------
S="" BIN_HOW=""
if [ -n "${STRUCTFFN_BIN:-}" ]; then
	[ -x "$STRUCTFFN_BIN" ] || die "no structffn binary: STRUCTFFN_BIN=$STRUCTFFN_BIN is not executable"
	S="$(realpath "$STRUCTFFN_BIN")"
	BIN_HOW="\$STRUCTFFN_BIN"
elif command -v go >/dev/null 2>&1; then
	log "building ./cmd/structffn with cgo ($(go version))"
	if CGO_ENABLED=1 timeout 240 go build -o "$TMPD/structffn" ./cmd/structffn >>"$LOG" 2>&1; then
		S="$TMPD/structffn"
		BIN_HOW="built here with cgo, $(go version)"
	else
		log "go build failed (log.txt)"
	fi
fi
if [ -z "$S" ] && [ -x "$REPO/structffn-bin" ]; then
	S="$REPO/structffn-bin"
	BIN_HOW="prebuilt ./structffn-bin (no Go toolchain here, or its build failed)"
fi
[ -n "$S" ] || die "no structffn binary: no Go toolchain here (or its build failed, see $LOG); build one with cgo (CGO_ENABLED=1 go build -o structffn-bin ./cmd/structffn) and pass STRUCTFFN_BIN"
log "binary: $S ($BIN_HOW)"

# --- MFU's denominator ---------------------------------------------------------------------------------
# Dense tensor-core peaks (NVIDIA's data sheets quote twice these, "with sparsity").
PEAK_KIND="dense $DTYPE tensor-core peak"
if [ -z "${PEAK_TFLOPS:-}" ]; then
	case "$DTYPE:$GPU_NAME" in
	bfloat16:*H200* | bfloat16:*"H100 80GB HBM3"* | bfloat16:*H100*SXM*) PEAK_TFLOPS=989.4 ;;
	bfloat16:*H100*PCIe*) PEAK_TFLOPS=756 ;;
	bfloat16:*A100*) PEAK_TFLOPS=312 ;;
	float32:*H200* | float32:*"H100 80GB HBM3"* | float32:*H100*SXM*) PEAK_TFLOPS=494.7 ;; # TF32
	float32:*H100*PCIe*) PEAK_TFLOPS=378 ;;
	float32:*A100*) PEAK_TFLOPS=156 ;;
	*) PEAK_TFLOPS=0 ;;
	esac
else
	PEAK_KIND="PEAK_TFLOPS as given"
fi

# --- 3-4. the steps ------------------------------------------------------------------------------------
STEPS=()
FAILED=0
# GPU_CHECK_STEPS picks groups of steps (the header's list).
GROUPS_ON=",${GPU_CHECK_STEPS:-check,train,reference,decode,sgt,breakdown,ffn,checks},"
on() { [[ "$GROUPS_ON" == *",$1,"* ]]; }
# step NAME CAP OUTFILE CMD...: CMD's stdout appended to OUTFILE, its stderr to log.txt, under timeout
# min(CAP, what is left of the budget); skipped when under 20 s are left.
step() {
	local name=$1 cap=$2 out=$3
	shift 3
	local left=$((BUDGET - (SECONDS - T0) - 15)) t rc s status
	t=$((cap < left ? cap : left))
	if [ "$t" -lt 20 ]; then
		STEPS+=("$name|skipped: out of budget|0")
		FAILED=1
		log "$name: skipped, out of budget"
		return 0
	fi
	log "$name (timeout ${t}s): $*"
	echo "== $name: $*" >>"$LOG"
	s=$SECONDS
	timeout -k 5 "$t" "$@" >>"$out" 2>>"$LOG"
	rc=$?
	case $rc in
	0) status=ok ;;
	124 | 137) status="timed out after ${t}s" ;;
	*) status="failed (exit $rc)" ;;
	esac
	[ "$rc" = 0 ] || FAILED=1
	STEPS+=("$name|$status|$((SECONDS - s))")
	log "$name: $status in $((SECONDS - s))s"
}

CUDA=(-backend xla:cuda)
HELP="$("$S" help 2>&1)"
HAS_CHECK=0
if grep -q '^ *check ' <<<"$HELP"; then
	HAS_CHECK=1
	on check && step "check tiny lowrank (default tolerance)" 90 "$OUT/check.json" "$S" check "${CUDA[@]}" -json
else
	STEPS+=("check|skipped: this structffn has no check command|0")
	FAILED=1
	log "this structffn has no check command: skipping the logits check"
fi
S_DENSE="preset=s;structure=dense;batch=$BATCH;dtype=$DTYPE"
S_LOWRANK="preset=s;structure=lowrank;fraction=0.3125;batch=$BATCH;dtype=$DTYPE"
TRAIN=("${CUDA[@]}" -warmup 2 -steps 10 -min_time 5s -peak_tflops "$PEAK_TFLOPS" -json)
on train && step "bench train s dense, batch $BATCH, $DTYPE" 150 "$OUT/train.jsonl" "$S" bench train -set "$S_DENSE" "${TRAIN[@]}"
on train && step "bench train s lowrank 32%, batch $BATCH, $DTYPE" 150 "$OUT/train.jsonl" "$S" bench train -set "$S_LOWRANK" "${TRAIN[@]}"

# The PyTorch reference of the same model and step (structffn/bench/pytorch/train_bench.py) on the same
# GPU, in the same dtype (torch.autocast), eager, with F.scaled_dot_product_attention's fused kernels,
# when the Python beside the plugin (or python3) has a torch that sees the GPU. Its CUDA-kernel profile
# of 3 dense steps goes to log.txt.
TORCH_PY=""
for py in ${STRUCTFFN_TORCH_PYTHON:-} ${PLUGIN_PY:-} python3; do
	if command -v "$py" >/dev/null 2>&1 && "$py" -c 'import sys, torch; sys.exit(0 if torch.cuda.is_available() else 1)' >/dev/null 2>&1; then
		TORCH_PY="$(command -v "$py")"
		break
	fi
done
REF=(structffn/bench/pytorch/train_bench.py --device cuda --dtype "$DTYPE" --preset s --batch "$BATCH"
	--warmup 2 --steps 10 --min_time 5 --peak_tflops "$PEAK_TFLOPS")
if ! on reference; then
	:
elif [ -n "$TORCH_PY" ]; then
	log "PyTorch reference with $TORCH_PY (torch $("$TORCH_PY" -c 'import torch; print(torch.__version__)' 2>/dev/null))"
	step "reference s dense (PyTorch), batch $BATCH, $DTYPE" 90 "$OUT/reference.jsonl" \
		env PYTHONUNBUFFERED=1 "$TORCH_PY" "${REF[@]}" --structure dense --profile 3
	step "reference s lowrank 32% (PyTorch), batch $BATCH, $DTYPE" 90 "$OUT/reference.jsonl" \
		env PYTHONUNBUFFERED=1 "$TORCH_PY" "${REF[@]}" --structure lowrank --fraction 0.3125
else
	log "no Python with a CUDA torch (STRUCTFFN_TORCH_PYTHON, the plugin's, python3): no PyTorch reference"
fi

on decode && step "bench decode s lowrank 32%" 90 "$OUT/decode.jsonl" \
	"$S" bench decode "${CUDA[@]}" -set "preset=s;structure=lowrank;fraction=0.3125" -batch 1,16,256 \
	-min_time 100ms -min_reps 5 -json
# Self-guided training's guided window (train_steps=40: 20 steps) against the plain model's same steps.
on sgt && step "bench train s lowrank 32% sgt=steps, batch $BATCH, $DTYPE" 120 "$OUT/train.jsonl" \
	"$S" bench train -set "$S_LOWRANK;sgt=steps;train_steps=40" "${CUDA[@]}" -peak_tflops "$PEAK_TFLOPS" -json
# Where the dense step's time goes, by kind of work (model.Ablation variants; docs/PERFORMANCE.md); the
# reference's CUDA-kernel profile above splits its step.
on breakdown && step "bench breakdown s dense, batch $BATCH, $DTYPE" 150 "$OUT/breakdown.jsonl" \
	"$S" bench breakdown "${CUDA[@]}" -set "$S_DENSE" -rounds 1 -steps 3 -min_time 1s -peak_tflops "$PEAK_TFLOPS" -json
on ffn && step "bench ffn $DTYPE" 150 "$OUT/ffn.jsonl" \
	"$S" bench ffn "${CUDA[@]}" -dtype "$DTYPE" -structures dense,lowrank,blockdense,blockshuffle -widths "$FFN_WIDTHS" -tokens "$FFN_TOKENS" -fractions 0.3125 \
	-min_time 100ms -min_reps 3 -json
if [ "$HAS_CHECK" = 1 ] && on checks; then
	for st in dense blockdense blockshuffle monarch btt; do
		step "check tiny $st" 30 "$OUT/checks.jsonl" "$S" check "${CUDA[@]}" -set "preset=tiny;structure=$st" -json
	done
	step "check tiny lowrank, TF32 off, tolerance 1e-4" 30 "$OUT/checks.jsonl" \
		env NVIDIA_TF32_OVERRIDE=0 XLA_FLAGS="${XLA_FLAGS:+$XLA_FLAGS }--xla_gpu_enable_triton_gemm=false" \
		"$S" check "${CUDA[@]}" -tolerance 1e-4 -json
fi

# --- 5. summary.txt ------------------------------------------------------------------------------------
{
	echo "structffn GPU check, $(date -u '+%Y-%m-%d %H:%M:%S UTC'), $((SECONDS - T0)) s of a ${BUDGET} s budget"
	if command -v git >/dev/null 2>&1 && git -C "$REPO" rev-parse HEAD >/dev/null 2>&1; then
		echo "repo: $(git -C "$REPO" rev-parse HEAD)$(git -C "$REPO" diff --quiet HEAD -- 2>/dev/null || echo ' (with uncommitted changes)')"
	fi
	echo "binary: $S ($BIN_HOW)"
	# The build information Go writes into every binary (go version -m without needing Go here).
	echo "  built with: $(LC_ALL=C grep -aoE 'go1\.[0-9]+(\.[0-9]+)?' "$S" 2>/dev/null | head -n 1)" \
		"$(LC_ALL=C grep -aoE 'build	CGO_ENABLED=[01]' "$S" 2>/dev/null | head -n 1 | cut -f2)" \
		"$(LC_ALL=C grep -aoE 'dep	github.com/gomlx/[a-z-]+	v[^	]+' "$S" 2>/dev/null | sort -u | cut -f2,3 | tr '\t\n' '@ ')"
	echo "nvidia-smi -L:"
	while IFS= read -r line; do echo "  $line"; done <<<"$GPUS"
	echo "name, driver, memory: $GPU_INFO"
	echo "host: $(uname -srm)"
	echo "plugin: $PLUGIN -> $real (found in $PLUGIN_HOW)${PLUGIN_VERSION:+; $PLUGIN_VERSION}"
	echo "PJRT_PLUGIN_LIBRARY_PATH=${PJRT_PLUGIN_LIBRARY_PATH:-(unset: the default directories of go-xla)}"
	echo "XLA_FLAGS=${XLA_FLAGS:-}"
	echo "LD_LIBRARY_PATH prepended: ${LIBDIRS:-none}"
	echo "GOMLX_NO_AUTO_INSTALL=1 GOPJRT_CUDA_CHECKS=0"
	echo "settings: s preset at batch=$BATCH sequences x 1024 tokens = $((BATCH * 1024)) tokens per training step,"
	echo "  $DTYPE compute (the paper's batch is 512 x 1024; GPU_CHECK_BATCH, GPU_CHECK_DTYPE change them);"
	echo "  MFU against $PEAK_TFLOPS TFLOP/s ($PEAK_KIND; 0 = unknown GPU, no MFU)"
	echo "steps:"
	for s in "${STEPS[@]}"; do
		IFS='|' read -r n st secs <<<"$s"
		printf '  %-48s %-28s %4ss\n' "$n" "$st" "$secs"
	done
	if command -v python3 >/dev/null 2>&1; then
		python3 - "$OUT" <<'EOF'
import json, os, sys

out = sys.argv[1]

def rows(name):
    path = os.path.join(out, name)
    res = []
    if os.path.exists(path):
        for line in open(path):
            line = line.strip()
            if line.startswith("{"):
                try:
                    res.append(json.loads(line))
                except ValueError:
                    pass
    return res

checks = rows("check.json") + rows("checks.jsonl")
if checks:
    print("checks (xla:cuda vs the pure-Go backend, tiny preset):")
    for c in checks:
        print("  %-12s %-6s max|dlogit| %.3g  |dloss| %.3g  tolerance %g%s" % (
            c["structure"], "OK" if c["ok"] else "NOT OK", c["max_logit_diff"], c["loss_diff"], c["tolerance"],
            "  (TF32 off)" if c["tolerance"] < 1e-3 else ""))
def train_line(t):
    return "  %-8s frac %.4g  %-8s batch %d x %d  %.0f tok/s  %.1f ms/step  MFU %.1f%%  loss %.3f  %d steps  %d params  [%s]" % (
        t["structure"], t["fraction"], t.get("dtype", "float32"), t["batch"], t["ctx"], t["tok_per_s"],
        t["ms_per_step"], 100 * t["mfu"], t["loss"], t["steps"], t["params"], t["backend"])

train = [t for t in rows("train.jsonl") if not t.get("sgt")]
ref = {t["structure"]: t for t in rows("reference.jsonl")}
if train:
    print("bench train (s preset):")
    for t in train:
        print(train_line(t))
    by = {t["structure"]: t for t in train}
    if "dense" in by and "lowrank" in by and by["dense"]["tok_per_s"] > 0:
        print("  lowrank 32%% / dense: %.2fx tokens/s" % (by["lowrank"]["tok_per_s"] / by["dense"]["tok_per_s"]))
if ref:
    print("PyTorch reference (same model, step and dtype, eager, fused attention):")
    for t in ref.values():
        print(train_line(t))
    for k, t in by.items() if train else []:
        if k in ref and ref[k]["tok_per_s"] > 0:
            print("  ours / PyTorch, %s: %.2fx tokens/s" % (k, t["tok_per_s"] / ref[k]["tok_per_s"]))
for t in rows("train.jsonl"):
    g = t.get("sgt")
    if g:
        print("SGT (%s, %d guided matrices): window of %d steps %.1f s against plain %.1f s; FLOP ratio %.3f, overhead %.2f" % (
            g["mode"], g["matrices"], g["window_steps"], g["sgt_wall_s"], g["plain_wall_s"], g["flop_ratio"], g["overhead"]))
for b in rows("breakdown.jsonl"):
    m = b["model"]
    print("breakdown of a %s step (%s, %.1f ms):" % (m["structure"], m["backend"], m["ms_per_step"]))
    for r in b["rows"]:
        print("  %-55s %8.2f ms  %5.1f%%" % (r["kind"], r["ms"], 100 * r["share"]))
ffn = rows("ffn.jsonl")
if ffn:
    print("bench ffn: %d cases; at the largest width and tokens measured:" % len(ffn))
    w = max(r["width"] for r in ffn)
    t = max(r["tokens"] for r in ffn if r["width"] == w)
    for r in ffn:
        if r["width"] == w and r["tokens"] == t:
            print("  d=%d tokens=%d %-7s %-12s %-6s %-8s %9.3f ms  %8.1f GFLOP/s  %.2fx" % (
                w, t, r["pass"], r["structure"], "%.4g" % r["fraction"], r.get("dtype", "float32"), r["ms"],
                r["gflops"], r["speedup"]))
    print("  best GFLOP/s of any case: %.0f" % max(r["gflops"] for r in ffn))
dec = rows("decode.jsonl")
if dec:
    print("bench decode (s preset, lowrank 32%%): %d cases" % len(dec))
    for r in dec:
        print("  %-10s batch %4d  %8.3f ms  %10.0f tok/s" % (r["mode"], r["batch"], r["ms"], r["tok_per_s"]))
EOF
	fi
	echo "files: check.json checks.jsonl train.jsonl reference.jsonl ffn.jsonl decode.jsonl breakdown.jsonl log.txt (stderr of every step)"
	if [ "$FAILED" = 0 ] && ! grep -q '"ok":false' "$OUT/check.json" "$OUT/checks.jsonl" 2>/dev/null; then
		echo "result: every step ran; every check OK"
	else
		echo "result: NOT all OK (see steps and checks above, and log.txt)"
	fi
} >"$SUMMARY" 2>&1
cat "$SUMMARY" >&2
grep -q '^result: every step ran' "$SUMMARY"
