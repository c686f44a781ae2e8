// Package testbackend shares one pure-Go GoMLX backend between a package's tests.
package testbackend

import (
	"sync"
	"testing"

	"github.com/gomlx/gomlx/backends"
	_ "github.com/gomlx/gomlx/backends/simplego" // registers "go"
)

var (
	once    sync.Once
	backend backends.Backend
	err     error
)

// Go returns the shared pure-Go backend, failing the test if it cannot be created.
func Go(t testing.TB) backends.Backend {
	t.Helper()
	once.Do(func() { backend, err = backends.NewWithConfig("go") })
	if err != nil {
		t.Fatalf("pure-Go backend: %v", err)
	}
	return backend
}
