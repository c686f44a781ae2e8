package bench

import (
	"fmt"
	"math"
	"time"

	"github.com/gomlx/gomlx/backends"
	"github.com/gomlx/gomlx/pkg/core/dtypes"
	. "github.com/gomlx/gomlx/pkg/core/graph" //nolint:staticcheck // graph code reads like math.
	"github.com/gomlx/gomlx/pkg/core/tensors"
	"github.com/gomlx/gomlx/pkg/ml/context"

	"github.com/structffn/structffn/structffn/data"
	"github.com/structffn/structffn/structffn/model"
	"github.com/structffn/structffn/structffn/train"
)

// Variants of the training step that Breakdown times: the whole step, each model.Ablation, the step
// without its update, and an executor-overhead graph.
const (
	VariantFull     = "full"      // the training step as train.Run takes it
	VariantNoUpdate = "no_update" // gradients computed, no clipping or AdamW update
	VariantOverhead = "overhead"  // every variable and the batch passed in, nothing computed
)

// BreakdownVariant is one variant's time per step (the fastest of the rounds' means).
type BreakdownVariant struct {
	Name      string  `json:"name"`
	MsPerStep float64 `json:"ms_per_step"`
	FirstMs   float64 `json:"first_ms"` // the first step: compilation included
}

// BreakdownRow is one kind of work in a training step: its time per step, forward and backward,
// as the difference of two variants' times ("full − softmax": the step's time minus the step's
// without it).
type BreakdownRow struct {
	Kind  string  `json:"kind"`
	Ms    float64 `json:"ms"`
	Share float64 `json:"share"` // of the full step
	From  string  `json:"from"`  // how it was computed
}

// BreakdownResult is a training step split by kind of work (Breakdown).
type BreakdownResult struct {
	Model    TrainResult        `json:"model"` // the full step's record (throughput of the fastest round)
	Variants []BreakdownVariant `json:"variants"`
	Rows     []BreakdownRow     `json:"rows"`
	Rounds   int                `json:"rounds"`
}

// BreakdownKinds turns variant times (ms per step, by variant name) into the rows of a breakdown:
// each kind of work is the full step's time minus the time of the variant without it; "rest" is what
// the kinds leave of the full step. Variants that are missing leave their rows out.
func BreakdownKinds(ms map[string]float64) []BreakdownRow {
	full, ok := ms[VariantFull]
	if !ok || full <= 0 {
		return nil
	}
	var rows []BreakdownRow
	add := func(kind, a, b string) {
		x, okA := ms[a]
		y, okB := ms[b]
		if okA && okB {
			rows = append(rows, BreakdownRow{Kind: kind, Ms: x - y, From: a + " − " + b})
		}
	}
	add("FFN matmuls (fc1, fc2, biases)", model.AblateGELU.String(), model.AblateFFN.String())
	add("GELU", VariantFull, model.AblateGELU.String())
	add("attention matmuls (QKᵀ, AV)", model.AblateSoftmax.String(), model.AblateAttention.String())
	add("softmax, mask and scale", VariantFull, model.AblateSoftmax.String())
	add("RoPE", VariantFull, model.AblateRoPE.String())
	add("Q, K, V, O projections", VariantFull, model.AblateProjections.String())
	add("LayerNorms", VariantFull, model.AblateNorm.String())
	add("LM head (logits) and loss", VariantFull, model.AblateHead.String())
	add("optimizer (clipping, AdamW)", VariantFull, VariantNoUpdate)
	if o, ok := ms[VariantOverhead]; ok {
		rows = append(rows, BreakdownRow{Kind: "executor and host (parameters in, dispatch, loss out)", Ms: o, From: VariantOverhead})
	}
	sum := 0.0
	for _, r := range rows {
		sum += r.Ms
	}
	rows = append(rows, BreakdownRow{Kind: "rest (embedding, residuals, reshapes, transposes)", Ms: full - sum, From: "full − the rows above"})
	for i := range rows {
		rows[i].Share = rows[i].Ms / full
	}
	return rows
}

// Breakdown times the training step of ctx's model (random tokens, train.Stepper) and each of its
// variants, rounds times over, each from a fresh model (compiled once, then at least minSteps steps
// and minTime), and splits the step by kind of work (BreakdownKinds). The fastest round of each
// variant counts: the machine's other load only ever slows a round down.
func Breakdown(backend backends.Backend, backendName string, ctx *context.Context, minSteps int, minTime time.Duration, rounds int, peakTFLOPs float64) (res BreakdownResult, err error) {
	defer train.RecoverAs(&err, "bench breakdown")
	cfg, err := train.ModelConfig(ctx)
	if err != nil {
		return res, err
	}
	ctx = ctx.Checked(false)
	if _, err := train.ResolveDevices(backend, backendName, ctx, cfg, data.DefaultCacheDir(), nil); err != nil {
		return res, err
	}
	names := []string{VariantFull}
	for _, a := range model.Ablations {
		if cfg.CheckAblation(a) == nil {
			names = append(names, a.String())
		}
	}
	names = append(names, VariantNoUpdate, VariantOverhead)
	best := map[string]BreakdownVariant{}
	var fullRecord TrainResult
	for range max(1, rounds) {
		for _, name := range names {
			v, rec, err := timeVariant(backend, backendName, ctx, cfg, name, minSteps, minTime, peakTFLOPs)
			if err != nil {
				return res, fmt.Errorf("variant %s: %w", name, err)
			}
			if b, ok := best[name]; !ok || v.MsPerStep < b.MsPerStep {
				if ok {
					v.FirstMs = min(v.FirstMs, b.FirstMs)
				}
				best[name] = v
				if name == VariantFull {
					fullRecord = rec
				}
			}
		}
	}
	ms := map[string]float64{}
	for _, n := range names {
		res.Variants = append(res.Variants, best[n])
		ms[n] = best[n].MsPerStep
	}
	res.Model, res.Rows, res.Rounds = fullRecord, BreakdownKinds(ms), max(1, rounds)
	return res, nil
}

// timeVariant times one variant from a fresh copy of ctx's hyperparameters.
func timeVariant(backend backends.Backend, backendName string, ctx *context.Context, cfg model.Config, name string,
	minSteps int, minTime time.Duration, peakTFLOPs float64) (BreakdownVariant, TrainResult, error) {
	v := BreakdownVariant{Name: name}
	fresh := train.FreshContext(ctx)
	var step func(in, tg []int32) error
	var st *train.Stepper
	if name == VariantOverhead {
		step = overheadStep(backend, fresh, cfg)
	} else {
		var err error
		if st, err = train.NewStepper(backend, backendName, fresh, cfg, train.NewAdamW(fresh, cfg.PeakLR, 1<<30), nil); err != nil {
			return v, TrainResult{}, err
		}
		switch name {
		case VariantFull:
		case VariantNoUpdate:
			st.SkipUpdate = true
		default:
			if st.Ablate, err = model.ParseAblation(name); err != nil {
				return v, TrainResult{}, err
			}
		}
		step = func(in, tg []int32) error {
			l, err := st.TrainStep(false, in, tg, nil)
			if err == nil && math.IsNaN(l) && name == VariantFull {
				err = fmt.Errorf("loss is NaN")
			}
			return err
		}
	}
	batch := train.RandomBatches(cfg)
	t0 := time.Now()
	if err := step(batch()); err != nil {
		return v, TrainResult{}, err
	}
	v.FirstMs = float64(time.Since(t0).Microseconds()) / 1000
	if err := step(batch()); err != nil { // one more untimed step: buffers allocated, caches warm
		return v, TrainResult{}, err
	}
	steps := 0
	start := time.Now()
	for steps < max(1, minSteps) || time.Since(start) < minTime {
		if err := step(batch()); err != nil {
			return v, TrainResult{}, err
		}
		steps++
	}
	elapsed := time.Since(start).Seconds()
	v.MsPerStep = elapsed * 1000 / float64(steps)
	var rec TrainResult
	if st != nil {
		rec = describe(cfg, fresh, st, backendName, peakTFLOPs)
		rec.MsPerStep, rec.Steps = v.MsPerStep, steps
		rec.TokPerS = float64(steps) * float64(cfg.TokensPerStep()) / elapsed
		if peakTFLOPs > 0 {
			rec.MFU = rec.TokPerS * float64(cfg.TrainFLOPsPerToken()) / (peakTFLOPs * 1e12)
		}
	}
	return v, rec, nil
}

// overheadStep is a step that does no work: a graph with the batch and every variable of the model
// (and its optimizer state) as parameters, as the training step has them, returning one number.
// Its time is what running any step costs before computing anything.
func overheadStep(backend backends.Backend, ctx *context.Context, cfg model.Config) func(in, tg []int32) error {
	// Create the model's and the optimizer's variables with one real step.
	st, err := train.NewStepper(backend, "", ctx, cfg, train.NewAdamW(ctx, cfg.PeakLR, 1<<30), nil)
	if err != nil {
		panic(err)
	}
	in, tg := train.RandomBatches(cfg)()
	if _, err := st.TrainStep(false, in, tg, nil); err != nil {
		panic(err)
	}
	exec := context.MustNewExec(backend, ctx, func(ctx *context.Context, tokens, targets *Node) *Node {
		g := tokens.Graph()
		out := ConvertDType(Add(ReduceAllSum(tokens), ReduceAllSum(targets)), dtypes.Float32)
		for v := range ctx.IterVariables() {
			x := v.ValueGraph(g)
			first := Reshape(Slice(x, sliceFirst(x.Rank())...)) // one element of each
			out = Add(out, ConvertDType(first, dtypes.Float32))
		}
		return out
	})
	return func(in, tg []int32) error {
		_, err := exec.Exec(tensorsOf(in, cfg), tensorsOf(tg, cfg))
		return err
	}
}

// sliceFirst selects element 0 of each of rank axes.
func sliceFirst(rank int) []SliceAxisSpec {
	s := make([]SliceAxisSpec, rank)
	for i := range s {
		s[i] = AxisRange(0, 1)
	}
	return s
}

// tensorsOf shapes flat ids [batch·context] as [batch, context].
func tensorsOf(flat []int32, cfg model.Config) *tensors.Tensor {
	return tensors.FromFlatDataAndDimensions(flat, len(flat)/cfg.Context, cfg.Context)
}
