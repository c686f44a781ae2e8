#!/usr/bin/env bash
# Sets up Jupyter with the Go kernel GoNB for this repository's notebooks, on Debian (or any
# Linux with Go >= 1.26, python3 and npm). One command, idempotent: a second run checks and
# changes nothing.
#
#   kernel/setup.sh [--no-xla] [--gopls] [--check]
#     --no-xla  skip the XLA CPU plugin (kernel/install-xla-cpu.sh); by default it is installed,
#               and a failure there only warns (GoMLX's pure-Go backend needs no plugin)
#     --gopls   also install gopls (GoNB's auto-complete and hover; about 80 s to build)
#     --check   at the end, execute a one-cell notebook that imports this repo's model package
#
# What goes where (STRUCTFFN_KERNEL_HOME, default ~/.cache/structffn/kernel = $KH):
#   $KH/venv                      Python venv: kernel/requirements.txt, kernel/constraints.txt
#   $KH/venv/share/jupyter/kernels/gonb   the kernelspec "gonb", seen only by this venv's jupyter
#   $KH/plotly/plotly.min.js      plotly.js for offline charts ($STRUCTFFN_PLOTLY_JS)
#   $KH/env.sh                    PATH and STRUCTFFN_* for a shell; kernel/env.sh sources it
#   $(go env GOPATH)/bin          gonb, goimports (and gopls with --gopls)
#   chromium (apt, when root)     headless Chromium for kernel/nbrun's chart checks
#
# How the kernel reaches this repository: GoNB's own flag -go_work=<repo> (written into the
# kernelspec's argv) makes every new kernel start with a go.work that uses the notebook's module
# and this repo, so `import "github.com/structffn/structffn/structffn/model"` works in any cell
# with no set-up cell. The kernelspec's env adds GOPROXY=off: a cell never reaches the network,
# all modules come from the module cache filled here by `go mod download` (a notebook that
# wants a new module can say `%env GOPROXY=https://proxy.golang.org`).
set -Eeuo pipefail

GONB_VERSION=v0.11.5
XTOOLS_VERSION=v0.52.0   # golang.org/x/tools, for goimports
GOPLS_VERSION=v0.23.0
PLOTLY_VERSION=4.1.2     # npm plotly.js-dist-min
PLOTLY_SHA256=2f645d1bade8182fce161b7f10f89402f8b315805250ff4a94672a28d23c390a # of plotly.min.js

say() { echo "kernel/setup: $*"; }
die() { echo "kernel/setup: error: $*" >&2; exit 1; }
step="start"
trap 'echo "kernel/setup: error: failed during \"$step\" (line $LINENO); see the output above" >&2' ERR

XLA=1 GOPLS=0 CHECK=0
for a in "$@"; do
	case "$a" in
	--no-xla) XLA=0 ;; --xla) XLA=1 ;; --gopls) GOPLS=1 ;; --check) CHECK=1 ;;
	-h | --help) sed -n '2,12p' "$0"; exit 0 ;;
	*) die "unknown argument $a (try --help)" ;;
	esac
done

t0=$SECONDS
HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
REPO="$(cd "$HERE/.." && pwd)"
KH="${STRUCTFFN_KERNEL_HOME:-$HOME/.cache/structffn/kernel}"
VENV="$KH/venv"
ROOT=0; [ "$(id -u)" = 0 ] && ROOT=1
apt_install() { # apt_install PKG...: only as root
	[ "$ROOT" = 1 ] || return 1
	say "apt-get install $*"
	{ apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "$@"; } >/dev/null
}
sha256_of() { sha256sum "$1" | cut -d' ' -f1; }
# write_if_changed FILE: stdin becomes FILE unless FILE already has that content.
write_if_changed() {
	local new; new="$(cat)"
	if [ -f "$1" ] && [ "$(cat "$1")" = "$new" ]; then return 1; fi
	mkdir -p "$(dirname "$1")"; printf '%s\n' "$new" >"$1.tmp" && mv -f "$1.tmp" "$1"
}

# --- prerequisites --------------------------------------------------------------------------
step="prerequisites"
command -v go >/dev/null || die "go not found: install Go >= 1.26 (go.dev/doc/install) and put it on PATH"
command -v python3 >/dev/null || apt_install python3 || die "python3 not found: apt-get install python3"
GOROOT_BIN="$(go env GOROOT)/bin"
GOBIN_DIR="$(go env GOBIN)"; GOBIN_DIR="${GOBIN_DIR:-$(go env GOPATH)/bin}"
mkdir -p "$KH" "$GOBIN_DIR"

# --- 1. Jupyter in a venv --------------------------------------------------------------------
step="python venv"
if ! "$VENV/bin/python" -c '' 2>/dev/null; then
	rm -rf "$VENV"
	if ! python3 -m venv "$VENV" 2>/dev/null; then # Debian splits venv/ensurepip off python3
		rm -rf "$VENV"
		apt_install python3-venv || die "python3 -m venv failed: apt-get install python3-venv (as root)"
		python3 -m venv "$VENV" || die "python3 -m venv $VENV failed"
	fi
	say "created venv $VENV"
fi
stamp="$(cat "$HERE/requirements.txt" "$HERE/constraints.txt" | sha256sum | cut -c1-16) $("$VENV/bin/python" -V)"
if [ "$(cat "$VENV/.structffn-stamp" 2>/dev/null)" != "$stamp" ]; then
	step="pip install"
	say "pip install -r kernel/requirements.txt -c kernel/constraints.txt"
	"$VENV/bin/python" -m pip install -q --disable-pip-version-check \
		-r "$HERE/requirements.txt" -c "$HERE/constraints.txt" ||
		die "pip install into $VENV failed (network to PyPI? a pin without a wheel for $("$VENV/bin/python" -V)?)"
	echo "$stamp" >"$VENV/.structffn-stamp"
else
	say "ok: jupyterlab $("$VENV/bin/python" -c 'import importlib.metadata as m; print(m.version("jupyterlab"))') in $VENV"
fi

# --- 2. Go tools -----------------------------------------------------------------------------
mod_version() { go version -m "$1" 2>/dev/null | awk '$1 == "mod" { print $3; exit }'; }
# go_tool NAME WANT PKG: installs PKG@WANT into GOBIN_DIR unless NAME there is already WANT.
go_tool() {
	step="go install $1"
	if [ "$(mod_version "$GOBIN_DIR/$1")" = "$2" ]; then say "ok: $1 $2"; return; fi
	say "installing $1 $2 into $GOBIN_DIR"
	if [ "$1" = gonb ]; then
		# `go install gonb@v` fails on the module proxy (its @latest deprecation lookup is
		# refused), so build it from a throw-away module that requires it.
		local tmp; tmp="$(mktemp -d)"
		(cd "$tmp" && go mod init tmp && go get "$3@$2" && GOBIN="$GOBIN_DIR" go install "$3") >"$tmp.log" 2>&1 ||
			{ cat "$tmp.log" >&2; rm -rf "$tmp" "$tmp.log"; die "building $3@$2 failed (Go module proxy reachable?)"; }
		rm -f "$tmp.log"
		rm -rf "$tmp"
	else
		GOBIN="$GOBIN_DIR" go install "$3@$2" || die "go install $3@$2 failed (Go module proxy reachable?)"
	fi
}
go_tool gonb "$GONB_VERSION" github.com/janpfeifer/gonb
go_tool goimports "$XTOOLS_VERSION" golang.org/x/tools/cmd/goimports
[ "$GOPLS" = 1 ] && go_tool gopls "$GOPLS_VERSION" golang.org/x/tools/gopls

# --- 3. This repo's modules, so that cells build offline ------------------------------------
step="go mod download"
(cd "$REPO" && go mod download) || die "go mod download in $REPO failed (Go module proxy reachable?)"
(cd "$REPO" && GOPROXY=off go list -deps ./structffn/... >/dev/null) ||
	die "$REPO/structffn/... does not resolve offline; run go mod tidy there"
# Warms the build cache so that a notebook's first cell does not compile GoMLX; not fatal.
(cd "$REPO" && go build ./structffn/...) || say "warning: go build ./structffn/... failed; notebooks importing it will too"
say "ok: $REPO modules in $(go env GOMODCACHE)"

# --- 4. plotly.js for offline charts ---------------------------------------------------------
step="plotly.js"
PLOTLY_JS="$KH/plotly/plotly.min.js"
if [ -f "$PLOTLY_JS" ] && [ "$(sha256_of "$PLOTLY_JS")" = "$PLOTLY_SHA256" ]; then
	say "ok: plotly.js $PLOTLY_VERSION at $PLOTLY_JS"
else
	command -v npm >/dev/null || apt_install npm || die "npm not found (for plotly.js): apt-get install npm"
	tmp="$(mktemp -d)"
	(cd "$tmp" && npm pack --silent "plotly.js-dist-min@$PLOTLY_VERSION" >/dev/null &&
		tar -xzf "plotly.js-dist-min-$PLOTLY_VERSION.tgz" package/plotly.min.js) ||
		{ rm -rf "$tmp"; die "npm pack plotly.js-dist-min@$PLOTLY_VERSION failed (npm registry reachable?)"; }
	[ "$(sha256_of "$tmp/package/plotly.min.js")" = "$PLOTLY_SHA256" ] ||
		{ rm -rf "$tmp"; die "plotly.min.js sha256 is not $PLOTLY_SHA256; fix PLOTLY_* in kernel/setup.sh"; }
	mkdir -p "$KH/plotly" && mv -f "$tmp/package/plotly.min.js" "$PLOTLY_JS" && rm -rf "$tmp"
	echo "plotly.js-dist-min $PLOTLY_VERSION sha256:$PLOTLY_SHA256" >"$KH/plotly/VERSION"
	say "installed plotly.js $PLOTLY_VERSION at $PLOTLY_JS"
fi

# --- 5. The kernelspec -----------------------------------------------------------------------
step="kernelspec"
KPATH="$VENV/bin:$GOROOT_BIN:$GOBIN_DIR"
spec_tmp="$(mktemp -d)"
# GoNB writes kernels/gonb/{kernel.json,logo-svg.svg} under JUPYTER_DATA_DIR: make them in a
# scratch dir, add the env, and copy them to the venv only if they differ.
JUPYTER_DATA_DIR="$spec_tmp" PATH="$KPATH:$PATH" "$GOBIN_DIR/gonb" --install --raw_error \
	--force_deps --go_work="$REPO" >"$spec_tmp/log" 2>&1 ||
	{ cat "$spec_tmp/log" >&2; die "gonb --install failed (see above)"; }
rm -f "$spec_tmp/kernels/gonb/gonb" # GoNB copies itself there when GOBIN is under /tmp or ~/.cache
"$VENV/bin/python" - "$spec_tmp/kernels/gonb/kernel.json" "$GOBIN_DIR/gonb" "$KPATH" "$PLOTLY_JS" "$REPO" <<'EOF'
import json, sys
path, gonb, kpath, plotly, repo = sys.argv[1:]
spec = json.load(open(path))
spec["argv"][0] = gonb
spec["display_name"] = "Go (gonb, structffn)"
spec["env"] = {
    "PATH": kpath + ":${PATH}",  # jupyter_client substitutes ${PATH}
    "GOPROXY": "off",            # cells never query the network; modules come from the cache
    "STRUCTFFN_PLOTLY_JS": plotly,
    "STRUCTFFN_REPO": repo,
}
json.dump(spec, open(path, "w"), indent=1)
EOF
KDIR="$VENV/share/jupyter/kernels/gonb"
if diff -rq "$spec_tmp/kernels/gonb" "$KDIR" >/dev/null 2>&1; then
	say "ok: kernelspec gonb in $KDIR (go.work uses $REPO)"
else
	rm -rf "$KDIR" && mkdir -p "$KDIR" && cp "$spec_tmp/kernels/gonb/"* "$KDIR/"
	say "installed kernelspec gonb in $KDIR (go.work uses $REPO)"
fi
rm -rf "$spec_tmp"
seen="$("$VENV/bin/jupyter" kernelspec list --json | "$VENV/bin/python" -c \
	'import json,sys; print(json.load(sys.stdin)["kernelspecs"].get("gonb",{}).get("resource_dir",""))')"
[ "$seen" = "$KDIR" ] || die "jupyter resolves kernel gonb to $seen, not $KDIR: remove it (jupyter kernelspec remove gonb) and rerun"

# --- 6. env.sh -------------------------------------------------------------------------------
step="env.sh"
write_if_changed "$KH/env.sh" <<EOF && say "wrote $KH/env.sh" || say "ok: $KH/env.sh"
# Written by kernel/setup.sh; source kernel/env.sh rather than this file.
export STRUCTFFN_KERNEL_HOME="$KH"
export STRUCTFFN_PLOTLY_JS="$PLOTLY_JS"
case ":\$PATH:" in *":$VENV/bin:"*) ;; *) export PATH="$KPATH:\$PATH" ;; esac
EOF

# --- 6b. Chromium, which the notebook runner (kernel/nbrun) opens HTML exports in ----------------
step="chromium"
if CHROME="$(command -v chromium || command -v chromium-browser || command -v google-chrome || true)" && [ -n "$CHROME" ]; then
	say "ok: $CHROME (headless chart checks)"
elif apt_install chromium; then
	say "installed chromium (headless chart checks)"
else
	say "warning: no Chromium: kernel/nbrun cannot check charts (apt-get install chromium as root, or set STRUCTFFN_CHROMIUM)"
fi

# --- 7. XLA CPU plugin (optional) ------------------------------------------------------------
if [ "$XLA" = 1 ]; then
	step="xla"
	PYTHON="$VENV/bin/python" bash "$HERE/install-xla-cpu.sh" 2>&1 | sed 's/^/  /' ||
		say "warning: XLA CPU plugin not installed; the pure-Go backend still works (rerun kernel/install-xla-cpu.sh, or pass --no-xla)"
fi

# --- 8. Smoke test (--check) -----------------------------------------------------------------
if [ "$CHECK" = 1 ]; then
	step="check"
	tmp="$(mktemp -d)"
	"$VENV/bin/python" - "$tmp/check.ipynb" <<'EOF'
import sys, nbformat
from nbformat.v4 import new_notebook, new_code_cell
src = 'import "github.com/structffn/structffn/structffn/model"\n\n%%\nfmt.Println(model.Presets["tiny"].DModel)'
nbformat.write(new_notebook(cells=[new_code_cell(src)]), sys.argv[1])
EOF
	(cd "$tmp" && "$VENV/bin/jupyter" nbconvert --to notebook --execute --ExecutePreprocessor.kernel_name=gonb \
		--output out.ipynb check.ipynb >log 2>&1) || { tail -20 "$tmp/log" >&2; die "--check: the notebook failed (log above)"; }
	grep -q '"128\\n"' "$tmp/out.ipynb" || die "--check: the cell did not print 128 (see $tmp/out.ipynb)"
	rm -rf "$tmp"; say "ok: --check notebook printed model.Presets[\"tiny\"].DModel = 128"
fi

say "done in $((SECONDS - t0))s. JupyterLab: . kernel/env.sh && jupyter lab   (kernel \"gonb\")"
say "plotly.js: $PLOTLY_JS"
