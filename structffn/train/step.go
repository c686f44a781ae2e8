package train

import (
	"fmt"
	"time"

	"github.com/gomlx/gomlx/backends"
	"github.com/gomlx/gomlx/pkg/core/distributed"
	"github.com/gomlx/gomlx/pkg/core/dtypes"
	. "github.com/gomlx/gomlx/pkg/core/graph" //nolint:staticcheck // graph code reads like math.
	"github.com/gomlx/gomlx/pkg/core/tensors"
	"github.com/gomlx/gomlx/pkg/ml/context"
	"github.com/gomlx/gomlx/pkg/ml/context/initializers"

	"github.com/structffn/structffn/internal/errline"
	"github.com/structffn/structffn/structffn/data"
	"github.com/structffn/structffn/structffn/guide"
	"github.com/structffn/structffn/structffn/linear"
	"github.com/structffn/structffn/structffn/model"
)

// Stepper compiles and runs a model's training step: the forward pass, the mean cross-entropy,
// its gradients, and the AdamW update, optionally as GradAccum micro-batches whose gradients are
// averaged before one update, and optionally with each batch split over the devices of a
// data-parallel mesh. train.Run and the training benchmark both take their steps through it.
//
// It keeps one compiled graph per kind of step it has been asked for: the plain model, the model
// with its self-guided layers (when Guides is set), each in an accumulating and an applying
// variant under gradient accumulation, and the evaluation graph. That is at most five graphs, at
// any model size.
type Stepper struct {
	Config    model.Config
	Dtype     dtypes.DType
	Opt       *AdamW
	Guides    *guide.Guides // nil: no guided graph
	GradAccum int           // micro-batches per optimizer step
	Parallel  *DataParallel // nil: one device
	// For time breakdowns (bench.Breakdown) only: Ablate builds the model with one kind of work
	// replaced (model.Ablation), and SkipUpdate computes the gradients but applies no update (their
	// sum, times 0, joins the loss, so that nothing is optimised away).
	Ablate     model.Ablation
	SkipUpdate bool

	backend backends.Backend
	ctx     *context.Context
	execs   map[stepKind]*context.Exec
	compile map[stepKind]time.Duration // first-call time of each graph (compilation and one run)
}

// stepKind is one compiled graph of a Stepper.
type stepKind struct {
	guided bool
	phase  int // accumulate, apply or evaluate
}

const (
	accumulate = iota // add this micro-batch's gradients to the accumulators
	apply             // (accumulate and) update the weights
	evaluate          // the loss only
)

// accumulatorScope holds the gradient accumulators, where GoMLX's trainer keeps them.
const accumulatorScope = "/acc_grads"

// NewStepper prepares the steps of the model cfg whose weights and hyperparameters are in ctx, on
// backend b (named name): ctx's dtype, grad_accum and devices settings (devices=0 resolved by
// ResolveDevices, cached in data.DefaultCacheDir(), unless the caller resolved it first to say so),
// the optimizer opt, and guides for the guided graph (nil without SGT; its UpdateMask becomes opt's).
func NewStepper(b backends.Backend, name string, ctx *context.Context, cfg model.Config, opt *AdamW, guides *guide.Guides) (*Stepper, error) {
	dtype, err := ComputeDtype(ctx)
	if err != nil {
		return nil, err
	}
	accum := Param[int](ctx, ParamGradAccum)
	if accum < 1 || cfg.Batch%accum != 0 {
		return nil, fmt.Errorf("-set grad_accum=%d must be a positive divisor of the batch (%d sequences)", accum, cfg.Batch)
	}
	if _, err := ResolveDevices(b, name, ctx, cfg, data.DefaultCacheDir(), nil); err != nil {
		return nil, err
	}
	parallel, err := NewDataParallel(b, name, Param[int](ctx, ParamDevices), cfg.Batch, accum)
	if err != nil {
		return nil, err
	}
	if guides != nil {
		opt.UpdateMask = guides.UpdateMask
	}
	if Param[string](ctx, ParamScaling) == linear.ScalingCBS {
		opt.LRMultiplier = FFNLRMultipliers(cfg)
	}
	return &Stepper{Config: cfg, Dtype: dtype, Opt: opt, Guides: guides, GradAccum: accum, Parallel: parallel,
		backend: b, ctx: ctx.Checked(false), execs: map[stepKind]*context.Exec{}, compile: map[stepKind]time.Duration{}}, nil
}

// TrainStep runs one optimizer step on a batch of token ids and their next-token targets, each
// [batch·context] flat: the guided graph when guided (Guides must be set), else the plain one.
// before, when set, runs before micro-batch k's graph (SGT sets its decisions there). It returns
// the batch's mean loss.
func (s *Stepper) TrainStep(guided bool, inputs, targets []int32, before func(micro int) error) (float64, error) {
	if guided && s.Guides == nil {
		return 0, fmt.Errorf("train: a guided step without guides")
	}
	n := len(inputs) / s.GradAccum
	var loss float64
	for k := range s.GradAccum {
		if before != nil {
			if err := before(k); err != nil {
				return 0, err
			}
		}
		phase := apply
		if k < s.GradAccum-1 {
			phase = accumulate
		}
		l, err := s.run(stepKind{guided, phase}, inputs[k*n:(k+1)*n], targets[k*n:(k+1)*n])
		if err != nil {
			return 0, err
		}
		loss += l / float64(s.GradAccum)
	}
	return loss, nil
}

// Eval is the mean loss of the plain model over the batches (each [batch·context], flat), without
// training; on one device.
func (s *Stepper) Eval(inputs, targets [][]int32) (float64, error) {
	var sum float64
	for i := range inputs {
		l, err := s.run(stepKind{false, evaluate}, inputs[i], targets[i])
		if err != nil {
			return 0, err
		}
		sum += l
	}
	return sum / float64(len(inputs)), nil
}

// Compiles is the number of graphs compiled so far, and CompileTime the time their first calls
// took (compilation, plus one step each).
func (s *Stepper) Compiles() (n int, d time.Duration) {
	for _, t := range s.compile {
		d += t
	}
	return len(s.compile), d
}

// Compiled reports whether the graph for plain or guided training steps exists, and how long its
// first call took.
func (s *Stepper) Compiled(guided bool) (time.Duration, bool) {
	d, ok := s.compile[stepKind{guided, apply}]
	return d, ok
}

// run executes one graph on tokens and targets ([n·context] flat) and returns its loss.
func (s *Stepper) run(kind stepKind, tokens, targets []int32) (float64, error) {
	e, err := s.exec(kind)
	if err != nil {
		return 0, err
	}
	first := s.compile[kind] == 0
	start := time.Now()
	in, tg := batchTensor(tokens, s.Config), batchTensor(targets, s.Config)
	var out []*tensors.Tensor
	if s.Parallel != nil && kind.phase != evaluate {
		out, err = s.Parallel.exec(e, in, tg)
	} else {
		out, err = e.Exec(in, tg)
	}
	if err != nil {
		return 0, fmt.Errorf("%v", errline.First(err))
	}
	loss := float64(tensors.ToScalar[float32](out[0]))
	if first {
		s.compile[kind] = time.Since(start)
	}
	return loss, nil
}

// exec returns (building it on first use) the graph of a kind of step.
func (s *Stepper) exec(kind stepKind) (*context.Exec, error) {
	if e, ok := s.execs[kind]; ok {
		return e, nil
	}
	fn := func(ctx *context.Context, tokens, targets *Node) *Node { return s.graph(ctx, kind, tokens, targets) }
	e, err := context.NewExec(s.backend, s.ctx, fn)
	if err != nil {
		return nil, err
	}
	name := map[int]string{accumulate: "accumulate", apply: "train", evaluate: "eval"}[kind.phase]
	if kind.guided {
		name += " (guided)"
	}
	e = e.WithName(name)
	if s.Parallel != nil && kind.phase != evaluate {
		e = s.Parallel.configure(e)
	}
	s.execs[kind] = e
	return e, nil
}

// graph builds one step: tokens, targets [n, context] (int32) → the mean loss (scalar), and for
// training steps the gradients' accumulation and the update as variable changes.
func (s *Stepper) graph(ctx *context.Context, kind stepKind, tokens, targets *Node) *Node {
	g := tokens.Graph()
	ctx.SetTraining(g, kind.phase != evaluate)
	opts := model.Options{Dtype: s.Dtype, Ablate: s.Ablate}
	if kind.guided {
		opts.FFNLinear = s.Guides.LinearFn()
	}
	loss := model.Loss(ctx, s.Config, tokens, targets, opts) // scalar
	if kind.phase == evaluate {
		return loss
	}
	grads := ctx.BuildTrainableVariablesGradientsGraph(loss)
	if s.SkipUpdate {
		var sum *Node
		for _, gr := range grads {
			if t := ReduceAllSum(gr); sum == nil {
				sum = t
			} else {
				sum = Add(sum, t)
			}
		}
		// The sum joins the output (times 0: the loss is unchanged), so nothing is optimised away.
		return Add(loss, MulScalar(sum, 0))
	}
	if s.GradAccum > 1 {
		// Accumulators keep the sum of the micro-batches' gradients; the applying graph updates
		// with their mean and zeroes them.
		for i, v := range trainableInUse(ctx, g) {
			acc := ctx.Checked(false).InAbsPath(accumulatorScope+v.Scope()).WithInitializer(initializers.Zero).
				VariableWithShape(v.Name(), v.Shape()).SetTrainable(false)
			sum := Add(acc.ValueGraph(g), grads[i])
			if kind.phase == accumulate {
				acc.SetValueGraph(sum)
				continue
			}
			acc.SetValueGraph(ZerosLike(sum))
			grads[i] = MulScalar(sum, 1/float64(s.GradAccum))
		}
		if kind.phase == accumulate {
			return loss
		}
	}
	s.Opt.UpdateGraphWithGradients(ctx, grads, dtypes.Float32)
	return loss
}

// configure sets e up to run with its two inputs ([batch, context] each) split along the batch over
// the mesh, the variables replicated, and XLA's SPMD partitioner inserting the all-reduce.
func (p *DataParallel) configure(e *context.Exec) *context.Exec {
	return e.AutoSharding(p.batch.Mesh).WithInputShardingSpecs(p.batch, p.batch).
		WithOutputShardingSpecs(distributed.NewReplicatedShardingSpec(p.batch.Mesh))
}

// exec runs e (configured by configure) on a batch's inputs and labels, sharded over the mesh, and
// returns its outputs from the first device.
func (p *DataParallel) exec(e *context.Exec, inputs, labels *tensors.Tensor) ([]*tensors.Tensor, error) {
	in, err := distributed.ShardTensor(p.batch, inputs)
	if err != nil {
		return nil, err
	}
	tg, err := distributed.ShardTensor(p.batch, labels)
	if err != nil {
		return nil, err
	}
	outs, err := e.DistributedExec(in, tg)
	if err != nil {
		return nil, err
	}
	res := make([]*tensors.Tensor, len(outs))
	for i, o := range outs {
		if res[i], err = o.Shards()[0].LocalClone(); err != nil {
			return nil, err
		}
		if err := o.Finalize(); err != nil {
			return nil, err
		}
	}
	return res, nil
}

// FFNLRMultipliers is, for lr_scaling=cbs, each variable's learning-rate multiplier: those of
// linear.Spec.LRMultipliers for the structured FFN weights of cfg (in model.FFNScope),
// 1 for every other variable (a guide, a bias, attention, embeddings, LayerNorms).
func FFNLRMultipliers(cfg model.Config) func(v *context.Variable) float64 {
	byVar := map[string]float64{}
	for layer := range cfg.Layers {
		fc1, fc2 := cfg.FFNSpecs(layer)
		for i, spec := range []linear.Spec{fc1, fc2} {
			for w, m := range spec.LRMultipliers() {
				byVar[model.FFNScope(layer, i)+context.ScopeSeparator+w] = m
			}
		}
	}
	return func(v *context.Variable) float64 {
		if m, ok := byVar[v.Scope()+context.ScopeSeparator+v.Name()]; ok {
			return m
		}
		return 1
	}
}
