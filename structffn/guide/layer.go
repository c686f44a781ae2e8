package guide

import (
	"fmt"
	"math"
	"math/rand/v2"
	"sync"

	"github.com/gomlx/gomlx/pkg/core/dtypes"
	. "github.com/gomlx/gomlx/pkg/core/graph" //nolint:staticcheck // graph code reads like math.
	"github.com/gomlx/gomlx/pkg/core/tensors"
	"github.com/gomlx/gomlx/pkg/ml/context"
	"github.com/gomlx/gomlx/pkg/ml/train/optimizers"

	"github.com/structffn/structffn/structffn/linear"
	"github.com/structffn/structffn/structffn/model"
)

// WeightGuide is the dense guide W [Out, In] kept beside a structured matrix's weights.
const WeightGuide = "guide"

// Scope and names of the skip decisions, non-trainable float32 vectors [n] (1: on, 0: skipped) that
// the host sets before every forward call (Guides.SetDecisions).
const (
	DecisionScope = "/sgt"
	onName        = "on"     // this forward call's decisions: which guides the layers mix in
	updateName    = "update" // this optimizer step's: which guides the optimizer updates
)

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

// Guides is self-guided training's graph side for one model (docs/METHOD.md §3). Its Linear builds every
// structured FFN matrix as
//
//	o = α·W x + (1−α)·f(x) + b   when the matrix's guide is on for this forward call,
//	o = f(x) + b                 when it is skipped,
//
// with f the structured map, W its dense guide (initialised to f's merged operator), α from the
// schedule at the optimizer step, and the on/off decisions drawn on the host (Schedule.Draw) and
// passed in as a variable. Every guide is computed and the skipped ones are masked out (GoMLX
// v0.26.0 has no conditional op, and one graph per pattern would mean up to 2^n compiles): a
// skipped guide contributes nothing to the output and gets an exactly zero gradient, and
// UpdateMask tells the optimizer to leave it, and its moments, untouched on that step, as PyTorch's
// AdamW does for a parameter without a gradient in the reference code. Steps on which every guide
// is skipped, and all steps after the guided window, run the plain model's graph instead, which
// does not contain the guides at all.
//
// A Guides is safe for concurrent graph building.
type Guides struct {
	Schedule Schedule
	Init     InitRule
	n        int

	mu    sync.Mutex
	index map[string]int // guide scope → build order (the same in every graph)
}

// NewGuides returns the guided layers of a model with n structured FFN matrices (GuidedMatrices)
// under schedule s, their guides initialised by init.
func NewGuides(n int, s Schedule, init InitRule) *Guides {
	return &Guides{Schedule: s, Init: init, n: n, index: map[string]int{}}
}

// N is the number of guided matrices (the length of the decision vectors).
func (g *Guides) N() int { return g.n }

// LinearFn returns a fresh model.LinearFn for one graph: it numbers the structured matrices in the
// order the model builds them (the same in every graph) and builds each with Linear's formula.
// Dense specs (the first block's FFN) pass through unguided.
func (g *Guides) LinearFn() model.LinearFn {
	next := 0
	return func(ctx *context.Context, spec linear.Spec, x *Node) *Node {
		if spec.Kind == linear.Dense {
			return linear.Layer(ctx, spec, x)
		}
		i := next
		next++
		g.register(ctx.Scope(), i)
		return g.guided(ctx, spec, x, i)
	}
}

// register records that the guide in scope is matrix i, checking that every graph agrees.
func (g *Guides) register(scope string, i int) {
	if i >= g.n {
		panic(fmt.Errorf("guide: the model built more structured matrices (%d) than its config has (%d)", i+1, g.n))
	}
	g.mu.Lock()
	defer g.mu.Unlock()
	if j, ok := g.index[scope]; ok && j != i {
		panic(fmt.Errorf("guide: scope %s was matrix %d in one graph and %d in another", scope, j, i))
	}
	g.index[scope] = i
}

// guided builds matrix i: f(x) mixed with α·W x where decision i is on, plus the bias.
func (g *Guides) guided(ctx *context.Context, spec linear.Spec, x *Node, i int) *Node {
	if err := spec.Validate(); err != nil {
		panic(err)
	}
	gr := x.Graph()
	w := linear.Variables(ctx, gr, spec)
	guide := g.guideVariable(ctx, spec).ValueGraph(gr) // [Out, In]
	noBias := spec
	noBias.Bias = false
	f := linear.Apply(noBias, w, x)                                                              // [..., Out]
	wx := DotGeneral(x, []int{x.Rank() - 1}, nil, ConvertDType(guide, x.DType()), []int{1}, nil) // [..., Out]
	// α of the optimizer step: the root scope's global step (the layer's own scope would hold a
	// separate counter that nothing advances).
	step := optimizers.GetGlobalStepVar(ctx.InAbsPath(context.RootScope)).ValueGraph(gr)
	alpha := ConvertDType(g.Schedule.AlphaGraph(step), x.DType())
	mixed := Add(Mul(alpha, wx), Mul(OneMinus(alpha), f)) // α·W x + (1−α)·f(x), the reference's order
	o := Where(g.decision(ctx, gr, onName, i), mixed, f)  // skipped: exactly f(x), zero gradient to W
	if spec.Bias {
		o = Add(o, ExpandLeftToRank(ConvertDType(w[linear.WeightBias], x.DType()), o.Rank()))
	}
	return o
}

// decision is element i of the named decision vector as a boolean scalar.
func (g *Guides) decision(ctx *context.Context, gr *Graph, name string, i int) *Node {
	v := g.decisionVariable(ctx, name).ValueGraph(gr) // [n]
	return GreaterThan(Reshape(Slice(v, AxisElem(i))), ScalarZero(gr, dtypes.Float32))
}

// decisionVariable returns (creating it, all off) the named decision vector [n].
func (g *Guides) decisionVariable(ctx *context.Context, name string) *context.Variable {
	c := ctx.InAbsPath(DecisionScope).Checked(false)
	if v := c.GetVariable(name); v != nil {
		return v
	}
	return c.VariableWithValue(name, make([]float32, g.n)).SetTrainable(false)
}

// UpdateMask is the optimizer's hook (train.AdamW.UpdateMask): for the guide of a matrix this
// Guides built, the boolean scalar "update it on this step" (its decision was on in at least one
// forward call of the step); nil for every other variable (always updated).
func (g *Guides) UpdateMask(ctx *context.Context, v *context.Variable, gr *Graph) *Node {
	if v.Name() != WeightGuide {
		return nil
	}
	g.mu.Lock()
	i, ok := g.index[v.Scope()]
	g.mu.Unlock()
	if !ok {
		return nil
	}
	return g.decision(ctx, gr, updateName, i)
}

// SetDecisions sets, before a forward call, the decisions the guided graph reads: on for this call
// and update for the step (on in any call of it), each of length N().
func (g *Guides) SetDecisions(ctx *context.Context, on, update []bool) error {
	for _, d := range []struct {
		name string
		v    []bool
	}{{onName, on}, {updateName, update}} {
		if len(d.v) != g.n {
			return fmt.Errorf("guide: %d %s decisions for %d guided matrices", len(d.v), d.name, g.n)
		}
		vals := make([]float32, g.n)
		for i, b := range d.v {
			if b {
				vals[i] = 1
			}
		}
		g.decisionVariable(ctx, d.name).SetValue(tensors.FromFlatDataAndDimensions(vals, g.n))
	}
	return nil
}

// guideVariable returns the scope's guide, creating it from the structured weights' current values
// (the initialisation, or a checkpoint's) by the Init rule.
func (g *Guides) guideVariable(ctx *context.Context, spec linear.Spec) *context.Variable {
	if v := ctx.GetVariable(WeightGuide); v != nil {
		return v
	}
	host := linear.HostWeights{}
	for _, wt := range spec.Weights() {
		host[wt.Name] = tensors.MustCopyFlatData[float32](ctx.GetVariable(wt.Name).MustValue())
	}
	merge := spec.Merge
	if g.Init == ReferenceInit {
		merge = spec.MergeReference
	}
	merged, err := merge(host)
	if err != nil {
		panic(err)
	}
	return ctx.VariableWithValue(WeightGuide, tensors.FromFlatDataAndDimensions(merged, spec.Out, spec.In))
}

// Draw is one forward call's skip decisions for n guided matrices at the 0-based optimizer step:
// on[i] = !Skip(u_i, α(step)) with u_i ~ U(0,1) (Shared: one u for all). The stream is a pure
// function of (seed, step, call), call numbering the forward calls of the step (the micro-batches
// under grad_accum; 0 when the decisions are drawn once per step), so a resumed run draws the same.
func (s Schedule) Draw(seed uint64, step int64, call, n int, rule SkipRule) []bool {
	r := rand.New(rand.NewPCG(seed^0x5347545f736b6970^uint64(call)*0x9e3779b97f4a7c15, uint64(step)))
	alpha := s.Alpha(step)
	on := make([]bool, n)
	u := r.Float64()
	for i := range on {
		if i > 0 && rule == PerMatrix {
			u = r.Float64()
		}
		on[i] = !Skip(u, alpha)
	}
	return on
}

// GuidedMatrices is the number of structured FFN matrices of cfg (each has a guide).
func GuidedMatrices(cfg model.Config) int { return len(guidedSpecs(cfg)) }
