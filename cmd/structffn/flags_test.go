package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestBadFlagsFailClearly: numeric flags outside their range fail before any work, with one line
// naming the flag, the value and the range.
func TestBadFlagsFailClearly(t *testing.T) {
	tests := []struct {
		cmd     func([]string) error
		args    []string
		wantErr string
	}{
		{runBenchTrain, []string{"-steps", "-1"}, "-steps -1: allowed 1 up"},
		{runBenchTrain, []string{"-warmup", "-2"}, "-warmup -2: allowed 0 up"},
		{runBenchTrain, []string{"-min_time", "-1s"}, "-min_time -1: allowed 0 up"},
		{runBenchTrain, []string{"-peak_tflops", "-3"}, "-peak_tflops -3: allowed 0 up"},
		{runBenchFFN, []string{"-min_reps", "0"}, "-min_reps 0: allowed 1 up"},
		{runBenchDecode, []string{"-min_reps", "-1"}, "-min_reps -1: allowed 1 up"},
		{runCheck, []string{"-tolerance", "-1"}, "-tolerance -1: allowed 0 up"},
		{runCheck, []string{"-batch", "0"}, "-batch 0: allowed 1 up"},
	}
	for _, tc := range tests {
		_, err := capture(t, func() error { return tc.cmd(tc.args) })
		if err == nil || !strings.Contains(err.Error(), tc.wantErr) || strings.Contains(err.Error(), "\n") {
			t.Errorf("%v: error %v, want one line with %q", tc.args, err, tc.wantErr)
		}
	}
}

// TestFitRefusesWhatIsNotResults: an empty file and rows that are not a sweep's results fail with one
// line saying so.
func TestFitRefusesWhatIsNotResults(t *testing.T) {
	dir := t.TempDir()
	for _, tc := range []struct{ content, want string }{
		{"", "holds no runs: run structffn sweep"},
		{"\n\n", "holds no runs"},
		{`{"name":"x"}` + "\n", "line 1 has no train_flops, val_loss: not a row of a sweep's results.jsonl"},
		{"not json\n", "line 1 is damaged"},
	} {
		path := filepath.Join(dir, "results.jsonl")
		if err := os.WriteFile(path, []byte(tc.content), 0o644); err != nil {
			t.Fatal(err)
		}
		_, err := capture(t, func() error { return runFit([]string{"-results", path}) })
		if err == nil || !strings.Contains(err.Error(), tc.want) || strings.Contains(err.Error(), "\n") {
			t.Errorf("fit on %q: error %v, want one line with %q", tc.content, err, tc.want)
		}
	}
}
