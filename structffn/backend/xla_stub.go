//go:build !cgo

package backend

import (
	"errors"

	"github.com/gomlx/gomlx/backends"
)

// Without cgo the XLA backend (go-xla loads PJRT plugins through cgo) is not compiled in.
func xlaAvailable(string) bool { return false }

func xlaMissing(string) string {
	return "this binary was built without cgo, so the XLA backend is not in it: rebuild with CGO_ENABLED=1 and a C compiler, or use -backend go"
}

func newXLACPU(string, int) (backends.Backend, error) { return nil, errors.New(xlaMissing("cpu")) }
