package train

import (
	"github.com/gomlx/gomlx/pkg/core/dtypes"
	. "github.com/gomlx/gomlx/pkg/core/graph" //nolint:staticcheck // graph code reads like math.
	"github.com/gomlx/gomlx/pkg/ml/context"
	"github.com/gomlx/gomlx/pkg/ml/train/optimizers"
)

// AdamW is the paper's optimizer (PAPER.md §4): Adam with decoupled weight decay on all parameters,
// the learning rate of Schedule at every step, and gradients scaled so that their global norm is at
// most Clip (PyTorch's clip_grad_norm_: scale = min(1, Clip/(norm+1e-6))). It implements GoMLX's
// optimizers.Interface, so it plugs into train.Trainer.
type AdamW struct {
	Schedule          Schedule
	Beta1, Beta2, Eps float64
	WeightDecay, Clip float64
	adam              optimizers.Interface
	gradNorm          *context.Variable
}

// NewAdamW builds the optimizer from ctx's hyperparameters for totalSteps optimizer steps at peak
// learning rate peak.
func NewAdamW(ctx *context.Context, peak float64, totalSteps int64) *AdamW {
	o := &AdamW{
		Schedule: Schedule{
			Peak:           peak,
			TotalSteps:     totalSteps,
			WarmupFraction: context.GetParamOr(ctx, ParamWarmup, 0.1),
			MinFraction:    context.GetParamOr(ctx, ParamMinLR, 0.1),
		},
		Beta1:       context.GetParamOr(ctx, ParamBeta1, 0.9),
		Beta2:       context.GetParamOr(ctx, ParamBeta2, 0.999),
		Eps:         context.GetParamOr(ctx, ParamEpsilon, 1e-8),
		WeightDecay: context.GetParamOr(ctx, ParamWeightDecay, 0.1),
		Clip:        context.GetParamOr(ctx, ParamGradClip, 1.0),
	}
	o.adam = optimizers.Adam().Betas(o.Beta1, o.Beta2).Epsilon(o.Eps).WeightDecay(o.WeightDecay).
		LearningRate(peak).Done()
	return o
}

// GradNormVariable holds the global gradient norm (before clipping) of the last step.
const GradNormVariable = "grad_norm"

// UpdateGraph implements optimizers.Interface: it sets the learning rate for this step, clips the
// gradients by global norm and applies the AdamW update.
func (o *AdamW) UpdateGraph(ctx *context.Context, g *Graph, loss *Node) {
	o.UpdateGraphWithGradients(ctx, ctx.BuildTrainableVariablesGradientsGraph(loss), loss.DType())
}

// UpdateGraphWithGradients is UpdateGraph for gradients already computed: GoMLX's gradient
// accumulation (train.Trainer.AccumulateGradients) calls it with the mean of the micro-batches'
// gradients, which are then clipped and applied like one batch's.
func (o *AdamW) UpdateGraphWithGradients(ctx *context.Context, grads []*Node, _ dtypes.DType) {
	g := grads[0].Graph()
	// Learning rate of this step: the global step counts the updates already applied.
	step := optimizers.GetGlobalStepVar(ctx).ValueGraph(g)
	optimizers.LearningRateVar(ctx, dtypes.Float32, o.Schedule.Peak).SetValueGraph(o.Schedule.Graph(step))

	// Global norm over every gradient, in float32.
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
	o.adam.(interface {
		UpdateGraphWithGradients(ctx *context.Context, grads []*Node, lossDType dtypes.DType)
	}).UpdateGraphWithGradients(ctx, grads, dtypes.Float32)
}

// Clear implements optimizers.Interface: it deletes the optimizer's state (moments, step counters).
func (o *AdamW) Clear(ctx *context.Context) error { return o.adam.Clear(ctx) }
