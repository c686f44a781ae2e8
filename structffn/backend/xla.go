//go:build cgo

package backend

import (
	"fmt"
	"slices"

	"github.com/gomlx/go-xla/pkg/pjrt"
	"github.com/gomlx/gomlx/backends"
	xla "github.com/gomlx/gomlx/backends/xla" // registers "xla" (needs cgo: go-xla's PJRT loader)
)

func init() {
	// Never download at run time: GoMLX's auto-installer fetches plugins from GitHub. A missing plugin
	// is an error from New that says how to install it.
	xla.EnableAutoInstall(false)
}

// xlaAvailable reports whether go-xla finds the PJRT plugin ("cpu", "cuda") in its search path
// ($PJRT_PLUGIN_LIBRARY_PATH, else ~/.local/lib/go-xla, /usr/local/lib/go-xla and the system's
// library directories).
func xlaAvailable(plugin string) bool {
	return slices.Contains(xla.GetAvailablePlugins(), plugin)
}

// xlaMissing says how to install a plugin that xlaAvailable did not find.
func xlaMissing(plugin string) string {
	found := xla.GetAvailablePlugins()
	how := "install it as docker/Dockerfile.gpu does (go-xla's installer.CudaInstall, or the jax-cuda13-pjrt wheel; see docker/README.md and kernel/gpu-check.sh), or use -backend go"
	if plugin == "cpu" {
		how = "install it with kernel/install-xla-cpu.sh (a pinned PyPI build; no GitHub needed), or use -backend go"
	}
	return fmt.Sprintf("no XLA %q PJRT plugin found (found %v; searched $PJRT_PLUGIN_LIBRARY_PATH or ~/.local/lib/go-xla, /usr/local/lib/go-xla): %s",
		plugin, found, how)
}

// newXLACPU creates XLA's CPU backend (config "cpu", or "cpu,options") with n host devices.
func newXLACPU(config string, n int) (backends.Backend, error) {
	return xla.NewWithOptions(config, pjrt.NamedValuesMap{"cpu_device_count": int64(n)})
}
