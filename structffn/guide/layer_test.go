package guide

import (
	"math"
	"math/rand/v2"
	"slices"
	"testing"

	"github.com/gomlx/gomlx/pkg/core/dtypes"
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

// guidedAndPlain runs one guided matrix (decision on or off) and linear.Layer on the same weights and
// input at an optimizer step, returning both outputs and the gradient of the guided output's sum
// w.r.t. the guide.
func guidedAndPlain(t *testing.T, spec linear.Spec, s Schedule, step int64, on, zeroGuide bool) (guided, plain, guideGrad []float32) {
	t.Helper()
	ctx := context.New()
	ctx.SetParam(linear.ParamSeed, 3)
	r := rand.New(rand.NewPCG(1, 1))
	x := make([]float32, 5*spec.In)
	for i := range x {
		x[i] = float32(r.NormFloat64())
	}
	guides := NewGuides(1, s, MergedInit)
	if err := guides.SetDecisions(ctx, []bool{on}, []bool{on}); err != nil {
		t.Fatal(err)
	}
	exec := context.MustNewExec(testbackend.Go(t), ctx, func(ctx *context.Context, x *Node) []*Node {
		optimizers.GetGlobalStepVar(ctx)
		ctx = ctx.In("block").In("fc1") // as deep as the model's matrices: α must follow the root's step
		o := guides.LinearFn()(ctx, spec, x)
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

// TestGuidedLayer: at step 0 (α = 1) a guide that is on makes the output W·x + b with W the merged
// structured operator, so it equals the structured output, and it really is W's (a zero guide gives
// the bias). A skipped guide, and any guide after the window (α = 0), leave exactly the structured
// output and get no gradient.
func TestGuidedLayer(t *testing.T) {
	s := Schedule{Cosine, 10}
	for _, spec := range []linear.Spec{
		{Kind: linear.LowRank, In: 16, Out: 64, Rank: 4, Bias: true},
		{Kind: linear.BlockDense, In: 16, Out: 64, Rank: 8, NBlocks: 2, Bias: true},
		{Kind: linear.BlockShuffle, In: 64, Out: 16, NBlocks: 4, Bias: true},
	} {
		t.Run(spec.Kind.String(), func(t *testing.T) {
			guided, plain, grad := guidedAndPlain(t, spec, s, 0, true, false)
			if d := maxAbsDiff(guided, plain); d > 1e-5 {
				t.Errorf("step 0: guided output differs from the structured one by %g", d)
			}
			if maxAbsDiff(grad, make([]float32, len(grad))) == 0 {
				t.Errorf("step 0, guide on: no gradient reaches the guide")
			}
			guided, _, _ = guidedAndPlain(t, spec, s, 0, true, true)
			if d := maxAbsDiff(guided, make([]float32, len(guided))); d != 0 {
				t.Errorf("step 0 with a zero guide: output %g away from the bias", d)
			}
			// Mid-window with a zero guide (and the zero initial bias): (1−α)·f(x), α of step 5.
			guided, plain, _ = guidedAndPlain(t, spec, s, 5, true, true)
			for i := range plain {
				plain[i] *= float32(1 - s.Alpha(5))
			}
			if d := maxAbsDiff(guided, plain); d > 1e-5 {
				t.Errorf("step 5 with a zero guide: output %g away from (1−α(5))·f(x)", d)
			}
			for _, c := range []struct {
				name string
				step int64
				on   bool
			}{{"skipped at step 0", 0, false}, {"skipped mid-window", 5, false}, {"on after the window", 10, true}} {
				guided, plain, grad := guidedAndPlain(t, spec, s, c.step, c.on, false)
				if d := maxAbsDiff(guided, plain); d != 0 {
					t.Errorf("%s: output differs from the structured one by %g", c.name, d)
				}
				if d := maxAbsDiff(grad, make([]float32, len(grad))); d != 0 {
					t.Errorf("%s: the guide gets gradient %g", c.name, d)
				}
			}
		})
	}
}

// TestDraw: each matrix's guide is on with probability α(step); the draw is a pure function of
// (seed, step, call); the shared rule decides all matrices at once; calls draw independently.
func TestDraw(t *testing.T) {
	s := Schedule{Cosine, 100}
	const draws = 4000
	for _, step := range []int64{0, 25, 50, 75, 100} {
		alpha := s.Alpha(step)
		se := math.Sqrt(alpha*(1-alpha)/draws) + 1e-9
		on := s.Draw(7, step, 0, draws, PerMatrix)
		if got := fraction(on); math.Abs(got-alpha) > 4*se {
			t.Errorf("step %d: guide on in %.3f of matrices, α = %.3f", step, got, alpha)
		}
		if again := s.Draw(7, step, 0, draws, PerMatrix); !slices.Equal(on, again) {
			t.Errorf("step %d: the draw is not a pure function of (seed, step, call)", step)
		}
		// Shared: all or none, on in a fraction α of the calls.
		var calls []bool
		for call := range draws {
			d := s.Draw(7, step, call, 5, Shared)
			for _, b := range d {
				if b != d[0] {
					t.Fatalf("step %d call %d: shared draw %v is not all-or-none", step, call, d)
				}
			}
			calls = append(calls, d[0])
		}
		if got := fraction(calls); math.Abs(got-alpha) > 4*se {
			t.Errorf("step %d: shared guides on in %.3f of calls, α = %.3f", step, got, alpha)
		}
	}
	if a, b := s.Draw(7, 30, 0, 64, PerMatrix), s.Draw(7, 30, 1, 64, PerMatrix); slices.Equal(a, b) {
		t.Error("calls 0 and 1 of a step drew the same 64 decisions")
	}
}

func fraction(v []bool) float64 {
	n := 0
	for _, b := range v {
		if b {
			n++
		}
	}
	return float64(n) / float64(len(v))
}

// TestLinearFnNumbersMatricesInBuildOrder builds two structured matrices with decisions [on, off] at
// step 0 (α = 1) and zero guides: the first is W·x + b = 0, the second the plain structured output;
// UpdateMask reports the same decisions for their guides, and nil for other variables.
func TestLinearFnNumbersMatricesInBuildOrder(t *testing.T) {
	spec := linear.Spec{Kind: linear.LowRank, In: 16, Out: 16, Rank: 4, Bias: true}
	guides := NewGuides(2, Schedule{Cosine, 10}, MergedInit)
	ctx := context.New()
	if err := guides.SetDecisions(ctx, []bool{true, false}, []bool{true, false}); err != nil {
		t.Fatal(err)
	}
	x := make([]float32, 3*16)
	for i := range x {
		x[i] = float32(i%7) - 3
	}
	exec := context.MustNewExec(testbackend.Go(t), ctx, func(ctx *context.Context, x *Node) []*Node {
		lin := guides.LinearFn()
		a := lin(ctx.In("a"), spec, x)
		b := lin(ctx.In("b"), spec, x)
		plainB := linear.Layer(ctx.In("b"), spec, x)
		g := x.Graph()
		masks := []*Node{a, b, plainB}
		for _, scope := range []string{"/a", "/b"} {
			masks = append(masks, ConvertDType(guides.UpdateMask(ctx, ctx.GetVariableByScopeAndName(scope, WeightGuide), g), dtypes.Float32))
		}
		if guides.UpdateMask(ctx, ctx.GetVariableByScopeAndName("/a", linear.WeightU), g) != nil {
			panic("UpdateMask for a structured weight")
		}
		return masks
	})
	in := tensors.FromFlatDataAndDimensions(x, 3, 16)
	exec.MustExec(in)
	for _, scope := range []string{"/a", "/b"} {
		ctx.GetVariableByScopeAndName(scope, WeightGuide).SetValue(tensors.FromFlatDataAndDimensions(make([]float32, 16*16), 16, 16))
	}
	out := exec.MustExec(in)
	a, b, plainB := tensors.MustCopyFlatData[float32](out[0]), tensors.MustCopyFlatData[float32](out[1]), tensors.MustCopyFlatData[float32](out[2])
	if d := maxAbsDiff(a, make([]float32, len(a))); d != 0 {
		t.Errorf("drawn matrix did not use its (zero) guide: %g from zero", d)
	}
	if d := maxAbsDiff(b, plainB); d != 0 {
		t.Errorf("skipped matrix differs from the plain structured layer by %g", d)
	}
	if ua, ub := tensors.ToScalar[float32](out[3]), tensors.ToScalar[float32](out[4]); ua != 1 || ub != 0 {
		t.Errorf("update masks %v %v, want 1 0", ua, ub)
	}
}

// TestGuideInit: a guide starts as its matrix's exact merged operator, or with ReferenceInit as the
// reference code's (for BlockShuffle, linear.Spec.MergeReference: no permutations).
func TestGuideInit(t *testing.T) {
	spec := linear.Spec{Kind: linear.BlockShuffle, In: 16, Out: 32, NBlocks: 4}
	for _, init := range []InitRule{MergedInit, ReferenceInit} {
		ctx := context.New()
		guides := NewGuides(1, Schedule{Cosine, 10}, init)
		if err := guides.SetDecisions(ctx, []bool{true}, []bool{true}); err != nil {
			t.Fatal(err)
		}
		exec := context.MustNewExec(testbackend.Go(t), ctx, func(ctx *context.Context, x *Node) *Node {
			optimizers.GetGlobalStepVar(ctx)
			return guides.LinearFn()(ctx.In("fc1"), spec, x)
		})
		exec.MustExec(tensors.FromFlatDataAndDimensions(make([]float32, 2*16), 2, 16))
		c := ctx.In("fc1")
		host := linear.HostWeights{}
		for _, w := range spec.Weights() {
			host[w.Name] = tensors.MustCopyFlatData[float32](c.GetVariable(w.Name).MustValue())
		}
		want, _ := spec.Merge(host)
		if init == ReferenceInit {
			want, _ = spec.MergeReference(host)
		}
		if got := tensors.MustCopyFlatData[float32](c.GetVariable(WeightGuide).MustValue()); !slices.Equal(got, want) {
			t.Errorf("%s: the guide is not the %s merge", init, init)
		}
	}
}
