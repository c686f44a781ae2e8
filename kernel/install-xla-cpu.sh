#!/usr/bin/env bash
# Installs XLA's CPU PJRT plugin for GoMLX's "xla" backend (GOMLX_BACKEND=xla:cpu)
# from a PyPI wheel pinned by exact version and sha256. Idempotent: a second run
# only re-checks the installed file.
#
# Where it goes: ${STRUCTFFN_PJRT_DIR:-$HOME/.local/lib/go-xla}, which is the
# first directory go-xla searches, so nothing has to be set at run time:
#   pjrt_c_api_cpu_<goxla-cpu-version>_plugin.so  the plugin itself. This is the
#       exact name GoMLX's auto-installer checks for; when it exists, the
#       auto-installer does nothing (otherwise backend creation tries to reach
#       GitHub and fails without network).
#   pjrt_c_api_cpu_plugin.so -> the file above; go-xla finds plugin "cpu" by it.
#   pjrt_c_api_cpu_plugin.source  what the file is and where it came from.
#
# With any other STRUCTFFN_PJRT_DIR, programs need at run time
#   PJRT_PLUGIN_LIBRARY_PATH=<dir> GOMLX_NO_AUTO_INSTALL=1
# (PJRT_PLUGIN_LIBRARY_PATH replaces go-xla's default search directories).
#
# Building the Go side needs cgo (a C compiler and libc headers): go-xla's pjrt
# package uses cgo and dlopen. No build tags, no other C library.
#
# Where GitHub is reachable, GoMLX's own installer is an alternative:
#   go run github.com/gomlx/go-xla/cmd/pjrt_installer@v0.1.4 -autoinstall
# This script does not depend on it.
#
# Env:
#   STRUCTFFN_PJRT_DIR      install directory (default $HOME/.local/lib/go-xla)
#   STRUCTFFN_PJRT_PACKAGE  xla-cpu-pjrt (default) or lammps-jax-pjrt-cpu
#   PYTHON                  Python with pip (default python3)
set -euo pipefail

die() { echo "install-xla-cpu: $*" >&2; exit 1; }

case "$(uname -s)/$(uname -m)" in
Linux/x86_64) ;;
*) die "only linux/amd64 is supported here (got $(uname -s)/$(uname -m))" ;;
esac

# Both packages were tested against go-xla v0.1.4 (PJRT C API 0.83) with
# go-xla's pjrt tests and GoMLX v0.26.0's graph tests.
PACKAGE="${STRUCTFFN_PJRT_PACKAGE:-xla-cpu-pjrt}"
case "$PACKAGE" in
xla-cpu-pjrt)
	# By "The OpenXLA Authors"; PJRT C API 0.81, StableHLO 1.13.3.
	VERSION=0.0.1
	WHEEL=xla_cpu_pjrt-0.0.1-py3-none-manylinux_2_27_x86_64.whl
	WHEEL_SHA256=55837b6b7b47daa717f2d9a5a03563ea0ceaa338d06a81a1e2d3f060d960decc
	MEMBER=xla_plugins/xla_cpu_pjrt/xla_cpu_pjrt.so
	SO_SHA256=88c3f28c5900f48ad4a82cab9e79bba9537809743395e341485f8794268820dc
	API=0.81
	;;
lammps-jax-pjrt-cpu)
	# XLA of jaxlib 0.11.2; PJRT C API 0.115, StableHLO 1.20.0.
	VERSION=0.11.2
	WHEEL=lammps_jax_pjrt_cpu-0.11.2-py3-none-manylinux_2_27_x86_64.whl
	WHEEL_SHA256=1319390d948b39f69f7dade496b7c385149d9ca6097a6b62114da113216d9ad1
	MEMBER=lammps_jax_pjrt_cpu/pjrt_c_api_cpu_plugin.so
	SO_SHA256=ad1309ac822b1b24d51b7f9947c7c9fa9ef5d67f390584cbc3d1fa2428fed9c2
	API=0.115
	;;
*) die "unknown STRUCTFFN_PJRT_PACKAGE=$PACKAGE (xla-cpu-pjrt or lammps-jax-pjrt-cpu)" ;;
esac

PY="${PYTHON:-python3}"
command -v "$PY" >/dev/null || die "$PY not found (apt-get install python3 python3-pip)"
command -v sha256sum >/dev/null || die "sha256sum not found (coreutils)"

# The file name GoMLX's auto-installer checks for is go-xla's DefaultCPUVersion;
# read it from the go-xla this repository builds with, if Go can tell.
REPO="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
CPU_VERSION=v0.83.3 # go-xla v0.1.4
if command -v go >/dev/null; then
	goxla_dir="$(cd "$REPO" && go list -m -f '{{.Dir}}' github.com/gomlx/go-xla 2>/dev/null || true)"
	if [ -n "$goxla_dir" ] && [ -f "$goxla_dir/internal/utils/utils.go" ]; then
		v="$(sed -n 's/^var DefaultCPUVersion = "\(v[0-9.]*\)".*/\1/p' "$goxla_dir/internal/utils/utils.go")"
		[ -n "$v" ] && CPU_VERSION="$v"
	fi
fi

DEFAULT_DIR="$HOME/.local/lib/go-xla"
DIR="${STRUCTFFN_PJRT_DIR:-$DEFAULT_DIR}"
TARGET="pjrt_c_api_cpu_${CPU_VERSION}_plugin.so"
LINK="pjrt_c_api_cpu_plugin.so"

sha256_of() { sha256sum "$1" | cut -d' ' -f1; }

check_api() { # prints the PJRT C API version the plugin reports
	"$PY" - "$1" <<'EOF'
import ctypes, sys
lib = ctypes.CDLL(sys.argv[1], mode=getattr(ctypes, "RTLD_LOCAL", 0))
lib.GetPjrtApi.restype = ctypes.c_void_p
api = lib.GetPjrtApi()
if not api:
    sys.exit("GetPjrtApi returned NULL")
# PJRT_Api: struct_size, extension_start, then PJRT_Api_Version
# {struct_size, extension_start, int major_version, int minor_version}.
major = ctypes.c_int.from_address(api + 32).value
minor = ctypes.c_int.from_address(api + 36).value
print(f"{major}.{minor}")
EOF
}

start=$(date +%s)
if [ -f "$DIR/$TARGET" ] && [ "$(sha256_of "$DIR/$TARGET")" = "$SO_SHA256" ]; then
	echo "install-xla-cpu: $PACKAGE $VERSION already in $DIR"
else
	mkdir -p "$DIR"
	tmp="$(mktemp -d)"
	trap 'rm -rf "$tmp"' EXIT
	echo "$PACKAGE==$VERSION --hash=sha256:$WHEEL_SHA256" >"$tmp/requirements.txt"
	echo "install-xla-cpu: downloading $PACKAGE $VERSION from PyPI"
	"$PY" -m pip download --quiet --no-deps --only-binary=:all: --require-hashes \
		--platform manylinux_2_27_x86_64 --python-version 3 --implementation py \
		-r "$tmp/requirements.txt" -d "$tmp/wheel" ||
		die "pip download failed (is pip installed? apt-get install python3-pip)"
	[ -f "$tmp/wheel/$WHEEL" ] || die "pip did not fetch $WHEEL"
	[ "$(sha256_of "$tmp/wheel/$WHEEL")" = "$WHEEL_SHA256" ] || die "sha256 mismatch for $WHEEL"
	"$PY" - "$tmp/wheel/$WHEEL" "$MEMBER" "$DIR/.$TARGET.tmp" <<'EOF'
import shutil, sys, zipfile
with zipfile.ZipFile(sys.argv[1]) as z, z.open(sys.argv[2]) as src, open(sys.argv[3], "wb") as dst:
    shutil.copyfileobj(src, dst, 1 << 20)
EOF
	[ "$(sha256_of "$DIR/.$TARGET.tmp")" = "$SO_SHA256" ] || {
		rm -f "$DIR/.$TARGET.tmp"
		die "sha256 mismatch for $MEMBER"
	}
	chmod 0755 "$DIR/.$TARGET.tmp"
	mv -f "$DIR/.$TARGET.tmp" "$DIR/$TARGET"
fi
ln -sfn "$TARGET" "$DIR/$LINK"
cat >"$DIR/pjrt_c_api_cpu_plugin.source" <<EOF
package: $PACKAGE $VERSION (PyPI)
wheel: $WHEEL sha256:$WHEEL_SHA256
member: $MEMBER sha256:$SO_SHA256
pjrt_c_api: $API
installed_as: $TARGET (name checked by go-xla's auto-installer for DefaultCPUVersion $CPU_VERSION)
EOF

got="$(check_api "$DIR/$LINK")" || die "$DIR/$LINK does not load"
[ "$got" = "$API" ] || die "$DIR/$LINK reports PJRT C API $got, want $API"
echo "install-xla-cpu: $DIR/$LINK -> $TARGET ($PACKAGE $VERSION, PJRT C API $got) in $(($(date +%s) - start))s"
if [ "$DIR" != "$DEFAULT_DIR" ]; then
	echo "install-xla-cpu: not the default directory; run with PJRT_PLUGIN_LIBRARY_PATH=$DIR GOMLX_NO_AUTO_INSTALL=1"
fi
echo "install-xla-cpu: use from Go: import _ \"github.com/gomlx/gomlx/backends/xla\"; backends.NewWithConfig(\"xla:cpu\") (cgo required)"
