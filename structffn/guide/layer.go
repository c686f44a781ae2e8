package guide

import (
	"math"
	"math/rand/v2"
	"slices"
	"strings"

	"github.com/gomlx/gomlx/pkg/core/dtypes"
	. "github.com/gomlx/gomlx/pkg/core/graph" //nolint:staticcheck // graph code reads like math.
	"github.com/gomlx/gomlx/pkg/core/shapes"
	"github.com/gomlx/gomlx/pkg/core/tensors"
	"github.com/gomlx/gomlx/pkg/ml/context"
	"github.com/gomlx/gomlx/pkg/ml/train/optimizers"

	"github.com/structffn/structffn/structffn/linear"
	"github.com/structffn/structffn/structffn/model"
)

// WeightGuide is the dense guide W [Out, In] kept beside a structured matrix's weights.
const WeightGuide = "guide"

// AlphaGraph is Alpha computed in the graph from the optimizer step (int64 scalar): a float32 scalar.
func (s Schedule) AlphaGraph(step *Node) *Node {
	g := step.Graph()
	if s.Steps <= 0 {
		return Scalar(g, dtypes.Float32, 0)
	}
	t := ConvertDType(step, dtypes.Float32)
	frac := MinScalar(DivScalar(t, float64(s.Steps)), 1) // t/T, capped: α = 0 from T on
	var alpha *Node
	if s.Kind == Linear {
		alpha = OneMinus(frac)
	} else {
		alpha = MulScalar(AddScalar(Cos(MulScalar(frac, math.Pi)), 1), 0.5)
	}
	return Where(GreaterOrEqual(t, Scalar(g, dtypes.Float32, float64(s.Steps))), ZerosLike(alpha), alpha)
}

// Linear returns a model.LinearFn that builds a self-guided structured matrix (PAPER.md §3): the
// structured weights of linear.Layer plus a dense guide W initialised to their merged operator, and
//
//	o = α·W x + (1−α)·f(x) + b   when the layer draws u ~ U(0,1) < α, else  o = f(x) + b,
//
// with α = s.AlphaGraph(optimizer step) and one u per layer per call (Skip). Dense specs (the first
// block's FFN) pass through unguided. The guide term is masked, not branched (GoMLX v0.26.0 has no
// conditional op), so this graph always spends the guide's FLOPs; the accounting (GuideTrainFLOPs)
// counts the paper's expected cost.
func (s Schedule) Linear(ctx *context.Context, spec linear.Spec, x *Node) *Node {
	if spec.Kind == linear.Dense {
		return linear.Layer(ctx, spec, x)
	}
	u := ctx.RandomUniform(x.Graph(), shapes.Make(dtypes.Float32))
	return s.guided(ctx, spec, x, func(alpha *Node) *Node {
		return ConvertDType(LessThan(u, alpha), dtypes.Float32) // 1: guide on (u < α), 0: skipped
	})
}

// guided builds o = f(x) + on·α·(W x − f(x)) + b, with on(α) the 0/1 float32 scalar of the skip draw.
func (s Schedule) guided(ctx *context.Context, spec linear.Spec, x *Node, on func(alpha *Node) *Node) *Node {
	if err := spec.Validate(); err != nil {
		panic(err)
	}
	g := x.Graph()
	w := linear.Variables(ctx, g, spec)
	guide := guideVariable(ctx, spec).ValueGraph(g) // [Out, In]
	noBias := spec
	noBias.Bias = false
	f := linear.Apply(noBias, w, x)                                                              // [..., Out]
	wx := DotGeneral(x, []int{x.Rank() - 1}, nil, ConvertDType(guide, x.DType()), []int{1}, nil) // [..., Out]
	// α of the optimizer step: the root scope's global step (a layer's own scope would hold a separate
	// counter that nothing advances, so α would stay 1).
	alpha := s.AlphaGraph(optimizers.GetGlobalStepVar(ctx.InAbsPath(context.RootScope)).ValueGraph(g))
	mix := ConvertDType(Mul(on(alpha), alpha), x.DType())
	o := Add(f, Mul(mix, Sub(wx, f))) // α·Wx + (1−α)·f when on, f when skipped
	if spec.Bias {
		o = Add(o, ExpandLeftToRank(ConvertDType(w[linear.WeightBias], x.DType()), o.Rank()))
	}
	return o
}

// Pattern is one step's skip decisions drawn on the host: On[i] for the i-th structured matrix in the
// order the model builds them. Its String is the trainer's graph key, so each pattern compiles once
// and a skipped guide costs nothing (GoMLX v0.26.0 has no conditional op to skip it in one graph).
type Pattern []bool

// String is "guided:" and one 0/1 per matrix.
func (p Pattern) String() string {
	b := []byte("guided:")
	for _, on := range p {
		if on {
			b = append(b, '1')
		} else {
			b = append(b, '0')
		}
	}
	return string(b)
}

// Any reports whether any guide is on.
func (p Pattern) Any() bool { return slices.Contains(p, true) }

// ParsePattern reads Pattern.String's form.
func ParsePattern(s string) (Pattern, bool) {
	bits, ok := strings.CutPrefix(s, "guided:")
	if !ok {
		return nil, false
	}
	p := make(Pattern, len(bits))
	for i, c := range bits {
		p[i] = c == '1'
	}
	return p, true
}

// DrawPattern draws the step's decisions for n guided matrices: u_i ~ U(0,1) from a stream that is a
// pure function of (seed, step), On[i] = !Skip(u_i, α(step)).
func (s Schedule) DrawPattern(seed uint64, step int64, n int) Pattern {
	r := rand.New(rand.NewPCG(seed^0x5347545f736b6970, uint64(step)))
	alpha := s.Alpha(step)
	p := make(Pattern, n)
	for i := range p {
		p[i] = !Skip(r.Float64(), alpha)
	}
	return p
}

// LinearFor returns a model.LinearFn that guides the i-th structured matrix it builds when p[i] and
// builds the others as plain structured layers (their guides exist but are not computed).
func (s Schedule) LinearFor(p Pattern) model.LinearFn {
	next := 0
	return func(ctx *context.Context, spec linear.Spec, x *Node) *Node {
		if spec.Kind == linear.Dense {
			return linear.Layer(ctx, spec, x)
		}
		i := next
		next++
		linear.Variables(ctx, x.Graph(), spec)
		guideVariable(ctx, spec) // every guide exists from the first step on, whichever is drawn
		if i >= len(p) || !p[i] {
			return linear.Layer(ctx, spec, x)
		}
		return s.guided(ctx, spec, x, func(alpha *Node) *Node { return OnesLike(alpha) })
	}
}

// GuidedMatrices is the number of structured FFN matrices of cfg (each has a guide).
func GuidedMatrices(cfg model.Config) int { return len(guidedSpecs(cfg)) }

// guideVariable returns the scope's guide, creating it from the merged structured weights (their
// current values: the initialisation, or a checkpoint's).
func guideVariable(ctx *context.Context, spec linear.Spec) *context.Variable {
	if v := ctx.GetVariable(WeightGuide); v != nil {
		return v
	}
	host := linear.HostWeights{}
	for _, wt := range spec.Weights() {
		host[wt.Name] = tensors.MustCopyFlatData[float32](ctx.GetVariable(wt.Name).MustValue())
	}
	merged, err := spec.Merge(host)
	if err != nil {
		panic(err)
	}
	return ctx.VariableWithValue(WeightGuide, tensors.FromFlatDataAndDimensions(merged, spec.Out, spec.In))
}

// Options returns model options that guide every structured FFN matrix with schedule s.
func (s Schedule) Options() model.Options { return model.Options{FFNLinear: s.Linear} }
