package scaling

import (
	stdctx "context"
	"io"
	"math"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/structffn/structffn/internal/testbackend"
	"github.com/structffn/structffn/structffn/guide"
	"github.com/structffn/structffn/structffn/linear"
)

func TestParseSize(t *testing.T) {
	for _, tc := range []struct {
		in, settings, err string
	}{
		{"tiny", "preset=tiny", ""},
		{"4x192", "preset=tiny;layers=4;d_model=192;heads=6;kv_heads=6;head_dim=32;ffn=768", ""},
		{"4x100", "", "multiple of 32"},
		{"0x64", "", "L >= 1"},
		{"huge", "", "neither a preset nor LxD"},
	} {
		s, err := ParseSize(tc.in)
		if tc.err != "" {
			if err == nil || !strings.Contains(err.Error(), tc.err) {
				t.Errorf("%q: error %v, want %q", tc.in, err, tc.err)
			}
			continue
		}
		if err != nil || s.Settings != tc.settings || s.Name != tc.in {
			t.Errorf("%q: %+v, %v", tc.in, s, err)
		}
	}
}

func sizes(t *testing.T, names ...string) []Size {
	var out []Size
	for _, n := range names {
		s, err := ParseSize(n)
		if err != nil {
			t.Fatal(err)
		}
		out = append(out, s)
	}
	return out
}

func TestPlanRuns(t *testing.T) {
	p := Plan{Sizes: sizes(t, "2x64", "2x128"), Structures: []linear.Kind{linear.Dense, linear.LowRank},
		Fractions: []float64{linear.Fraction63, linear.Fraction32}, SGT: []guide.Mode{guide.Off, guide.FixedFLOPs}, Seeds: []int{0, 1}, TokensPerParam: []float64{2}}
	runs, err := p.Runs()
	if err != nil {
		t.Fatal(err)
	}
	// Per size: dense × 2 seeds + lowrank × 2 fractions × 2 SGT × 2 seeds = 2 + 8.
	if len(runs) != 2*(2+8) {
		t.Fatalf("%d runs, want 20", len(runs))
	}
	names := map[string]bool{}
	for _, r := range runs {
		if names[r.Name] {
			t.Errorf("duplicate run name %s", r.Name)
		}
		names[r.Name] = true
	}
	for _, want := range []string{"2x64-dense-s0", "2x128-lowrank32-sgtflops-s1", "2x64-lowrank63-s0"} {
		if !names[want] {
			t.Errorf("no run %s in %v", want, names)
		}
	}
	// The same tokens for every structure of a size (without SGT's replay): 2 × the dense params.
	for _, r := range runs {
		if r.SGT != guide.Off {
			if r.Planned.Steps <= runs[0].Planned.Steps && r.Size == "2x64" {
				t.Errorf("%s: fixed-FLOPs SGT should replay steps (%d vs %d)", r.Name, r.Planned.Steps, runs[0].Planned.Steps)
			}
			continue
		}
		first := runs[0]
		if r.Size == "2x128" {
			first = runs[10]
		}
		if r.Planned.Tokens != first.Planned.Tokens {
			t.Errorf("%s trains %d tokens, %s %d", r.Name, r.Planned.Tokens, first.Name, first.Planned.Tokens)
		}
	}
	// lr_scaling=cbs is in the structured runs' names (another family), not in dense's (the same run).
	cbs := Plan{Sizes: sizes(t, "2x64"), Structures: []linear.Kind{linear.Dense, linear.BTT}, Fractions: []float64{linear.Fraction32},
		Seeds: []int{0}, FLOPBudgets: []float64{1e12}, Base: "lr_scaling=cbs"}
	if cr, err := cbs.Runs(); err != nil || len(cr) != 2 || cr[0].Name != "2x64-dense-c1.00e12-s0" || cr[1].Name != "2x64-btt32-cbs-c1.00e12-s0" {
		t.Errorf("lr_scaling=cbs runs %v, %v", cr, err)
	}
	// FLOP budgets: each run's planned FLOPs within one step of the budget.
	p.TokensPerParam, p.FLOPBudgets, p.SGT, p.Seeds = nil, []float64{1e12, 4e12}, []guide.Mode{guide.Off}, []int{0}
	runs, err = p.Runs()
	if err != nil {
		t.Fatal(err)
	}
	for _, r := range runs {
		perStep := r.Planned.TrainFLOPs / float64(r.Planned.Steps)
		if math.Abs(r.Planned.TrainFLOPs-r.Budget) > perStep/2+1 || !strings.Contains(r.Name, "-c") {
			t.Errorf("%s: %.4g FLOPs for a budget of %.4g (%.3g a step)", r.Name, r.Planned.TrainFLOPs, r.Budget, perStep)
		}
	}
	for _, bad := range []Plan{{}, {Sizes: p.Sizes, Structures: p.Structures, Seeds: p.Seeds},
		{Sizes: p.Sizes, Structures: p.Structures, Seeds: p.Seeds, TokensPerParam: []float64{1}, FLOPBudgets: []float64{1}},
		{Sizes: p.Sizes, Structures: p.Structures, Seeds: p.Seeds, TokensPerParam: []float64{2, -1}},
		{Sizes: p.Sizes, Structures: p.Structures, Seeds: p.Seeds, FLOPBudgets: []float64{1e12}, EqualFLOPs: true}} {
		if _, err := bad.Runs(); err == nil {
			t.Errorf("plan %+v accepted", bad)
		}
	}
}

// TestPlanTokenBudgetsAndEqualFLOPs: several tokens-per-parameter budgets name their runs "-tK"; with
// EqualFLOPs each structured run without SGT gets a twin at the dense run's FLOPs of the same budget.
func TestPlanTokenBudgetsAndEqualFLOPs(t *testing.T) {
	p := Plan{Sizes: sizes(t, "2x64"), Structures: []linear.Kind{linear.Dense, linear.LowRank}, Fractions: []float64{linear.Fraction32},
		SGT: []guide.Mode{guide.Off, guide.FixedFLOPs}, Seeds: []int{0, 1}, TokensPerParam: []float64{2, 5}, EqualFLOPs: true}
	runs, err := p.Runs()
	if err != nil {
		t.Fatal(err)
	}
	// Per budget and seed: dense, lowrank, lowrank at dense FLOPs, lowrank + SGT = 4; 2 budgets × 2 seeds.
	if len(runs) != 16 {
		t.Fatalf("%d runs, want 16", len(runs))
	}
	byName := map[string]Run{}
	for _, r := range runs {
		if _, dup := byName[r.Name]; dup {
			t.Errorf("duplicate run name %s", r.Name)
		}
		byName[r.Name] = r
	}
	for _, k := range []string{"2", "5"} {
		for _, s := range []string{"0", "1"} {
			dense, ok1 := byName["2x64-dense-t"+k+"-s"+s]
			lr, ok2 := byName["2x64-lowrank32-t"+k+"-s"+s]
			eq, ok3 := byName["2x64-lowrank32-t"+k+"-eqflops-s"+s]
			if !ok1 || !ok2 || !ok3 {
				t.Fatalf("budget %s seed %s: runs missing from %v", k, s, byName)
			}
			if lr.Planned.Tokens != dense.Planned.Tokens {
				t.Errorf("%s trains %d tokens, %s %d", lr.Name, lr.Planned.Tokens, dense.Name, dense.Planned.Tokens)
			}
			perStep := eq.Planned.TrainFLOPs / float64(eq.Planned.Steps)
			if eq.Match != MatchDenseFLOPs || math.Abs(eq.Planned.TrainFLOPs-dense.Planned.TrainFLOPs) > perStep/2+1 ||
				eq.Planned.Tokens <= lr.Planned.Tokens {
				t.Errorf("%s: %.4g FLOPs over %d tokens (match %q), want the dense run's %.4g over more than %d tokens",
					eq.Name, eq.Planned.TrainFLOPs, eq.Planned.Tokens, eq.Match, dense.Planned.TrainFLOPs, lr.Planned.Tokens)
			}
		}
	}
	if byName["2x64-dense-t5-s0"].Planned.Tokens <= byName["2x64-dense-t2-s0"].Planned.Tokens {
		t.Errorf("5 tokens per parameter should train more tokens than 2")
	}
}

func TestShard(t *testing.T) {
	runs := make([]Run, 7)
	for i := range runs {
		runs[i].Name = string(rune('a' + i))
	}
	var all []string
	for i := range 3 {
		s, err := Shard(runs, i, 3)
		if err != nil {
			t.Fatal(err)
		}
		for _, r := range s {
			all = append(all, r.Name)
		}
	}
	if got := strings.Join(all, ""); got != "adgbecf" {
		t.Errorf("shards cover %q, want every run once: adgbecf", got)
	}
	if _, err := Shard(runs, 3, 3); err == nil {
		t.Errorf("shard 3/3 accepted")
	}
	if i, n, err := ParseShard("2/5"); err != nil || i != 2 || n != 5 {
		t.Errorf("ParseShard(2/5) = %d, %d, %v", i, n, err)
	}
	if _, _, err := ParseShard("2"); err == nil {
		t.Errorf("ParseShard(2) accepted")
	}
}

// TestExecuteResumesAndCollects trains a two-run sweep on a small text corpus, in two shards, checks
// results.jsonl holds both, that a second Execute skips them, and that a damaged result is reported.
func TestExecuteResumesAndCollects(t *testing.T) {
	dir := t.TempDir()
	corpus := filepath.Join(dir, "corpus.txt")
	rng := rand.New(rand.NewPCG(1, 1))
	var b strings.Builder
	for b.Len() < 20000 {
		b.WriteString([]string{"func ", "main ", "go ", "if ", "x := 1\n"}[rng.IntN(5)])
	}
	if err := os.WriteFile(corpus, []byte(b.String()), 0o644); err != nil {
		t.Fatal(err)
	}
	p := Plan{Sizes: sizes(t, "1x32"), Structures: []linear.Kind{linear.Dense, linear.LowRank}, Fractions: []float64{linear.Fraction32},
		Seeds: []int{0}, FLOPBudgets: []float64{3e8},
		Base: "tokenizer=byte;context=16;batch=2;eval_every=0;eval_batches=1;val_fraction=0.1;corpus=file:" + corpus}
	runs, err := p.Runs()
	if err != nil {
		t.Fatal(err)
	}
	out := filepath.Join(dir, "sweep")
	opts := ExecOptions{Backend: testbackend.Go(t), BackendName: "go", CacheDir: filepath.Join(dir, "cache"), Log: io.Discard}
	for i := range 2 {
		shard, _ := Shard(runs, i, 2)
		if err := Execute(stdctx.Background(), shard, out, opts); err != nil {
			t.Fatal(err)
		}
	}
	results, err := ReadResults(filepath.Join(out, "results.jsonl"))
	if err != nil {
		t.Fatal(err)
	}
	if len(results) != 2 || results[0].Name != runs[0].Name || results[1].Structure != "lowrank" {
		t.Fatalf("results %+v", results)
	}
	for _, r := range results {
		if !(r.ValLoss > 0) || r.TrainFLOPs <= 0 || r.Tokens <= 0 || r.Params <= 0 || math.Abs(r.TrainFLOPs-3e8) > 0.5*3e8 {
			t.Errorf("result %+v", r)
		}
	}
	var log strings.Builder
	opts.Log = &log
	if err := Execute(stdctx.Background(), runs, out, opts); err != nil || strings.Count(log.String(), "skipped") != 2 {
		t.Errorf("second Execute: %v, log %q", err, log.String())
	}
	if err := os.WriteFile(filepath.Join(out, runs[0].Name, resultFile), []byte("{"), 0o644); err != nil {
		t.Fatal(err)
	}
	if _, err := Collect(out); err == nil || !strings.Contains(err.Error(), "delete it to rerun") {
		t.Errorf("damaged result: %v", err)
	}
}
