package bench

import (
	"fmt"
	"testing"
	"time"

	"github.com/gomlx/gomlx/ui/commandline"

	"github.com/structffn/structffn/internal/testbackend"
	"github.com/structffn/structffn/structffn/linear"
	"github.com/structffn/structffn/structffn/train"
)

func TestFFNGridCases(t *testing.T) {
	g := FFNGrid{
		Structures: []linear.Kind{linear.LowRank, linear.Dense},
		Fractions:  []float64{linear.Fraction63, linear.Fraction32},
		Widths:     []int{64, 128},
		Tokens:     []int{8},
		Passes:     []string{Forward, Backward},
	}
	cases := g.Cases()
	if len(cases) != 2*1*2*(1+2) {
		t.Fatalf("got %d cases, want 12", len(cases))
	}
	for i := 0; i < len(cases); i += 3 {
		if cases[i].Structure != linear.Dense || cases[i].FFN != 4*cases[i].Width {
			t.Errorf("case %d = %+v: each group must start with dense at f = 4d", i, cases[i])
		}
	}
}

func TestRunFFN(t *testing.T) {
	backend := testbackend.Go(t)
	cases := FFNGrid{
		Structures: linear.Kinds, Fractions: []float64{linear.Fraction32},
		Widths: []int{32}, Tokens: []int{8}, Passes: []string{Forward, Backward},
	}.Cases()
	res, err := RunFFN(backend, "go", cases, Timing{MinReps: 1}, nil)
	if err != nil {
		t.Fatal(err)
	}
	if len(res) != len(cases) {
		t.Fatalf("%d results for %d cases", len(res), len(cases))
	}
	for _, r := range res {
		fc1, fc2 := linear.FFNSpecs(linear.Dense, 32, 128, 0, 0)
		wantFLOPs := float64(fc1.FLOPsPerToken()+fc2.FLOPsPerToken()) * 8
		if r.Structure != "dense" {
			k, _ := linear.ParseKind(r.Structure)
			fc1, fc2 = linear.FFNSpecs(k, 32, 128, r.Rank, r.NBlocks)
			wantFLOPs = float64(fc1.FLOPsPerToken()+fc2.FLOPsPerToken()) * 8
		}
		if r.Pass == Backward {
			wantFLOPs *= 3
		}
		if r.FLOPs != wantFLOPs || r.Ms <= 0 || r.GFLOPs <= 0 || r.Speedup <= 0 || r.Reps < 1 || r.Backend != "go" {
			t.Errorf("bad result %+v (want FLOPs %g)", r, wantFLOPs)
		}
	}
	if _, err := MeasureFFN(backend, FFNCase{linear.LowRank, 0.3125, 32, 128, 8, "sideways"}, Timing{MinReps: 1}); err == nil {
		t.Error("an unknown pass was accepted")
	}
	if _, err := MeasureFFN(backend, FFNCase{linear.BlockShuffle, 0.5, 32, 128, 8, Forward}, Timing{MinReps: 1}); err == nil {
		t.Error("an unreachable fraction was accepted")
	}
}

func TestTrain(t *testing.T) {
	ctx := train.DefaultContext()
	if _, err := commandline.ParseContextSettings(ctx, "layers=1;d_model=32;heads=2;head_dim=16;ffn=128;context=16;batch=2"); err != nil {
		t.Fatal(err)
	}
	r, err := Train(testbackend.Go(t), "go", ctx, 1, 2, 0, 1)
	if err != nil {
		t.Fatal(err)
	}
	if r.TokPerS <= 0 || r.Steps != 2 || r.DModel != 32 || r.Ctx != 16 || r.Batch != 2 || r.Structure != "lowrank" || r.Rank != 8 || r.MFU <= 0 {
		t.Fatalf("bad result %+v", r)
	}
	if want := r.TokPerS * float64(r.TrainFLOPsPerToken) / 1e12; fmt.Sprintf("%.6g", r.MFU) != fmt.Sprintf("%.6g", want) {
		t.Fatalf("MFU %g, want %g", r.MFU, want)
	}
}

// BenchmarkFFN runs MeasureFFN (compile, warm up, one timed run) for an FFN forward+backward per
// structure at the 32% budget (d=256, 256 tokens) on the pure-Go backend; `structffn bench ffn`
// reports the steady-state times over the full grid on any backend.
func BenchmarkFFN(b *testing.B) {
	backend := testbackend.Go(b)
	for _, k := range linear.Kinds {
		frac := linear.Fraction32
		if k == linear.Dense {
			frac = 1
		}
		b.Run(k.String(), func(b *testing.B) {
			c := FFNCase{k, frac, 256, 1024, 256, Backward}
			for b.Loop() {
				if _, err := MeasureFFN(backend, c, Timing{MinReps: 1, MinTime: time.Nanosecond}); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
