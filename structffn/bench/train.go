package bench

import (
	"fmt"
	"time"

	"github.com/gomlx/gomlx/backends"
	"github.com/gomlx/gomlx/pkg/ml/context"

	"github.com/structffn/structffn/structffn/data"
	"github.com/structffn/structffn/structffn/guide"
	"github.com/structffn/structffn/structffn/model"
	"github.com/structffn/structffn/structffn/train"
)

// TrainResult is the training throughput of one model on one backend. MFU is the model FLOPs
// utilisation (PaLM, appendix B): training FLOPs per token (3× forward, docs/METHOD.md §4) × tokens/s
// divided by PeakTFLOPs.
type TrainResult struct {
	Preset    string  `json:"preset"`
	Structure string  `json:"structure"`
	Fraction  float64 `json:"fraction"`
	Backend   string  `json:"backend"`
	TokPerS   float64 `json:"tok_per_s"`
	MsPerStep float64 `json:"ms_per_step"`
	// FirstStepS is the first step's wall time, compilation included (Train only).
	FirstStepS float64 `json:"first_step_s,omitempty"`
	MFU        float64 `json:"mfu"`
	PeakTFLOPs float64 `json:"peak_tflops"`
	Loss       float64 `json:"loss"` // Last measured step's loss (a sanity check, random tokens).
	Steps      int     `json:"steps"`
	Dtype      string  `json:"dtype"`   // Activation dtype (-set dtype): float32, or bfloat16 with float32 master weights.
	Devices    int     `json:"devices"` // Devices each batch is split over (-set devices, data parallel).
	// DevicesChosen, with -set devices=0, says what was chosen and from which measurements.
	DevicesChosen string `json:"devices_chosen,omitempty"`
	GradAccum     int    `json:"grad_accum"` // Micro-batches per optimizer step (-set grad_accum).
	// SGT, for TrainSGT, compares the guided window with the plain model's same steps; the
	// throughput fields above are then the SGT run's over its window, compilation included.
	SGT *SGTResult `json:"sgt,omitempty"`

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
// least minSteps steps and minTime. The steps are train.Run's (train.Stepper: its optimizer,
// clipping, schedule, grad_accum and devices); SGT settings are ignored (TrainSGT times them).
func Train(backend backends.Backend, backendName string, ctx *context.Context, warmup, minSteps int, minTime time.Duration, peakTFLOPs float64) (res TrainResult, err error) {
	defer train.RecoverAs(&err, "bench train")
	cfg, err := train.ModelConfig(ctx)
	if err != nil {
		return res, err
	}
	ctx = ctx.Checked(false)
	choice, err := train.ResolveDevices(backend, backendName, ctx, cfg, data.DefaultCacheDir(), nil)
	if err != nil {
		return res, err
	}
	st, err := train.NewStepper(backend, backendName, ctx, cfg, train.NewAdamW(ctx, cfg.PeakLR, int64(warmup+minSteps)*1000), nil)
	if err != nil {
		return res, err
	}
	t, err := train.TimeSteps(st, warmup, minSteps, minTime)
	if err != nil {
		return res, err
	}
	res = describe(cfg, ctx, st, backendName, peakTFLOPs)
	res.MsPerStep, res.TokPerS, res.Loss, res.Steps = t.MsPerStep(), t.TokPerS(), t.Loss, t.Steps
	res.FirstStepS = t.FirstStep.Seconds()
	if choice != nil {
		res.DevicesChosen = choice.String()
	}
	if peakTFLOPs > 0 {
		res.MFU = res.TokPerS * float64(cfg.TrainFLOPsPerToken()) / (peakTFLOPs * 1e12)
	}
	return res, nil
}

// describe is a TrainResult's description of the model and the step (no measurement yet).
func describe(cfg model.Config, ctx *context.Context, st *train.Stepper, backendName string, peakTFLOPs float64) TrainResult {
	p := cfg.Params()
	res := TrainResult{
		Preset: cfg.Name, Structure: cfg.Structure.String(), Fraction: train.Param[float64](ctx, train.ParamFraction),
		Backend: backendName, PeakTFLOPs: peakTFLOPs,
		Layers: cfg.Layers, DModel: cfg.DModel, Heads: cfg.Heads, FFN: cfg.FFN, Ctx: cfg.Context, Batch: cfg.Batch,
		Vocab: cfg.Vocab, Rank: cfg.Rank, NBlocks: cfg.NBlocks, Params: p.Total, TrainFLOPsPerToken: cfg.TrainFLOPsPerToken(),
		Dtype: train.DtypeName(st.Dtype), Devices: st.Parallel.NumDevices(), GradAccum: st.GradAccum,
	}
	if cfg.Structure.String() == "dense" {
		res.Fraction = 1
	}
	return res
}

// SGTResult is self-guided training's guided window timed against the plain structured model over
// the same steps, compilation included (TrainSGT).
type SGTResult struct {
	Mode        string `json:"mode"` // steps or flops
	Skip        string `json:"skip"` // matrix or shared (sgt_skip)
	Draw        string `json:"draw"` // step or micro (sgt_draw)
	Matrices    int    `json:"matrices"`
	WindowSteps int64  `json:"window_steps"` // T, the guided window: the steps timed
	RunSteps    int64  `json:"run_steps"`    // the whole run's optimizer steps
	// GuidedGraphSteps are the window's steps that ran the guided graph (the others, whose draw
	// skipped every guide, ran the plain one when the run's sgt_plain_graph choice said so).
	GuidedGraphSteps int64   `json:"guided_graph_steps"`
	SGTWallS         float64 `json:"sgt_wall_s"`
	PlainWallS       float64 `json:"plain_wall_s"`
	SGTCompiles      int     `json:"sgt_compiles"`
	PlainCompiles    int     `json:"plain_compiles"`
	// FLOPRatio is the window's training FLOPs with SGT over the plain model's in the paper's
	// accounting (each guide at α × a dense layer in expectation); ComputedFLOPRatio is the same for
	// what the graphs computed (every guide of a guided-graph step, skipped ones masked).
	FLOPRatio         float64 `json:"flop_ratio"`
	ComputedFLOPRatio float64 `json:"computed_flop_ratio"`
	// Overhead is (SGTWallS / PlainWallS) / FLOPRatio: 1 when SGT costs exactly its FLOPs.
	Overhead float64 `json:"overhead"`
}

// TrainSGT times the guided window of the self-guided run that ctx's hyperparameters describe
// (sgt=steps or flops, the run's train_steps or token budget fixing the window) on random tokens,
// from a fresh model and compilation included, then the plain structured model over the same
// number of steps the same way. The steps are train.Run's (train.SGTSteps, the same graph choice).
func TrainSGT(backend backends.Backend, backendName string, ctx *context.Context, peakTFLOPs float64) (res TrainResult, err error) {
	defer train.RecoverAs(&err, "bench train")
	cfg, err := train.ModelConfig(ctx)
	if err != nil {
		return res, err
	}
	base, err := train.BaseSteps(cfg)
	if err != nil {
		return res, err
	}
	sgt, err := train.NewSGT(ctx, cfg, base)
	if err != nil {
		return res, err
	}
	window := sgt.Schedule.Steps
	if window == 0 {
		return res, fmt.Errorf("bench train: no guided window to time (sgt=%s, %d steps): -set sgt=steps or sgt=flops", sgt.Mode, base)
	}
	total := sgt.Plan.TotalSteps
	seed := uint64(train.Param[int](ctx, train.ParamSeed))
	ctx = ctx.Checked(false)
	if _, err := train.ResolveDevices(backend, backendName, ctx, cfg, data.DefaultCacheDir(), nil); err != nil {
		return res, err
	}

	// The plain structured model over the window's steps, from scratch.
	plainCtx := train.FreshContext(ctx)
	plain, err := train.NewStepper(backend, backendName, plainCtx, cfg, train.NewAdamW(plainCtx, cfg.PeakLR, total), nil)
	if err != nil {
		return res, err
	}
	batch := train.RandomBatches(cfg)
	start := time.Now()
	for range window {
		in, tg := batch()
		if _, err := plain.TrainStep(false, in, tg, nil); err != nil {
			return res, err
		}
	}
	plainWall := time.Since(start).Seconds()

	// The same steps with SGT, as train.Run takes them.
	sgtCtx := train.FreshContext(ctx)
	st, err := train.NewStepper(backend, backendName, sgtCtx, cfg, train.NewAdamW(sgtCtx, cfg.PeakLR, total), sgt.Guides())
	if err != nil {
		return res, err
	}
	steps, err := train.NewSGTSteps(sgtCtx, sgt, cfg, st, seed, total)
	if err != nil {
		return res, err
	}
	batch = train.RandomBatches(cfg)
	var loss float64
	start = time.Now()
	for step := range window {
		in, tg := batch()
		if loss, _, err = steps.Run(step, in, tg); err != nil {
			return res, err
		}
	}
	sgtWall := time.Since(start).Seconds()

	res = describe(cfg, sgtCtx, st, backendName, peakTFLOPs)
	perStep := float64(cfg.TrainFLOPsPerToken()) * float64(cfg.TokensPerStep())
	plainFLOPs := perStep * float64(window)
	expected := plainFLOPs + guide.GuideTrainFLOPs(cfg, sgt.Schedule, 0, window)
	computed := steps.ComputedFLOPs(window)
	s := &SGTResult{Mode: sgt.Mode.String(), Skip: sgt.Skip.String(), Draw: sgt.Draw.String(), Matrices: sgt.Matrices,
		WindowSteps: window, RunSteps: total, GuidedGraphSteps: steps.GuidedSteps(), SGTWallS: sgtWall, PlainWallS: plainWall,
		FLOPRatio: expected / plainFLOPs, ComputedFLOPRatio: computed / plainFLOPs}
	s.SGTCompiles, _ = st.Compiles()
	s.PlainCompiles, _ = plain.Compiles()
	s.Overhead = sgtWall / plainWall / s.FLOPRatio
	res.SGT = s
	res.Steps, res.Loss = int(window), loss
	res.MsPerStep = sgtWall * 1000 / float64(window)
	res.TokPerS = float64(window) * float64(cfg.TokensPerStep()) / sgtWall
	if peakTFLOPs > 0 {
		res.MFU = expected / sgtWall / (peakTFLOPs * 1e12)
	}
	return res, nil
}
