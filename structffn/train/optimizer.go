package train

import (
	"fmt"

	"github.com/gomlx/gomlx/pkg/core/dtypes"
	. "github.com/gomlx/gomlx/pkg/core/graph" //nolint:staticcheck // graph code reads like math.
	"github.com/gomlx/gomlx/pkg/core/shapes"
	"github.com/gomlx/gomlx/pkg/ml/context"
	"github.com/gomlx/gomlx/pkg/ml/context/initializers"
	"github.com/gomlx/gomlx/pkg/ml/train/optimizers"
)

// AdamW is the paper's optimizer (docs/METHOD.md §4): Adam with decoupled weight decay on all parameters,
// the learning rate of Schedule at every step, and gradients scaled so that their global norm is at
// most Clip (PyTorch's clip_grad_norm_: scale = min(1, Clip/(norm+1e-6))). Its arithmetic is GoMLX's
// Adam (v0.26.0) step for step, with the same state variables, so checkpoints of either resume with
// the other.
//
// UpdateMask, when set, lets a step leave some variables alone: for each variable it returns a
// boolean scalar node (update on this step or not), or nil for "always". A variable whose mask is
// false keeps its value and both moments bit for bit, and its own update count, which its bias
// correction uses instead of the global step, does not advance: PyTorch's AdamW on a parameter that
// got no gradient (self-guided training's skipped guides, docs/METHOD.md §3).
//
// LRMultiplier, when set, scales the learning rate of each variable (both the Adam step and the
// decoupled weight decay, as a PyTorch parameter group's lr does); 1 where it returns 1.
type AdamW struct {
	Schedule          Schedule
	Beta1, Beta2, Eps float64
	WeightDecay, Clip float64
	UpdateMask        func(ctx *context.Context, v *context.Variable, g *Graph) *Node
	LRMultiplier      func(v *context.Variable) float64
}

// NewAdamW builds the optimizer from ctx's hyperparameters for totalSteps optimizer steps at peak
// learning rate peak.
func NewAdamW(ctx *context.Context, peak float64, totalSteps int64) *AdamW {
	return &AdamW{
		Schedule: Schedule{
			Peak:           peak,
			TotalSteps:     totalSteps,
			WarmupFraction: Param[float64](ctx, ParamWarmup),
			MinFraction:    Param[float64](ctx, ParamMinLR),
		},
		Beta1:       Param[float64](ctx, ParamBeta1),
		Beta2:       Param[float64](ctx, ParamBeta2),
		Eps:         Param[float64](ctx, ParamEpsilon),
		WeightDecay: Param[float64](ctx, ParamWeightDecay),
		Clip:        Param[float64](ctx, ParamGradClip),
	}
}

// State variables, where GoMLX's Adam keeps them.
const (
	// GradNormVariable holds the global gradient norm (before clipping) of the last step, in the
	// optimizers scope.
	GradNormVariable = "grad_norm"
	adamScope        = optimizers.AdamDefaultScope // moments: /AdamOptimizer/<scope>/<name>_1st_moment, _2nd_moment
	updatesSuffix    = "_updates"                  // a masked variable's own update count, beside its moments
)

// UpdateGraph implements optimizers.Interface: the gradients of loss for every trainable variable the
// graph uses, then UpdateGraphWithGradients.
func (o *AdamW) UpdateGraph(ctx *context.Context, g *Graph, loss *Node) {
	o.UpdateGraphWithGradients(ctx, ctx.BuildTrainableVariablesGradientsGraph(loss), loss.DType())
}

// UpdateGraphWithGradients applies one step with grads, the gradients of the trainable variables g
// uses in context order (as ctx.BuildTrainableVariablesGradientsGraph returns them; the mean of the
// micro-batches' under gradient accumulation): learning rate of the step, global-norm clipping, the
// AdamW update, and both step counters advanced.
func (o *AdamW) UpdateGraphWithGradients(ctx *context.Context, grads []*Node, _ dtypes.DType) {
	if len(grads) == 0 {
		panic(fmt.Errorf("AdamW: no gradients: the model has no trainable variables"))
	}
	g := grads[0].Graph()
	vars := trainableInUse(ctx, g)
	if len(vars) != len(grads) {
		panic(fmt.Errorf("AdamW: %d gradients for %d trainable variables in use", len(grads), len(vars)))
	}
	// Learning rate of this step: the global step counts the updates already applied.
	globalStep := optimizers.GetGlobalStepVar(ctx)
	lr := o.Schedule.Graph(globalStep.ValueGraph(g)) // float32 scalar
	optimizers.LearningRateVar(ctx, dtypes.Float32, o.Schedule.Peak).SetValueGraph(lr)
	optimizers.IncrementGlobalStepGraph(ctx, g, dtypes.Int64)
	adamStep := optimizers.IncrementGlobalStepGraph(ctx.In(adamScope), g, dtypes.Float32)

	// Global norm over every gradient, in float32 (a skipped guide's gradient is exactly zero).
	var sumSq *Node
	for _, grad := range grads {
		s := ReduceAllSum(Square(ConvertDType(grad, dtypes.Float32)))
		if sumSq == nil {
			sumSq = s
		} else {
			sumSq = Add(sumSq, s)
		}
	}
	norm := Sqrt(sumSq)
	ctx.InAbsPath("/"+optimizers.Scope).Checked(false).
		VariableWithValue(GradNormVariable, float32(0)).SetTrainable(false).SetValueGraph(norm)
	if o.Clip > 0 {
		scale := MinScalar(Inverse(DivScalar(AddScalar(norm, 1e-6), o.Clip)), 1) // min(1, clip/(norm+1e-6))
		for i, grad := range grads {
			grads[i] = Mul(grad, ConvertDType(scale, grad.DType()))
		}
	}
	for i, v := range vars {
		var mask *Node
		if o.UpdateMask != nil {
			mask = o.UpdateMask(ctx, v, g)
		}
		vlr := lr
		if o.LRMultiplier != nil {
			if m := o.LRMultiplier(v); m != 1 {
				vlr = MulScalar(lr, m)
			}
		}
		o.apply(ctx, g, v, grads[i], vlr, adamStep, mask)
	}
}

// trainableInUse lists the trainable variables g uses, in the order BuildTrainableVariablesGradientsGraph
// returns their gradients.
func trainableInUse(ctx *context.Context, g *Graph) []*context.Variable {
	var vars []*context.Variable
	for v := range ctx.IterVariables() {
		if v.Trainable && v.InUseByGraph(g) {
			vars = append(vars, v)
		}
	}
	return vars
}

// apply is one AdamW update of v (float32 state), in GoMLX Adam's order of operations:
//
//	m = β1·m + (1−β1)·g,  v = β2·v + (1−β2)·g²,  m̂ = m/(1−β1^t),  v̂ = v/(1−β2^t)
//	w = w − (lr·m̂/(√v̂ + ε) + lr·wd·w)
//
// with t the global update count, or v's own when mask is set (then nothing changes where mask is false).
func (o *AdamW) apply(ctx *context.Context, g *Graph, v *context.Variable, grad, lr, step, mask *Node) {
	dtype := dtypes.Float32
	m1Var, m2Var := o.moments(ctx, v)
	m1, m2 := m1Var.ValueGraph(g), m2Var.ValueGraph(g)
	value := v.ValueGraph(g)
	if mask != nil {
		// The variable's own count of applied updates, advanced only where mask is true.
		countVar := momentScope(ctx, v).WithInitializer(initializers.Zero).
			VariableWithShape(v.Name()+updatesSuffix, shapes.Make(dtype)).SetTrainable(false)
		count := countVar.ValueGraph(g)
		step = Add(count, ConvertDType(mask, dtype))
		countVar.SetValueGraph(step)
		step = MaxScalar(step, 1) // where mask is false the update below is discarded; keep it finite
	}
	grad = ConvertDType(grad, dtype)
	beta1 := Scalar(g, dtype, o.Beta1)
	beta2 := Scalar(g, dtype, o.Beta2)
	debias1 := Reciprocal(OneMinus(Pow(beta1, step)))
	debias2 := Reciprocal(OneMinus(Pow(beta2, step)))
	newM1 := Add(Mul(beta1, m1), Mul(OneMinus(beta1), grad))
	newM2 := Add(Mul(beta2, m2), Mul(OneMinus(beta2), Square(grad)))
	direction := Div(Mul(lr, Mul(newM1, debias1)), Add(Sqrt(Mul(newM2, debias2)), Scalar(g, dtype, o.Eps)))
	if o.WeightDecay > 0 {
		direction = Add(direction, Mul(lr, MulScalar(value, o.WeightDecay)))
	}
	updated := Sub(value, direction)
	if mask != nil {
		newM1, newM2, updated = Where(mask, newM1, m1), Where(mask, newM2, m2), Where(mask, updated, value)
	}
	m1Var.SetValueGraph(newM1)
	m2Var.SetValueGraph(newM2)
	v.SetValueGraph(updated)
}

// moments returns v's first and second moment variables (zeros on creation).
func (o *AdamW) moments(ctx *context.Context, v *context.Variable) (m1, m2 *context.Variable) {
	c := momentScope(ctx, v).WithInitializer(initializers.Zero)
	shape := v.Shape().Clone()
	shape.DType = dtypes.Float32
	m1 = c.VariableWithShape(v.Name()+"_1st_moment", shape).SetTrainable(false)
	m2 = c.VariableWithShape(v.Name()+"_2nd_moment", shape).SetTrainable(false)
	return m1, m2
}

// momentScope is where v's optimizer state lives: /AdamOptimizer<v's scope>.
func momentScope(ctx *context.Context, v *context.Variable) *context.Context {
	return ctx.Checked(false).InAbsPath(context.ScopeSeparator + adamScope + v.Scope())
}

// Clear implements optimizers.Interface: it deletes the optimizer's state (moments, step counters).
func (o *AdamW) Clear(ctx *context.Context) error { return ctx.In(adamScope).DeleteVariablesInScope() }
