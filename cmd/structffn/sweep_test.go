package main

import (
	"strings"
	"testing"
)

func TestSweepDryRun(t *testing.T) {
	out, _, err := captureAll(t, func() error {
		return runSweep([]string{"-dry-run", "-estimate=false", "-backend", "go", "-sizes", "2x64,tiny", "-structures", "dense,lowrank",
			"-fractions", "0.3125", "-sgt", "off,flops", "-seeds", "0,1", "-tokens_per_param", "2"})
	})
	if err != nil {
		t.Fatal(err)
	}
	// Per size: dense ×2 seeds, lowrank ×2 SGT settings ×2 seeds = 6; two sizes.
	for _, want := range []string{"2x64-dense-s0", "tiny-lowrank32-sgtflops-s1", "total: 12 runs"} {
		if !strings.Contains(out, want) {
			t.Errorf("plan lacks %q:\n%s", want, out)
		}
	}
	if _, _, err := captureAll(t, func() error {
		return runSweep([]string{"-dry-run", "-shard", "1/3", "-estimate=false", "-backend", "go", "-sizes", "2x64"})
	}); err != nil {
		t.Errorf("shard 1/3: %v", err)
	}
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"-sizes", "3x50"}, "multiple of 32"},
		{[]string{"-structures", "diagonal"}, "-structures"},
		{[]string{"-sgt", "maybe"}, `-sgt: unknown sgt "maybe": allowed values are off, steps, flops`},
		{[]string{"-seeds", "x"}, "-seeds"},
		{[]string{"-flops", "-1"}, "-flops"},
		{[]string{"-shard", "3/3"}, "shard 3/3"},
		{[]string{"-tokens_per_param", "0"}, `-tokens_per_param: "0" is not a positive number`},
		{[]string{"-tokens_per_param", "2,x"}, `-tokens_per_param: "x"`},
		{[]string{"-flops", "1e12", "-equal_flops"}, "-equal_flops"},
	} {
		_, _, err := captureAll(t, func() error {
			return runSweep(append([]string{"-dry-run", "-estimate=false", "-backend", "go"}, tc.args...))
		})
		if err == nil || !strings.Contains(err.Error(), tc.want) || strings.Contains(err.Error(), "\n") {
			t.Errorf("sweep %q: error %v, want one line containing %q", tc.args, err, tc.want)
		}
	}
}
