package main

import (
	"bufio"
	"bytes"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/structffn/structffn/internal/testcorpus"
)

// TestStopSignalsSaveAndResume runs the built CLI, stops it with SIGTERM (and then SIGINT) in the
// middle of training, and checks that each time it saved a checkpoint, exited non-zero saying how to
// resume, and that the next start continues from where it stopped.
func TestStopSignalsSaveAndResume(t *testing.T) {
	bin := buildCLI(t)
	dir := t.TempDir()
	corpusPath := testcorpus.Write(t, 5, "a signal stops the run and the run resumes from its checkpoint", 40_000)
	out := filepath.Join(dir, "run")
	set := tinyTrainSet + "eval_every=0;log_every=1;checkpoint_every=100000;train_steps=100000;corpus=file:" + corpusPath
	start := func(sig syscall.Signal, afterSteps int) string {
		t.Helper()
		cmd := exec.Command(bin, "train", "-backend", "go", "-out", out, "-set", set)
		var stderr bytes.Buffer
		cmd.Stderr = &stderr
		stdout, err := cmd.StdoutPipe()
		if err != nil {
			t.Fatal(err)
		}
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		var banner string
		steps := 0
		sc := bufio.NewScanner(stdout)
		for sc.Scan() {
			line := sc.Text()
			if strings.HasPrefix(line, "model ") {
				banner = line
			}
			if strings.HasPrefix(line, "step ") {
				if steps++; steps == afterSteps {
					if err := cmd.Process.Signal(sig); err != nil {
						t.Fatal(err)
					}
				}
			}
		}
		done := make(chan error, 1)
		go func() { done <- cmd.Wait() }()
		select {
		case err = <-done:
		case <-time.After(2 * time.Minute):
			_ = cmd.Process.Kill()
			t.Fatalf("%v did not stop the run", sig)
		}
		if err == nil || !strings.Contains(stderr.String(), "checkpoint was saved") {
			t.Fatalf("after %v: exit %v, stderr %q", sig, err, stderr.String())
		}
		return banner
	}
	first := start(syscall.SIGTERM, 3)
	if !strings.Contains(first, "(100000 to go)") {
		t.Fatalf("first start: %q", first)
	}
	second := start(syscall.SIGINT, 2)
	if strings.Contains(second, "(100000 to go)") || !strings.Contains(second, "to go)") {
		t.Errorf("the start after SIGTERM did not resume: %q", second)
	}
	third := start(syscall.SIGTERM, 1)
	if third == second {
		t.Errorf("the start after SIGINT did not resume past the last one: %q", third)
	}
}
