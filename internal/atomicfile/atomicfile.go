// Package atomicfile writes files so that a crash or a full disk never leaves a half-written file
// in place of a good one: data goes to a temporary file beside the target, which is renamed over it.
package atomicfile

import (
	"os"
	"path/filepath"
)

// Write writes data to path atomically (mode 0644), creating the parent directories.
func Write(path string, data []byte) error {
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		return err
	}
	f, err := os.CreateTemp(filepath.Dir(path), "."+filepath.Base(path)+".tmp*")
	if err != nil {
		return err
	}
	_, werr := f.Write(data)
	if werr == nil {
		werr = f.Chmod(0o644)
	}
	if cerr := f.Close(); werr == nil {
		werr = cerr
	}
	if werr == nil {
		werr = os.Rename(f.Name(), path)
	}
	if werr != nil {
		os.Remove(f.Name())
	}
	return werr
}
