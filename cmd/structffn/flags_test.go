package main

import (
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
		{runCheck, []string{"-tolerance", "-1"}, "-tolerance -1: allowed 1e-12 up"},
		{runCheck, []string{"-batch", "0"}, "-batch 0: allowed 1 up"},
	}
	for _, tc := range tests {
		_, err := capture(t, func() error { return tc.cmd(tc.args) })
		if err == nil || !strings.Contains(err.Error(), tc.wantErr) || strings.Contains(err.Error(), "\n") {
			t.Errorf("%v: error %v, want one line with %q", tc.args, err, tc.wantErr)
		}
	}
}
