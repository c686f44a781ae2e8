package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestReferenceRunsWhereOursDoes: `bench train -reference` runs the PyTorch script on the device and
// in the dtype of our step (--device cpu here, --dtype from -set dtype), with the model's shape
// flags. The Python is a stand-in that records its arguments and prints a result of another model,
// which the command must refuse.
func TestReferenceRunsWhereOursDoes(t *testing.T) {
	dir := t.TempDir()
	argsFile := filepath.Join(dir, "args")
	py := filepath.Join(dir, "python")
	script := "#!/bin/sh\necho \"$@\" > " + argsFile + "\n" +
		`echo '{"preset":"tiny","structure":"dense","backend":"pytorch-cpu fake","tok_per_s":1,"ms_per_step":1,"params":1,"train_flops_per_token":1}'` + "\n"
	if err := os.WriteFile(py, []byte(script), 0o755); err != nil {
		t.Fatal(err)
	}
	t.Setenv(torchPythonEnv, py)
	for _, tc := range []struct{ set, want string }{
		{"preset=tiny;structure=dense;batch=2;context=16", "--device cpu --dtype float32"},
		{"preset=tiny;structure=dense;batch=2;context=16;dtype=bfloat16", "--device cpu --dtype bfloat16"},
	} {
		_, _, err := captureAll(t, func() error {
			return runBenchTrain([]string{"-backend", "go", "-set", tc.set, "-warmup", "1", "-steps", "1", "-min_time", "0", "-reference"})
		})
		if err == nil || !strings.Contains(err.Error(), "the reference built another model") {
			t.Errorf("%s: error %v, want the other model refused", tc.set, err)
		}
		got, _ := os.ReadFile(argsFile)
		for _, want := range []string{tc.want, "--preset tiny", "--structure dense", "--batch 2", "--ctx 16"} {
			if !strings.Contains(string(got), want) {
				t.Errorf("%s: reference arguments %q lack %q", tc.set, got, want)
			}
		}
	}
}
