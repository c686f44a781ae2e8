package bench

import (
	"fmt"
	"math"
	"strings"
	"testing"
	"time"

	"github.com/gomlx/gomlx/pkg/core/dtypes"
	"github.com/gomlx/gomlx/ui/commandline"

	"github.com/structffn/structffn/internal/testbackend"
	"github.com/structffn/structffn/structffn/linear"
	"github.com/structffn/structffn/structffn/model"
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
	if _, err := MeasureFFN(backend, FFNCase{Structure: linear.LowRank, Fraction: 0.3125, Width: 32, FFN: 128, Tokens: 8, Pass: "sideways"}, Timing{MinReps: 1}); err == nil {
		t.Error("an unknown pass was accepted")
	}
	if _, err := MeasureFFN(backend, FFNCase{Structure: linear.BlockShuffle, Fraction: 0.5, Width: 32, FFN: 128, Tokens: 8, Pass: Forward}, Timing{MinReps: 1}); err == nil {
		t.Error("an unreachable fraction was accepted")
	}
}

// TestTrain measures a few steps of the settings train.Run honours (dtype, grad_accum, devices) and
// checks the record's shape, its MFU accounting, and one-line errors for settings that cannot run.
func TestTrain(t *testing.T) {
	const model = "layers=1;d_model=32;heads=2;head_dim=16;ffn=128;context=16;batch=4;"
	for _, tc := range []struct {
		settings, dtype string
		accum           int
		err             string
	}{
		{"", "float32", 1, ""},
		{"dtype=bfloat16;grad_accum=2", "bfloat16", 2, ""},
		{"devices=2", "", 0, "backend go has 1 device(s)"},
		{"grad_accum=3", "", 0, "grad_accum=3 must be a positive divisor of the batch (4 sequences)"},
		{"dtype=fp8", "", 0, "allowed values are float32, bfloat16"},
	} {
		ctx := train.DefaultContext()
		if _, err := commandline.ParseContextSettings(ctx, model+tc.settings); err != nil {
			t.Fatal(err)
		}
		r, err := Train(testbackend.Go(t), "go", ctx, 1, 2, 0, 1)
		if tc.err != "" {
			if err == nil || !strings.Contains(err.Error(), tc.err) {
				t.Errorf("%s: error %v, want %q", tc.settings, err, tc.err)
			}
			continue
		}
		if err != nil {
			t.Fatalf("%s: %v", tc.settings, err)
		}
		if r.TokPerS <= 0 || r.Steps != 2 || r.DModel != 32 || r.Ctx != 16 || r.Batch != 4 || r.Structure != "lowrank" || r.Rank != 8 || r.MFU <= 0 ||
			r.Dtype != tc.dtype || r.GradAccum != tc.accum || r.Devices != 1 || math.IsNaN(r.Loss) {
			t.Fatalf("%s: bad result %+v", tc.settings, r)
		}
		if want := r.TokPerS * float64(r.TrainFLOPsPerToken) / 1e12; fmt.Sprintf("%.6g", r.MFU) != fmt.Sprintf("%.6g", want) {
			t.Fatalf("%s: MFU %g, want %g", tc.settings, r.MFU, want)
		}
	}
}

// TestFFNBFloat16 times a bf16 case: the record says so, and the FLOP accounting is the float32 one's.
func TestFFNBFloat16(t *testing.T) {
	c := FFNCase{Structure: linear.LowRank, Fraction: linear.Fraction32, Width: 32, FFN: 128, Tokens: 8, Pass: Backward}
	f32, err := MeasureFFN(testbackend.Go(t), c, Timing{MinReps: 1})
	if err != nil {
		t.Fatal(err)
	}
	c.Dtype = dtypes.BFloat16
	bf16, err := MeasureFFN(testbackend.Go(t), c, Timing{MinReps: 1})
	if err != nil {
		t.Fatal(err)
	}
	if f32.Dtype != "float32" || bf16.Dtype != "bfloat16" || bf16.FLOPs != f32.FLOPs || bf16.Ms <= 0 {
		t.Errorf("float32 %+v, bfloat16 %+v", f32, bf16)
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
			c := FFNCase{Structure: k, Fraction: frac, Width: 256, FFN: 1024, Tokens: 256, Pass: Backward}
			for b.Loop() {
				if _, err := MeasureFFN(backend, c, Timing{MinReps: 1, MinTime: time.Nanosecond}); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

// TestTrainSGT times the guided window of a small SGT run against the plain model's same steps: the
// record says what was timed, FLOP ratios are consistent (computed ≥ expected > 1), the compile
// count is bounded, and a run without a window is a one-line error.
func TestTrainSGT(t *testing.T) {
	const model = "layers=4;d_model=32;heads=2;head_dim=16;ffn=128;context=16;batch=4;train_steps=12;"
	for _, tc := range []struct{ settings, err string }{
		{"sgt=steps", ""},
		{"sgt=flops;sgt_skip=shared", ""},
		{"sgt=off", "no guided window to time"},
	} {
		ctx := train.DefaultContext()
		if _, err := commandline.ParseContextSettings(ctx, model+tc.settings); err != nil {
			t.Fatal(err)
		}
		r, err := TrainSGT(testbackend.Go(t), "go", ctx, 1)
		if tc.err != "" {
			if err == nil || !strings.Contains(err.Error(), tc.err) || strings.Contains(err.Error(), "\n") {
				t.Errorf("%s: error %v, want one line with %q", tc.settings, err, tc.err)
			}
			continue
		}
		if err != nil {
			t.Fatalf("%s: %v", tc.settings, err)
		}
		s := r.SGT
		if s == nil || s.Matrices != 6 || s.WindowSteps <= 0 || r.Steps != int(s.WindowSteps) || s.SGTWallS <= 0 || s.PlainWallS <= 0 ||
			s.SGTCompiles < 1 || s.SGTCompiles > 2 || s.PlainCompiles != 1 || !(s.FLOPRatio > 1) || s.ComputedFLOPRatio < s.FLOPRatio ||
			math.Abs(s.Overhead-s.SGTWallS/s.PlainWallS/s.FLOPRatio) > 1e-12 || s.GuidedGraphSteps < 1 || s.GuidedGraphSteps > s.WindowSteps {
			t.Fatalf("%s: bad result %+v", tc.settings, s)
		}
		if tc.settings == "sgt=steps" && s.WindowSteps != 6 {
			t.Errorf("sgt=steps over 12 steps: window %d, want 6", s.WindowSteps)
		}
	}
}

// TestBreakdownKinds: each row is the difference of its two variants, "rest" what they leave of
// the whole step, shares of the whole step; missing variants drop their rows.
func TestBreakdownKinds(t *testing.T) {
	ms := map[string]float64{VariantFull: 100, "gelu": 97, "ffn": 67, "softmax": 95, "attention": 75, "rope": 98,
		"projections": 90, "norm": 94, "head": 96, VariantNoUpdate: 92, VariantOverhead: 1}
	rows := BreakdownKinds(ms)
	want := map[string]float64{"FFN matmuls (fc1, fc2, biases)": 30, "GELU": 3, "attention matmuls (QKᵀ, AV)": 20,
		"softmax, mask and scale": 5, "RoPE": 2, "Q, K, V, O projections": 10, "LayerNorms": 6, "LM head (logits) and loss": 4,
		"optimizer (clipping, AdamW)": 8, "executor and host (parameters in, dispatch, loss out)": 1,
		"rest (embedding, residuals, reshapes, transposes)": 11}
	if len(rows) != len(want) {
		t.Fatalf("%d rows, want %d: %+v", len(rows), len(want), rows)
	}
	for _, r := range rows {
		if w, ok := want[r.Kind]; !ok || math.Abs(r.Ms-w) > 1e-9 || math.Abs(r.Share-w/100) > 1e-12 {
			t.Errorf("%s: %g ms (%g), want %g", r.Kind, r.Ms, r.Share, w)
		}
	}
	delete(ms, "rope")
	if rows := BreakdownKinds(ms); len(rows) != len(want)-1 {
		t.Errorf("without the rope variant: %d rows, want %d", len(rows), len(want)-1)
	}
	if BreakdownKinds(map[string]float64{"gelu": 1}) != nil {
		t.Error("rows without the full step")
	}
}

// TestBreakdown runs every variant once on a small model: each is timed, and the rows sum to the
// whole step.
func TestBreakdown(t *testing.T) {
	ctx := train.DefaultContext()
	if _, err := commandline.ParseContextSettings(ctx, "layers=2;d_model=32;heads=2;head_dim=16;ffn=128;context=16;batch=4"); err != nil {
		t.Fatal(err)
	}
	res, err := Breakdown(testbackend.Go(t), "go", ctx, 1, 0, 1, 1)
	if err != nil {
		t.Fatal(err)
	}
	if len(res.Variants) != 2+len(model.Ablations)+1 || res.Model.TokPerS <= 0 {
		t.Fatalf("variants %+v, model %+v", res.Variants, res.Model)
	}
	sum := 0.0
	for _, r := range res.Rows {
		sum += r.Ms
	}
	if full := res.Variants[0].MsPerStep; res.Variants[0].Name != VariantFull || math.Abs(sum-full) > 1e-9*full {
		t.Errorf("rows sum to %g ms, the full step is %g", sum, full)
	}
}
