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
		ctx.GetVariable(WeightGuide).SetValue(tensors.FromFlatDataAndDimensions(make([]float32, spec.Out*spec.In), spec.Out, spec.In))
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
