// Package testbackend shares GoMLX backends between a package's tests: the pure-Go one always, and
// XLA on the CPU where its plugin is installed (kernel/install-xla-cpu.sh). With
// STRUCTFFN_REQUIRE_XLA=1 (set by CI) a missing XLA plugin fails the tests instead of skipping them.
package testbackend

import (
	"os"
	"sync"
	"testing"

	"github.com/gomlx/gomlx/backends"

	"github.com/structffn/structffn/structffn/backend"
)

// RequireXLAEnv names the environment variable that turns a missing XLA plugin into a test failure.
const RequireXLAEnv = "STRUCTFFN_REQUIRE_XLA"

type shared struct {
	once   sync.Once
	b      backends.Backend
	config string
	err    error
}

var goB, xlaB shared

func (s *shared) get(name string) (backends.Backend, error) {
	s.once.Do(func() { s.b, s.config, s.err = backend.New(name) })
	return s.b, s.err
}

// Go returns the shared pure-Go backend (with the project's pure-Go options, see backend.GoOptions),
// failing the test if it cannot be created.
func Go(t testing.TB) backends.Backend {
	t.Helper()
	b, err := goB.get("go")
	if err != nil {
		t.Fatalf("pure-Go backend: %v", err)
	}
	return b
}

// XLA returns the shared xla:cpu backend; without its plugin the test is skipped (or fails when
// STRUCTFFN_REQUIRE_XLA=1).
func XLA(t testing.TB) backends.Backend {
	t.Helper()
	b, err := xlaB.get("xla:cpu")
	if err != nil {
		if os.Getenv(RequireXLAEnv) == "1" {
			t.Fatalf("%s=1 but %v", RequireXLAEnv, err)
		}
		t.Skipf("xla:cpu not available (%v)", err)
	}
	return b
}

// Named is a backend with its name, for tests that run on each backend.
type Named struct {
	Name    string
	Backend func(t testing.TB) backends.Backend
}

// All lists the backends tests should run on: "go" and "xla:cpu" (which skips or fails as XLA does).
var All = []Named{{"go", Go}, {"xla:cpu", XLA}}
