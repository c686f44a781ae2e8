package bench

import (
	"math"
	"strings"
	"testing"

	"github.com/gomlx/gomlx/pkg/ml/context"

	"github.com/structffn/structffn/internal/testbackend"
	"github.com/structffn/structffn/structffn/linear"
	"github.com/structffn/structffn/structffn/model"
)

func TestCrossover(t *testing.T) {
	rows := func(ms ...[3]float64) []DecodeResult { // tokens in flight, structured ms, merged ms
		var out []DecodeResult
		for _, m := range ms {
			out = append(out, DecodeResult{Mode: Structured, TokensInFlight: int(m[0]), Ms: m[1]},
				DecodeResult{Mode: DenseMode, TokensInFlight: int(m[0]), Ms: 1e-9}, // ignored
				DecodeResult{Mode: MergedMode, TokensInFlight: int(m[0]), Ms: m[2]})
		}
		return out
	}
	for _, tc := range []struct {
		name string
		rows []DecodeResult
		want int
	}{
		{"structured faster from 16", rows([3]float64{1, 2, 1}, [3]float64{4, 3, 2}, [3]float64{16, 4, 5}, [3]float64{64, 6, 9}), 16},
		{"one size against the rest does not flip the policy", rows([3]float64{1, 1, 2}, [3]float64{4, 3, 2}, [3]float64{16, 4, 5}), 0},
		{"structured faster everywhere", rows([3]float64{1, 1, 2}, [3]float64{8, 2, 3}), 0},
		{"merged faster everywhere", rows([3]float64{1, 2, 1}, [3]float64{8, 3, 2}), math.MaxInt},
		{"merged faster only at the largest size", rows([3]float64{1, 1, 2}, [3]float64{4, 1, 2}, [3]float64{8, 3, 2.9}), 0},
		{"merged faster by far at the larger sizes: merged throughout", rows([3]float64{1, 1, 1.1}, [3]float64{4, 4, 2}, [3]float64{8, 8, 2}), math.MaxInt},
		{"order of rows does not matter", rows([3]float64{64, 6, 9}, [3]float64{1, 2, 1}, [3]float64{16, 4, 5}), 16},
		{"no rows", nil, math.MaxInt},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := Crossover(tc.rows); got != tc.want {
				t.Errorf("Crossover = %d, want %d", got, tc.want)
			}
		})
	}
}

func TestDecode(t *testing.T) {
	cfg := model.Config{Name: "test", Layers: 2, DModel: 32, Heads: 2, KVHeads: 2, HeadDim: 16, FFN: 128, Vocab: 64, Context: 16,
		Structure: linear.LowRank, Rank: 8, RoPEBase: 10000, LayerNormEps: 1e-5, Batch: 1, Tokens: 16, PeakLR: 1e-3}
	b := testbackend.Go(t)
	modes, err := DecodeModes(b, context.New(), cfg, []string{Structured, MergedMode, DenseMode})
	if err != nil {
		t.Fatal(err)
	}
	cases := []DecodeCase{{Batch: 1, NewTokens: 1}, {Batch: 3, NewTokens: 1}, {Batch: 2, NewTokens: 12}}
	var reported int
	results, err := Decode("go", cfg, modes, cases, Timing{MinReps: 2}, func(DecodeResult) { reported++ })
	if err != nil {
		t.Fatal(err)
	}
	if len(results) != 9 || reported != 9 {
		t.Fatalf("%d results, %d reported; want 3 cases × 3 modes", len(results), reported)
	}
	for i, r := range results {
		c := cases[i/3]
		if r.Mode != modes[i%3].Name || r.Batch != c.Batch || r.NewTokens != c.NewTokens || r.TokensInFlight != c.Batch*c.NewTokens ||
			r.Ms <= 0 || r.Reps < 2 || math.Abs(r.TokPerS-float64(r.TokensInFlight)/(r.Ms/1000)) > 1e-6*r.TokPerS ||
			r.Structure != "lowrank" || r.Rank != 8 || r.Ctx != 16 || r.Fraction != 0.3125 {
			t.Errorf("result %d = %+v does not describe case %+v in mode %s", i, r, c, modes[i%3].Name)
		}
	}
	if want := []int{8, 8, 4}; results[0].Position != want[0] || results[8].Position != want[2] {
		t.Errorf("positions %d and %d, want min(ctx/2, ctx-new) = 8 and 4", results[0].Position, results[8].Position)
	}
	for _, tc := range []struct {
		modes []string
		cfg   model.Config
		want  string
	}{
		{[]string{"fast"}, cfg, `unknown mode "fast"`},
		{nil, cfg, "no modes"},
		{[]string{MergedMode}, func() model.Config { c := cfg; c.Structure, c.Rank = linear.Dense, 0; return c }(), "needs a structured model"},
	} {
		if _, err := DecodeModes(b, context.New(), tc.cfg, tc.modes); err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("modes %q: error %v, want %q", tc.modes, err, tc.want)
		}
	}
	if _, err := Decode("go", cfg, modes, []DecodeCase{{Batch: 1, NewTokens: 17}}, Timing{}, nil); err == nil || !strings.Contains(err.Error(), "1 to 16 (the context)") {
		t.Errorf("17 new tokens in a 16-token context: error %v", err)
	}
}

func TestCheckBackends(t *testing.T) {
	cfg := model.Config{Name: "test", Layers: 2, DModel: 32, Heads: 2, KVHeads: 2, HeadDim: 16, FFN: 128, Vocab: 64, Context: 16,
		Structure: linear.LowRank, Rank: 8, RoPEBase: 10000, LayerNormEps: 1e-5, Batch: 1, Tokens: 16, PeakLR: 1e-3}
	for _, nb := range testbackend.All {
		t.Run(nb.Name, func(t *testing.T) {
			res, err := CheckBackends(testbackend.Go(t), nb.Backend(t), "go", nb.Name, cfg, 2, 3, 1e-4)
			if err != nil {
				t.Fatal(err)
			}
			if !res.OK || res.Tokens != 32 || !(res.LossRef > 0) || !strings.Contains(res.String(), ": OK,") {
				t.Errorf("%s", res)
			}
			if nb.Name == "go" && (res.MaxLogit != 0 || res.LossDiff != 0) {
				t.Errorf("the same backend twice differs: %s", res)
			}
		})
	}
}
