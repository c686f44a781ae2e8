package main

import (
	"os"
	"os/exec"
	"path/filepath"
	"sync"
	"testing"
)

// tinyTrainSet is a model and data small enough for the pure-Go backend to train in milliseconds a
// step; append "corpus=file:PATH" and the run's own settings.
const tinyTrainSet = "layers=2;d_model=32;heads=2;head_dim=16;ffn=128;context=32;batch=8;tokenizer=byte;val_fraction=0.1;eval_batches=2;"

var cli struct {
	once sync.Once
	dir  string
	err  error
	out  []byte
}

// buildCLI builds this command once per test binary and returns its path; tests that run it as a user
// does (signals, kills) skip in -short mode.
func buildCLI(t *testing.T) string {
	t.Helper()
	if testing.Short() {
		t.Skip("builds the CLI and trains")
	}
	cli.once.Do(func() {
		cli.dir, cli.err = os.MkdirTemp("", "structffn-cli-")
		if cli.err == nil {
			cli.out, cli.err = exec.Command("go", "build", "-o", filepath.Join(cli.dir, "structffn"), ".").CombinedOutput()
		}
	})
	if cli.err != nil {
		t.Fatalf("go build: %v\n%s", cli.err, cli.out)
	}
	return filepath.Join(cli.dir, "structffn")
}
