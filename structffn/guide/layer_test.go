package guide

import (
	"math"
	"math/rand/v2"
	"testing"

	. "github.com/gomlx/gomlx/pkg/core/graph"
	"github.com/gomlx/gomlx/pkg/core/tensors"
	"github.com/gomlx/gomlx/pkg/ml/context"
	"github.com/gomlx/gomlx/pkg/ml/train/optimizers"

	"github.com/structffn/structffn/internal/testbackend"
	"github.com/structffn/structffn/structffn/linear"
)

func TestAlphaGraphMatchesAlpha(t *testing.T) {
	b := testbackend.Go(t)
	for _, s := range []Schedule{{Cosine, 40}, {Linear, 40}, {Cosine, 0}} {
		exec := MustNewExec(b, func(step *Node) *Node { return s.AlphaGraph(step) })
		for _, step := range []int64{0, 1, 10, 20, 39, 40, 41, 1000} {
			got := float64(tensors.ToScalar[float32](exec.MustExec(step)[0]))
			if want := s.Alpha(step); math.Abs(got-want) > 1e-6 {
				t.Errorf("%s T=%d step %d: graph α %.7f, host α %.7f", s.Kind, s.Steps, step, got, want)
			}
		}
	}
}

// guidedAndPlain runs the guided layer and linear.Layer on the same weights and input at an
// optimizer step, returning both outputs and the gradient of the guided output's sum w.r.t. the guide.
func guidedAndPlain(t *testing.T, spec linear.Spec, s Schedule, step int64, zeroGuide bool) (guided, plain, guideGrad []float32) {
	t.Helper()
	ctx := context.New()
	ctx.SetParam(linear.ParamSeed, 3)
	r := rand.New(rand.NewPCG(1, 1))
	x := make([]float32, 5*spec.In)
	for i := range x {
		x[i] = float32(r.NormFloat64())
	}
	exec := context.MustNewExec(testbackend.Go(t), ctx, func(ctx *context.Context, x *Node) []*Node {
		optimizers.GetGlobalStepVar(ctx)
		ctx = ctx.In("block").In("fc1") // as deep as the model's matrices: α must follow the root's step
		o := s.Linear(ctx, spec, x)
		y := linear.Layer(ctx, spec, x)
		grad := Gradient(ReduceAllSum(o), ctx.GetVariable(WeightGuide).ValueGraph(x.Graph()))[0]
		return []*Node{o, y, grad}
	})
	// Build once (creates the variables), set the step, run.
	if _, err := exec.Exec(tensors.FromFlatDataAndDimensions(x, 5, spec.In)); err != nil {
		t.Fatal(err)
	}
	optimizers.GetGlobalStepVar(ctx).SetValue(tensors.FromScalar(step))
	if zeroGuide {
		ctx.In("block").In("fc1").GetVariable(WeightGuide).SetValue(tensors.FromFlatDataAndDimensions(make([]float32, spec.Out*spec.In), spec.Out, spec.In))
	}
	out := exec.MustExec(tensors.FromFlatDataAndDimensions(x, 5, spec.In))
	return tensors.MustCopyFlatData[float32](out[0]), tensors.MustCopyFlatData[float32](out[1]), tensors.MustCopyFlatData[float32](out[2])
}

func maxAbsDiff(a, b []float32) float64 {
	d := 0.0
	for i := range a {
		d = math.Max(d, math.Abs(float64(a[i]-b[i])))
	}
	return d
}

// TestGuidedLayer: at step 0 (α = 1, the guide always on) the output is W·x + b with W the merged
// structured operator, so it equals the structured output; after the window the guide is off (the
// output is exactly the structured one and the guide gets no gradient).
func TestGuidedLayer(t *testing.T) {
	s := Schedule{Cosine, 10}
	for _, spec := range []linear.Spec{
		{Kind: linear.LowRank, In: 16, Out: 64, Rank: 4, Bias: true},
		{Kind: linear.BlockDense, In: 16, Out: 64, Rank: 8, NBlocks: 2, Bias: true},
		{Kind: linear.BlockShuffle, In: 64, Out: 16, NBlocks: 4, Bias: true},
	} {
		t.Run(spec.Kind.String(), func(t *testing.T) {
			guided, plain, _ := guidedAndPlain(t, spec, s, 0, false)
			if d := maxAbsDiff(guided, plain); d > 1e-5 {
				t.Errorf("step 0: guided output differs from the structured one by %g", d)
			}
			// The guide is really what step 0 computes: with W = 0 the output is the bias (zero).
			guided, _, _ = guidedAndPlain(t, spec, s, 0, true)
			if d := maxAbsDiff(guided, make([]float32, len(guided))); d != 0 {
				t.Errorf("step 0 with a zero guide: output %g away from the bias", d)
			}
			guided, plain, grad := guidedAndPlain(t, spec, s, 10, false)
			if d := maxAbsDiff(guided, plain); d != 0 {
				t.Errorf("after the window: guided output differs from the structured one by %g", d)
			}
			for _, g := range grad {
				if g != 0 {
					t.Fatalf("after the window the guide still gets gradient %g", g)
				}
			}
		})
	}
}

func TestDrawPattern(t *testing.T) {
	s := Schedule{Cosine, 100}
	for _, step := range []int64{0, 25, 50, 75, 100} {
		const draws = 4000
		on := 0
		p := s.DrawPattern(7, step, draws)
		for _, b := range p {
			if b {
				on++
			}
		}
		alpha := s.Alpha(step)
		se := math.Sqrt(alpha*(1-alpha)/draws) + 1e-9
		if got := float64(on) / draws; math.Abs(got-alpha) > 4*se {
			t.Errorf("step %d: guide on in %.3f of draws, α = %.3f", step, got, alpha)
		}
		if q := s.DrawPattern(7, step, draws); q.String() != p.String() {
			t.Errorf("step %d: the draw is not a pure function of (seed, step)", step)
		}
	}
	if p, ok := ParsePattern(Pattern{true, false, true}.String()); !ok || p.String() != "guided:101" || !p.Any() {
		t.Errorf("pattern round trip: %v %v", p, ok)
	}
	if _, ok := ParsePattern("guided"); ok {
		t.Error("ParsePattern accepted the masked graph's key")
	}
}

// TestLinearForGuidesOnlyDrawnMatrices builds two structured matrices with pattern [on, off] at
// step 0 (α = 1) and zero guides: the first is W·x + b = 0, the second the plain structured output.
func TestLinearForGuidesOnlyDrawnMatrices(t *testing.T) {
	spec := linear.Spec{Kind: linear.LowRank, In: 16, Out: 16, Rank: 4, Bias: true}
	s := Schedule{Cosine, 10}
	ctx := context.New()
	x := make([]float32, 3*16)
	for i := range x {
		x[i] = float32(i%7) - 3
	}
	exec := context.MustNewExec(testbackend.Go(t), ctx, func(ctx *context.Context, x *Node) []*Node {
		lin := s.LinearFor(Pattern{true, false})
		a := lin(ctx.In("a"), spec, x)
		b := lin(ctx.In("b"), spec, x)
		plainB := linear.Layer(ctx.In("b"), spec, x)
		return []*Node{a, b, plainB}
	})
	in := tensors.FromFlatDataAndDimensions(x, 3, 16)
	exec.MustExec(in)
	for _, scope := range []string{"/a", "/b"} {
		v := ctx.GetVariableByScopeAndName(scope, WeightGuide)
		if v == nil {
			t.Fatalf("no guide in %s", scope)
		}
		v.SetValue(tensors.FromFlatDataAndDimensions(make([]float32, 16*16), 16, 16))
	}
	out := exec.MustExec(in)
	a, b, plainB := tensors.MustCopyFlatData[float32](out[0]), tensors.MustCopyFlatData[float32](out[1]), tensors.MustCopyFlatData[float32](out[2])
	if d := maxAbsDiff(a, make([]float32, len(a))); d != 0 {
		t.Errorf("drawn matrix did not use its (zero) guide: %g from zero", d)
	}
	if d := maxAbsDiff(b, plainB); d != 0 {
		t.Errorf("skipped matrix differs from the plain structured layer by %g", d)
	}
}
