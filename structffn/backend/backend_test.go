package backend

import (
	"strings"
	"testing"
)

func TestResolve(t *testing.T) {
	autoWant := "go:ops_sequential,dotgeneral_large"
	if xlaAvailable("cuda") {
		autoWant = "xla:cuda"
	} else if xlaAvailable("cpu") {
		autoWant = "xla:cpu"
	}
	for _, c := range []struct {
		name, env, want, err string
	}{
		{"go", "", "go:ops_sequential,dotgeneral_large", ""},
		{"go:parallelism=4", "", "go:parallelism=4,ops_sequential,dotgeneral_large", ""},
		{"go:ops_parallel", "", "go:ops_parallel,dotgeneral_large", ""},
		{"go:dotgeneral_small", "", "go:dotgeneral_small,ops_sequential", ""},
		{"go:dotgeneral_check", "", "go:dotgeneral_check,ops_sequential", ""},
		{"xla:cpu", "", "xla:cpu", ""},
		{"xla", "", "xla:cpu", ""},
		{"xla:cuda", "", "xla:cuda", ""},
		{"", "go", "go:ops_sequential,dotgeneral_large", ""},
		{"", "", autoWant, ""},
		{"auto", "", autoWant, ""},
		{"tpu", "", "", `unknown backend "tpu": allowed values are auto, go, xla:cpu, xla:cuda`},
	} {
		t.Run(c.name+"/"+c.env, func(t *testing.T) {
			t.Setenv(EnvVar, c.env)
			got, err := Resolve(c.name)
			if c.err != "" {
				if err == nil || !strings.Contains(err.Error(), c.err) {
					t.Fatalf("Resolve(%q) error = %v, want %q", c.name, err, c.err)
				}
				return
			}
			if err != nil || got != c.want {
				t.Fatalf("Resolve(%q) = %q, %v; want %q", c.name, got, err, c.want)
			}
		})
	}
}

func TestNewGo(t *testing.T) {
	b, config, err := New("go")
	if err != nil {
		t.Fatal(err)
	}
	defer b.Finalize()
	if !strings.HasPrefix(config, "go:") || b.Name() == "" {
		t.Fatalf("New(go) = %q (%s)", config, b.Name())
	}
}
