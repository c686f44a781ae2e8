package scaling

import (
	"math"
	"strings"
	"testing"
)

// TestByBudget: stats per size, budget and family over seeds; gaps paired by seed with a t-interval
// (t(0.975, 2) = 4.303 for 3 pairs), verdicts where the interval excludes 0, runs without a token
// budget left out.
func TestByBudget(t *testing.T) {
	run := func(name string, tpp float64, seed int, loss, flops float64) Result {
		return Result{Name: name, Preset: "4x64", TokensPerParam: tpp, Seed: seed, ValLoss: loss, TrainFLOPs: flops, Tokens: 1000}
	}
	rs := []Result{
		run("4x64-dense-t2-s0", 2, 0, 4.00, 10), run("4x64-dense-t2-s1", 2, 1, 4.10, 10), run("4x64-dense-t2-s2", 2, 2, 4.20, 10),
		// lower by 0.15, 0.20, 0.25: mean −0.2, sd 0.05, half-width 4.303·0.05/√3
		run("4x64-lowrank32-t2-s0", 2, 0, 3.85, 5), run("4x64-lowrank32-t2-s1", 2, 1, 3.90, 5), run("4x64-lowrank32-t2-s2", 2, 2, 3.95, 5),
		// within noise: +0.05, −0.05, 0
		run("4x64-lowrank32-t2-eqflops-s0", 2, 0, 4.05, 10), run("4x64-lowrank32-t2-eqflops-s1", 2, 1, 4.05, 10), run("4x64-lowrank32-t2-eqflops-s2", 2, 2, 4.20, 10),
		// one seed only at t5: no interval
		run("4x64-dense-t5-s0", 5, 0, 3.50, 25), run("4x64-lowrank32-t5-s0", 5, 0, 3.60, 12),
		// a FLOP-budget run: left out
		{Name: "4x64-dense-c1e12-s0", Preset: "4x64", Seed: 0, ValLoss: 9, TrainFLOPs: 1e12},
	}
	stats, gaps := ByBudget(rs, "dense")
	if len(stats) != 5 {
		t.Fatalf("%d stats rows, want 5: %+v", len(stats), stats)
	}
	if s := stats[0]; s.Family != "dense" || s.TokensPerParam != 2 || math.Abs(s.Mean-4.10) > 1e-12 || math.Abs(s.SD-0.1) > 1e-12 || len(s.Seeds) != 3 {
		t.Errorf("dense t2: %+v", s)
	}
	want := []struct {
		family  string
		tpp     float64
		mean    float64
		half    float64
		verdict string
		ratio   float64
	}{
		{"lowrank32", 2, -0.2, 4.303 * 0.05 / math.Sqrt(3), "lower", 0.5},
		{"lowrank32-eqflops", 2, 0, 4.303 * 0.05 / math.Sqrt(3), "undecided", 1},
		{"lowrank32", 5, 0.1, math.NaN(), "undecided", 12.0 / 25},
	}
	if len(gaps) != len(want) {
		t.Fatalf("%d gaps, want %d: %+v", len(gaps), len(want), gaps)
	}
	for i, w := range want {
		g := gaps[i]
		half := (g.Hi - g.Lo) / 2
		if g.Family != w.family || g.TokensPerParam != w.tpp || math.Abs(g.Mean-w.mean) > 1e-9 || g.Verdict() != w.verdict ||
			math.Abs(g.FLOPsRatio-w.ratio) > 1e-12 || (math.IsNaN(w.half) != math.IsNaN(half)) || !math.IsNaN(w.half) && math.Abs(half-w.half) > 1e-3 {
			t.Errorf("gap %d: %+v (half-width %g, %s), want %+v", i, g, half, g.Verdict(), w)
		}
	}
	md := BudgetMarkdown(stats, gaps, "dense")
	for _, s := range []string{"| 4x64 | 2 | dense | 3 | 4.1000 ± 0.1000 |", "| 4x64 | 2 | lowrank32 | 0.50x | -0.2000 (", "| lower |",
		"| 4x64 | 5 | dense | 1 | 3.5000 (one seed) |", "+0.1000, no interval (1 pair) | undecided |"} {
		if !strings.Contains(md, s) {
			t.Errorf("markdown lacks %q:\n%s", s, md)
		}
	}
}

// TestByBudgetFLOPBudgets: runs planned from a FLOP budget (sweep -flops) are grouped by it, and a
// family from another sweep directory (lr_scaling=cbs names) pairs with the same dense runs.
func TestByBudgetFLOPBudgets(t *testing.T) {
	run := func(name string, seed int, loss float64) Result {
		return Result{Name: name, Preset: "4x64", Budget: 4.12e12, Seed: seed, ValLoss: loss, TrainFLOPs: 4.12e12, Tokens: 1000}
	}
	rs := []Result{
		run("4x64-dense-c4.12e12-s0", 0, 3.10), run("4x64-dense-c4.12e12-s1", 1, 3.00),
		run("4x64-btt32-c4.12e12-s0", 0, 3.00), run("4x64-btt32-c4.12e12-s1", 1, 2.90),
		run("4x64-btt32-cbs-c4.12e12-s0", 0, 3.05), run("4x64-btt32-cbs-c4.12e12-s1", 1, 3.05),
	}
	stats, gaps := ByBudget(rs, "dense")
	if len(stats) != 3 || stats[0].FLOPsBudget != 4.12e12 || stats[0].TokensPerParam != 0 {
		t.Fatalf("stats %+v", stats)
	}
	if len(gaps) != 2 || gaps[0].Family != "btt32" || math.Abs(gaps[0].Mean+0.1) > 1e-12 || gaps[1].Family != "btt32-cbs" || math.Abs(gaps[1].Mean) > 1e-12 {
		t.Fatalf("gaps %+v", gaps)
	}
	if md := BudgetMarkdown(stats, gaps, "dense"); !strings.Contains(md, "| size | budget |") || !strings.Contains(md, "| 4x64 | 4.12e+12 FLOPs | btt32-cbs |") {
		t.Errorf("markdown:\n%s", md)
	}
}

// TestSuffixGaps: each "-cbs" family is paired with its twin without the suffix, seed by seed (a
// seed the twin lacks is left out), and a family without a twin is left out.
func TestSuffixGaps(t *testing.T) {
	run := func(name string, seed int, loss float64) Result {
		return Result{Name: name, Preset: "4x64", Budget: 4.12e12, Seed: seed, ValLoss: loss, TrainFLOPs: 4.12e12, Tokens: 1000}
	}
	rs := []Result{
		run("4x64-dense-c4.12e12-s0", 0, 3.10),
		run("4x64-btt32-c4.12e12-s0", 0, 3.00), run("4x64-btt32-c4.12e12-s1", 1, 2.90),
		run("4x64-btt32-cbs-c4.12e12-s0", 0, 2.95), run("4x64-btt32-cbs-c4.12e12-s1", 1, 2.93), run("4x64-btt32-cbs-c4.12e12-s2", 2, 2.5),
		run("4x64-lowrank32-c4.12e12-s0", 0, 3.00),
		run("4x64-monarch32-cbs-c4.12e12-s0", 0, 2.9), // no twin
	}
	gaps := SuffixGaps(rs, "-cbs")
	if len(gaps) != 1 || gaps[0].Family != "btt32-cbs" || gaps[0].Pairs != 2 || math.Abs(gaps[0].Mean+0.01) > 1e-12 {
		t.Fatalf("gaps %+v", gaps)
	}
	if md := SuffixMarkdown(gaps, "-cbs"); !strings.Contains(md, "| 4x64 | 4.12e+12 FLOPs | btt32-cbs | -0.0100 (") {
		t.Errorf("markdown:\n%s", md)
	}
}
