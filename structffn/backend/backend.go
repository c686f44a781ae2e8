// Package backend picks the GoMLX backend that graphs run on: the pure-Go one ("go"), XLA on the CPU
// ("xla:cpu") or on an NVIDIA GPU ("xla:cuda"), or "auto" (XLA where its plugin is installed, else go).
//
// Names are GoMLX's backend configurations ("go", "go:opt1,opt2", "xla:cpu", ...) with two additions:
// "auto", and the defaults this project needs on the pure-Go backend (see GoOptions). Nothing is ever
// downloaded at run time: a missing XLA plugin is an error that says how to install it.
package backend

import (
	"fmt"
	"os"
	"runtime"
	"slices"
	"strings"
	"sync/atomic"

	"github.com/gomlx/gomlx/backends"
	_ "github.com/gomlx/gomlx/backends/simplego" // registers "go"

	"github.com/structffn/structffn/internal/errline"
)

// EnvVar is GoMLX's environment variable naming the backend; it is the default when a name is "".
const EnvVar = "GOMLX_BACKEND"

// Auto picks XLA on an NVIDIA GPU when its CUDA plugin is installed and a GPU is present (go-xla
// counts the cuda plugin only then), else XLA on the CPU when its plugin is installed, else the
// pure-Go backend.
const Auto = "auto"

// GoOptions are appended to every pure-Go backend configuration unless it sets the option itself:
//
//   - ops_sequential: GoMLX v0.26.0's parallel op scheduler runs each op as a worker-pool task, and a
//     DotGeneral inside such a task waits on the same pool for its own sub-tasks; with several
//     DotGenerals in flight (the two-DotGeneral gradient of internal/dotgrad) all workers wait and a
//     2-core machine deadlocks. Ops run one after another; each DotGeneral still uses every core.
//   - dotgeneral_large: the blocked DotGeneral kernel is as fast or faster than the "small" one at
//     every shape this project trains with (measured 1.3-4x on the tiny preset's FFN gradients).
var GoOptions = []string{"ops_sequential", "dotgeneral_large"}

// Names lists the accepted names, for help lines and errors.
func Names() []string { return []string{"auto", "go", "xla:cpu", "xla:cuda"} }

// New returns the backend for name ("" = $GOMLX_BACKEND, else Auto) and the resolved configuration
// that was used, to print at start and record in a run's config.json.
func New(name string) (backends.Backend, string, error) {
	config, err := Resolve(name)
	if err != nil {
		return nil, "", err
	}
	plugin, isXLA := strings.CutPrefix(config, "xla:")
	if isXLA && !strings.Contains(plugin, "/") && !xlaAvailable(plugin) {
		return nil, "", fmt.Errorf("backend %q: %s", config, xlaMissing(plugin))
	}
	if isXLA && strings.Contains(plugin, "cuda") {
		if flags, added := CUDAFlags(os.Getenv("XLA_FLAGS")); len(added) > 0 {
			// Read by XLA when the plugin creates its client, below (Go's Setenv reaches C's environ
			// in a cgo binary).
			if err := os.Setenv("XLA_FLAGS", flags); err != nil {
				return nil, "", fmt.Errorf("backend %q: setting XLA_FLAGS: %v", config, err)
			}
			flagsAdded.Store(&added)
		}
	}
	hosts := 0
	if isXLA && (plugin == "cpu" || strings.HasPrefix(plugin, "cpu,")) {
		if hosts, err = HostDevices(os.Getenv("XLA_FLAGS")); err != nil {
			return nil, "", err
		}
	}
	var b backends.Backend
	if hosts > 0 {
		b, err = newXLACPU(plugin, hosts)
	} else {
		b, err = backends.NewWithConfig(config)
	}
	if err != nil {
		return nil, "", fmt.Errorf("backend %q: %v", config, errline.First(err))
	}
	return b, config, nil
}

// CUDAFlagsDefault are the XLA flags New adds on xla:cuda: XLA's GEMM autotuning off and no Triton
// GEMM fusions, so every matrix product goes to cuBLAS with its own heuristics. Measured on an H200
// (docs/PERFORMANCE.md, "GPU"): the s preset's training step compiles in 20 s instead of 90 s at the
// same tokens/s (248k either way, dense, bf16, batch 32); FFN products within 3% except the
// BlockShuffle forward (12% slower at width 5120).
var CUDAFlagsDefault = []string{"--xla_gpu_autotune_level=0", "--xla_gpu_enable_triton_gemm=false"}

// CUDAFlags returns xlaFlags (an XLA_FLAGS value) with CUDAFlagsDefault appended, and the flags it
// added. A user who sets either flag (e.g. XLA_FLAGS=--xla_gpu_autotune_level=4, XLA's default)
// chooses for both, and nothing is added.
func CUDAFlags(xlaFlags string) (flags string, added []string) {
	for _, f := range strings.Fields(xlaFlags) {
		name, _, _ := strings.Cut(f, "=")
		for _, d := range CUDAFlagsDefault {
			if dn, _, _ := strings.Cut(d, "="); name == dn {
				return xlaFlags, nil
			}
		}
	}
	return strings.Join(append(strings.Fields(xlaFlags), CUDAFlagsDefault...), " "), CUDAFlagsDefault
}

// flagsAdded holds what New last added to XLA_FLAGS (*[]string).
var flagsAdded atomic.Value

// XLAFlagsAdded returns the flags New added to XLA_FLAGS (CUDAFlags), for programs to print at start;
// nil when it added none.
func XLAFlagsAdded() []string {
	if p, ok := flagsAdded.Load().(*[]string); ok {
		return *p
	}
	return nil
}

// HostDevicesFlag is XLA's flag for the number of host (CPU) devices. XLA's CPU PJRT plugin does not
// read it (it takes the client option cpu_device_count, 4 by default), so New passes it on: with
// XLA_FLAGS=--xla_force_host_platform_device_count=N, xla:cpu has N devices, as in JAX.
const HostDevicesFlag = "--xla_force_host_platform_device_count"

// HostDevices is the host device count that the XLA_FLAGS value flags asks for (0 when it does not).
func HostDevices(flags string) (int, error) {
	n := 0
	for _, f := range strings.Fields(flags) {
		v, ok := strings.CutPrefix(f, HostDevicesFlag+"=")
		if !ok {
			continue
		}
		if _, err := fmt.Sscan(v, &n); err != nil || n < 1 || fmt.Sprint(n) != v {
			return 0, fmt.Errorf("XLA_FLAGS: %s=%s: want a positive number of host devices", HostDevicesFlag, v)
		}
	}
	return n, nil
}

// Resolve turns a user's backend name into a GoMLX configuration string without creating it.
func Resolve(name string) (string, error) {
	name = strings.TrimSpace(name)
	if name == "" {
		name = os.Getenv(EnvVar)
	}
	if name == "" || name == Auto {
		for _, plugin := range []string{"cuda", "cpu"} {
			if xlaAvailable(plugin) {
				return "xla:" + plugin, nil
			}
		}
		name = "go"
	}
	kind, opts, _ := strings.Cut(name, ":")
	switch kind {
	case "go", "simplego":
		return "go:" + goOptions(opts), nil
	case "xla", "stablehlo", "hlo", "shlo":
		if opts == "" {
			opts = "cpu"
		}
		return "xla:" + opts, nil
	}
	return "", fmt.Errorf("unknown backend %q: allowed values are %s", name, strings.Join(Names(), ", "))
}

// goOptions merges the user's pure-Go options with GoOptions: an option already given (or its
// opposite, ops_parallel / dotgeneral_small) wins.
func goOptions(user string) string {
	var opts []string
	if user != "" {
		opts = strings.Split(user, ",")
	}
	opposite := map[string]string{"ops_sequential": "ops_parallel", "dotgeneral_large": "dotgeneral_small"}
	for _, o := range GoOptions {
		if !slices.Contains(opts, o) && !slices.Contains(opts, opposite[o]) &&
			!(o == "dotgeneral_large" && slices.Contains(opts, "dotgeneral_check")) {
			opts = append(opts, o)
		}
	}
	return strings.Join(opts, ",")
}

// PeakTFLOPs is the fp32 peak that MFU is relative to for a resolved configuration: on CPU backends an
// estimate, cores × 32 FLOP/cycle (two 8-wide fp32 FMA pipes, as on Zen 4 and most AVX2/AVX-512
// cores) × 3.5 GHz; 0 (unknown: pass it explicitly) on GPUs.
func PeakTFLOPs(config string) float64 {
	if strings.Contains(config, "cuda") || strings.Contains(config, "gpu") {
		return 0
	}
	return float64(runtime.NumCPU()) * 32 * 3.5e9 / 1e12
}
