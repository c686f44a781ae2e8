package bench

import (
	"fmt"
	"math/rand/v2"
	"time"

	"github.com/gomlx/gomlx/backends"
	. "github.com/gomlx/gomlx/pkg/core/graph" //nolint:staticcheck // graph code reads like math.
	"github.com/gomlx/gomlx/pkg/core/tensors"
	"github.com/gomlx/gomlx/pkg/ml/context"
	gomlxtrain "github.com/gomlx/gomlx/pkg/ml/train"

	"github.com/structffn/structffn/structffn/model"
	"github.com/structffn/structffn/structffn/train"
)

// TrainResult is the training throughput of one model on one backend. MFU is the model FLOPs
// utilisation (PaLM, appendix B): training FLOPs per token (3× forward, PAPER.md §2) × tokens/s
// divided by PeakTFLOPs.
type TrainResult struct {
	Preset     string  `json:"preset"`
	Structure  string  `json:"structure"`
	Fraction   float64 `json:"fraction"`
	Backend    string  `json:"backend"`
	TokPerS    float64 `json:"tok_per_s"`
	MsPerStep  float64 `json:"ms_per_step"`
	MFU        float64 `json:"mfu"`
	PeakTFLOPs float64 `json:"peak_tflops"`
	Loss       float64 `json:"loss"` // Last measured step's loss (a sanity check, random tokens).
	Steps      int     `json:"steps"`
	Dtype      string  `json:"dtype"`      // Activation dtype (-set dtype): float32, or bfloat16 with float32 master weights.
	Devices    int     `json:"devices"`    // Devices each batch is split over (-set devices, data parallel).
	GradAccum  int     `json:"grad_accum"` // Micro-batches per optimizer step (-set grad_accum).

	Layers  int   `json:"layers"`
	DModel  int   `json:"d_model"`
	Heads   int   `json:"heads"`
	FFN     int   `json:"ffn"`
	Ctx     int   `json:"ctx"`
	Batch   int   `json:"batch"`
	Vocab   int   `json:"vocab"`
	Rank    int   `json:"rank"`
	NBlocks int   `json:"nblocks"`
	Params  int64 `json:"params"`
	// TrainFLOPsPerToken is the accounting behind MFU.
	TrainFLOPsPerToken int64 `json:"train_flops_per_token"`
}

// Train measures training steps per second of the model described by ctx's hyperparameters
// (train.DefaultContext plus -set overrides) on random tokens: warm-up steps (compilation), then at
// least minSteps steps and minTime. The optimizer, clipping and schedule are the ones train.Run uses.
func Train(backend backends.Backend, backendName string, ctx *context.Context, warmup, minSteps int, minTime time.Duration, peakTFLOPs float64) (res TrainResult, err error) {
	defer func() {
		if e := recover(); e != nil {
			err = fmt.Errorf("bench train: %v", e)
		}
	}()
	cfg, err := train.ModelConfig(ctx)
	if err != nil {
		return res, err
	}
	if err := cfg.Validate(); err != nil {
		return res, err
	}
	dtype, err := train.ComputeDtype(ctx)
	if err != nil {
		return res, err
	}
	ctx = ctx.Checked(false)
	opt := train.NewAdamW(ctx, cfg.PeakLR, int64(warmup+minSteps)*1000)
	modelFn := func(ctx *context.Context, _ any, inputs []*Node) []*Node {
		return []*Node{model.Logits(ctx, cfg, inputs[0], model.Options{Dtype: dtype})}
	}
	lossFn := func(labels, predictions []*Node) *Node { return model.CrossEntropy(predictions[0], labels[0]) }
	trainer := gomlxtrain.NewTrainer(backend, ctx, modelFn, lossFn, opt, nil, nil)
	// The same step train.Run takes: the batch in grad_accum micro-batches, each split over devices.
	accum, parallel, err := train.SetupSteps(trainer, backend, backendName, ctx, cfg.Batch)
	if err != nil {
		return res, err
	}

	r := rand.New(rand.NewPCG(3, 3))
	micro := cfg.Batch / accum
	batch := func() *tensors.Tensor { // [micro, context] random ids
		ids := make([]int32, micro*cfg.Context)
		for i := range ids {
			ids[i] = int32(r.IntN(cfg.Vocab))
		}
		return tensors.FromFlatDataAndDimensions(ids, micro, cfg.Context)
	}
	step := func() (loss float64, err error) {
		for range accum {
			m, err := parallel.TrainStep(trainer, nil, batch(), batch())
			if err != nil {
				return 0, err
			}
			loss += float64(tensors.ToScalar[float32](m[0])) / float64(accum)
		}
		return loss, nil
	}
	for range max(1, warmup) {
		if _, err := step(); err != nil {
			return res, err
		}
	}
	var loss float64
	steps := 0
	start := time.Now()
	for steps < max(1, minSteps) || time.Since(start) < minTime {
		if loss, err = step(); err != nil {
			return res, err
		}
		steps++
	}
	elapsed := time.Since(start).Seconds()
	p := cfg.Params()
	res = TrainResult{
		Preset: cfg.Name, Structure: cfg.Structure.String(), Fraction: context.GetParamOr(ctx, train.ParamFraction, 0.0),
		Backend: backendName, MsPerStep: elapsed * 1000 / float64(steps),
		TokPerS: float64(steps) * float64(cfg.TokensPerStep()) / elapsed, PeakTFLOPs: peakTFLOPs, Loss: loss, Steps: steps,
		Layers: cfg.Layers, DModel: cfg.DModel, Heads: cfg.Heads, FFN: cfg.FFN, Ctx: cfg.Context, Batch: cfg.Batch,
		Vocab: cfg.Vocab, Rank: cfg.Rank, NBlocks: cfg.NBlocks, Params: p.Total, TrainFLOPsPerToken: cfg.TrainFLOPsPerToken(),
		Dtype: train.DtypeName(dtype), Devices: parallel.NumDevices(), GradAccum: accum,
	}
	if cfg.Structure.String() == "dense" {
		res.Fraction = 1
	}
	if peakTFLOPs > 0 {
		res.MFU = res.TokPerS * float64(cfg.TrainFLOPsPerToken()) / (peakTFLOPs * 1e12)
	}
	return res, nil
}
