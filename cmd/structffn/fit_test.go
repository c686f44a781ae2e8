package main

import (
	"encoding/json"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestFit(t *testing.T) {
	path := filepath.Join(t.TempDir(), "results.jsonl")
	var b strings.Builder
	for i, c := range []float64{1e11, 1e12, 1e13, 1e14} {
		for _, fam := range []struct {
			name     string
			a, alpha float64
		}{{"dense", 40, 0.10}, {"lowrank32", 90, 0.13}} {
			js, _ := json.Marshal(map[string]any{"name": fmt.Sprintf("4x64-%s-s0", fam.name), "train_flops": c,
				"val_loss": 1.5 + fam.a*math.Pow(c, -fam.alpha) + 0.001*float64(i%2)})
			b.Write(append(js, '\n'))
		}
	}
	if err := os.WriteFile(path, []byte(b.String()), 0o644); err != nil {
		t.Fatal(err)
	}
	out, _, err := captureAll(t, func() error { return runFit([]string{"-results", path, "-samples", "200"}) })
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"8 runs", "| dense | 4 |", "| lowrank32 | 4 |", "(reference)", "iso-FLOP", "| 1e+11 | lowrank32 |",
		"| 1e+15 (extrapolated) | dense |", "| 1e+14 | dense |"} {
		if !strings.Contains(out, want) {
			t.Errorf("output lacks %q:\n%s", want, out)
		}
	}
	// -by_budget: the token-budget tables of a -tokens_per_param sweep.
	tpp := filepath.Join(t.TempDir(), "tpp.jsonl")
	var tb strings.Builder
	for seed, d := range []float64{0.10, 0.12, 0.11} {
		for _, r := range []map[string]any{
			{"name": fmt.Sprintf("4x64-dense-t2-s%d", seed), "preset": "4x64", "seed": seed, "tokens_per_param": 2, "train_flops": 8e11, "val_loss": 4.0},
			{"name": fmt.Sprintf("4x64-lowrank32-t2-s%d", seed), "preset": "4x64", "seed": seed, "tokens_per_param": 2, "train_flops": 6e11, "val_loss": 4.0 - d},
			{"name": fmt.Sprintf("4x64-lowrank32-cbs-t2-s%d", seed), "preset": "4x64", "seed": seed, "tokens_per_param": 2, "train_flops": 6e11, "val_loss": 3.99 - d},
		} {
			js, _ := json.Marshal(r)
			tb.Write(append(js, '\n'))
		}
	}
	if err := os.WriteFile(tpp, []byte(tb.String()), 0o644); err != nil {
		t.Fatal(err)
	}
	out, _, err = captureAll(t, func() error { return runFit([]string{"-results", tpp, "-by_budget"}) })
	if err != nil || !strings.Contains(out, "| 4x64 | 2 | lowrank32 | 0.75x | -0.1100 (") || !strings.Contains(out, "| lower |") {
		t.Errorf("-by_budget: %v\n%s", err, out)
	}
	// -pair_suffix: each "-cbs" family against its twin without it, paired by seed.
	out, _, err = captureAll(t, func() error { return runFit([]string{"-results", tpp, "-by_budget", "-pair_suffix", "-cbs"}) })
	if err != nil || !strings.Contains(out, "| 4x64 | 2 | lowrank32-cbs | -0.0100 (") {
		t.Errorf("-pair_suffix -cbs: %v\n%s", err, out)
	}
	out, _, err = captureAll(t, func() error { return runFit([]string{"-results", path, "-samples", "50", "-json"}) })
	var rows []map[string]any
	if err != nil || json.Unmarshal([]byte(out), &rows) != nil || len(rows) != 2 || rows[1]["alpha_minus_reference"] == nil {
		t.Errorf("-json: %v\n%s", err, out)
	}
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"-results", filepath.Join(t.TempDir(), "none.jsonl")}, "run structffn sweep first"},
		{[]string{"-results", path, "-reference", "blockdense32"}, `no "blockdense32" runs`},
		{[]string{"-results", path, "-samples", "3"}, "-samples 3"},
		{[]string{"-results", path, "-budgets", "x"}, "-budgets"},
		{[]string{"-results", path, "-by_budget"}, "no run planned from a token or FLOP budget"},
		{[]string{"-results", path, "-pair_suffix", "-cbs"}, "-pair_suffix: only with -by_budget"},
		{[]string{"-results", tpp, "-by_budget", "-pair_suffix", "-nosuch"}, `no family ending in "-nosuch" has a twin`},
	} {
		_, _, err := captureAll(t, func() error { return runFit(tc.args) })
		if err == nil || !strings.Contains(err.Error(), tc.want) || strings.Contains(err.Error(), "\n") {
			t.Errorf("fit %q: error %v, want one line containing %q", tc.args, err, tc.want)
		}
	}
}
