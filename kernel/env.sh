# Source from bash or zsh:  . kernel/env.sh
# Puts the venv's jupyter and the Go tools (gonb, goimports, go) on PATH and exports
# STRUCTFFN_PLOTLY_JS (plotly.min.js for offline charts) and STRUCTFFN_KERNEL_HOME,
# from the env.sh that kernel/setup.sh wrote into its cache directory.
if [ -f "${STRUCTFFN_KERNEL_HOME:-$HOME/.cache/structffn/kernel}/env.sh" ]; then
	. "${STRUCTFFN_KERNEL_HOME:-$HOME/.cache/structffn/kernel}/env.sh"
else
	echo "kernel/env.sh: nothing set up yet; run kernel/setup.sh first" >&2
	return 1 2>/dev/null || true
fi
