// Package testbackend shares one pure-Go GoMLX backend between a package's tests.
package testbackend

import (
	"sync"
	"testing"

	"github.com/gomlx/gomlx/backends"

	"github.com/structffn/structffn/structffn/backend"
)

var (
	once sync.Once
	b    backends.Backend
	err  error
)

// Go returns the shared pure-Go backend (with the project's pure-Go options, see backend.GoOptions),
// failing the test if it cannot be created.
func Go(t testing.TB) backends.Backend {
	t.Helper()
	once.Do(func() { b, _, err = backend.New("go") })
	if err != nil {
		t.Fatalf("pure-Go backend: %v", err)
	}
	return b
}
