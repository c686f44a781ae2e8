package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/structffn/structffn/internal/testcorpus"
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
		{runBenchBreakdown, []string{"-peak_tflops", "-1"}, "-peak_tflops not negative"},
		{runBenchTrain, []string{"-reference", "-set", "grad_accum=2"}, "-reference: the PyTorch reference runs its steps on one device in one batch"},
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

// TestBadTrainSettingsFailClearly: the settings a hostile new user tried (issue 17) each fail before
// any training with one line naming the setting and what is allowed, and leave no run directory.
func TestBadTrainSettingsFailClearly(t *testing.T) {
	corpus := testcorpus.Write(t, 3, "a setting that cannot be meant fails before anything is written", 20_000)
	for _, tc := range []struct{ set, want string }{
		{"learning_rate=-1", "-set learning_rate=-1: allowed a number from 1e-12 up, or 0 (the preset's)"},
		{"train_steps=-5", "-set train_steps=-5: allowed"},
		{"rank=-4", "-set rank=-4: allowed"},
		{"warmup_fraction=2", "-set warmup_fraction=2: allowed"},
		{"eval_every=-1", "-set eval_every=-1: allowed"},
		{"checkpoint_every=-1", "-set checkpoint_every=-1: allowed"},
		{"grad_clip=-1", "-set grad_clip=-1: allowed"},
		{"structure=blockdense;nblocks=3", "nblocks"},
		{"learning_rate=fast", `"fast" is not a number`},
		{"lerning_rate=3e-4", "did you mean learning_rate?"},
		{"dtype=float8", "-set dtype=float8: allowed values are float32, bfloat16"},
		{"context=100000", "context"},
	} {
		t.Run(tc.set, func(t *testing.T) {
			out := filepath.Join(t.TempDir(), "run")
			_, err := capture(t, func() error {
				return runTrain([]string{"-backend", "go", "-out", out, "-set", tinyTrainSet + "corpus=file:" + corpus + ";" + tc.set})
			})
			if err == nil || !strings.Contains(err.Error(), tc.want) || strings.Contains(err.Error(), "\n") {
				t.Errorf("error %v, want one line with %q", err, tc.want)
			}
			if _, err := os.Stat(out); !os.IsNotExist(err) {
				t.Errorf("the failed run left %s behind", out)
			}
		})
	}
}

// TestRunsListsTheReadableOnes: `structffn runs` given a damaged directory among good ones lists the
// good ones, says what is wrong with the other in one line, and fails at the end.
func TestRunsListsTheReadableOnes(t *testing.T) {
	good := tinyRun(t)
	bad := t.TempDir()
	if err := os.WriteFile(filepath.Join(bad, "config.json"), []byte("{bad"), 0o644); err != nil {
		t.Fatal(err)
	}
	out, errOut, err := captureAll(t, func() error { return runRuns([]string{bad, good}) })
	if !strings.Contains(out, "| "+good+" |") {
		t.Errorf("the readable run is not listed:\n%s", out)
	}
	if !strings.Contains(errOut, bad+": config.json is damaged") || err == nil || !strings.Contains(err.Error(), "1 of 2 directories could not be read") {
		t.Errorf("stderr %q, error %v", errOut, err)
	}
}
