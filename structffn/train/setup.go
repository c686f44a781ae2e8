package train

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"github.com/gomlx/gomlx/pkg/ml/context"
	"github.com/gomlx/gomlx/pkg/ml/context/checkpoints"
	"github.com/gomlx/gomlx/pkg/ml/train/optimizers"

	"github.com/structffn/structffn/structffn/backend"
	"github.com/structffn/structffn/structffn/data"
	"github.com/structffn/structffn/structffn/model"
)

// runState is one training run in progress: everything Run resolves before the first step, and the
// counters the loop keeps.
type runState struct {
	unlock       func()  // releases the run directory's lock
	priorElapsed float64 // training wall time of the sessions before this one (seconds)
	opts         Options
	ctx          *context.Context
	cfg          model.Config
	corpus       string
	tok          data.Tokenizer
	ds           *data.Dataset
	sgt          SGT
	steps        *SGTSteps // the steps, and which graph each runs (plain or guided)
	seed         uint64
	total        int64 // optimizer steps of the whole run
	start        int64 // the step this session starts from (a checkpoint's)
	stepper      *Stepper
	ckpt         *checkpoints.Handler
	metrics      *os.File

	valIn, valTg                   [][]int32
	logEvery, evalEvery, ckptEvery int64
	peak                           float64 // FLOP/s, for MFU (0: not reported)
	flopsPerStep                   float64 // the model's training FLOPs per step (guides not included)
}

// setup resolves a run: the run directory and its checkpoint, the settings, the model, the data and
// tokenizer, SGT's plan, the optimizer and the step. It writes config.json and tokenizer.json, and
// opens metrics.jsonl.
func setup(ctx *context.Context, opts Options) (_ *runState, err error) {
	ctx = ctx.Checked(false)
	ckpt, unlock, created, err := prepareRunDir(ctx, opts)
	if unlock != nil {
		defer func() {
			if err != nil {
				unlock()
			}
		}()
	}
	if created {
		// A run that fails its checks leaves no directory behind (what is in it, it wrote itself).
		defer func() {
			if err != nil {
				_ = os.RemoveAll(opts.OutDir)
			}
		}()
	}
	if err != nil {
		return nil, err
	}
	var saved *model.Config // the model of the checkpoint's own settings, when resuming
	if optimizers.GetGlobalStep(ctx) > 0 {
		if c, err := ModelConfig(ctx); err == nil {
			saved = &c
		}
	}
	if opts.Settings != "" {
		if _, err := ApplySettings(ctx, opts.Settings); err != nil {
			return nil, err
		}
	}
	r := &runState{opts: opts, ctx: ctx, ckpt: ckpt, unlock: unlock}
	if r.cfg, err = ModelConfig(ctx); err != nil {
		return nil, err
	}
	if saved != nil {
		if diff := shapeDiff(*saved, r.cfg); diff != "" {
			return nil, fmt.Errorf("run directory %s holds a checkpoint of another model (%s): drop those settings to resume it, or use another -out",
				opts.OutDir, diff)
		}
	}
	if err := r.prepareData(); err != nil {
		return nil, err
	}
	dtype, err := ComputeDtype(ctx)
	if err != nil {
		return nil, err
	}
	cacheDir := opts.CacheDir
	if cacheDir == "" {
		cacheDir = data.DefaultCacheDir()
	}
	if choice, err := ResolveDevices(opts.Backend, opts.BackendName, ctx, r.cfg, cacheDir, nil); err != nil {
		return nil, err
	} else if choice != nil {
		fmt.Fprintln(opts.Log, choice)
	}
	if err := checkMemory(r.cfg, Param[int](ctx, ParamGradAccum), Param[int](ctx, ParamDevices), dtype.Size(), opts.BackendName); err != nil {
		return nil, err
	}
	base, err := BaseSteps(r.cfg)
	if err != nil {
		return nil, err
	}
	if r.sgt, err = NewSGT(ctx, r.cfg, base); err != nil {
		return nil, err
	}
	r.total = r.sgt.Plan.TotalSteps // fixed-FLOPs SGT replays the guided steps' data at the end
	r.seed = uint64(Param[int](ctx, ParamSeed))
	if err := writeConfig(opts, ctx, r.cfg, r.corpus, r.tok.Name(), r.total); err != nil {
		return nil, err
	}
	if err := data.SaveTokenizer(opts.OutDir, r.tok); err != nil {
		return nil, err
	}

	guides := r.sgt.Guides()
	opt := NewAdamW(ctx, r.cfg.PeakLR, r.total)
	if r.stepper, err = NewStepper(opts.Backend, opts.BackendName, ctx, r.cfg, opt, guides); err != nil {
		return nil, err
	}
	if r.steps, err = NewSGTSteps(ctx, r.sgt, r.cfg, r.stepper, r.seed, r.total); err != nil {
		return nil, err
	}

	r.valIn, r.valTg = r.ds.ValBatches(r.cfg.Batch, r.cfg.Context, Param[int](ctx, ParamEvalBatches))
	if len(r.valIn) == 0 {
		return nil, fmt.Errorf("corpus %q has too few validation tokens (%d) for one window of %d: use a larger corpus or -set val_fraction",
			r.corpus, len(r.ds.Val), r.cfg.Context+1)
	}
	r.start = optimizers.GetGlobalStep(ctx)
	if r.priorElapsed, err = resumeMetrics(opts.OutDir, r.start); err != nil {
		return nil, err
	}
	if r.metrics, err = openMetrics(opts.OutDir); err != nil {
		return nil, err
	}
	r.logEvery = int64(max(1, Param[int](ctx, ParamLogEvery)))
	r.evalEvery = int64(Param[int](ctx, ParamEvalEvery))
	r.ckptEvery = int64(Param[int](ctx, ParamCheckpointEvery))
	r.peak = Param[float64](ctx, ParamPeakTFLOPs) * 1e12
	if r.peak == 0 {
		r.peak = backend.PeakTFLOPs(opts.BackendName) * 1e12
	}
	r.flopsPerStep = float64(r.cfg.TrainFLOPsPerToken()) * float64(r.cfg.TokensPerStep())
	return r, nil
}

// prepareData reads (or builds and caches) the corpus's token stream and tokenizer, and checks the
// model against them.
func (r *runState) prepareData() error {
	cacheDir := r.opts.CacheDir
	if cacheDir == "" {
		cacheDir = data.DefaultCacheDir()
	}
	r.corpus = Param[string](r.ctx, ParamCorpus)
	var err error
	r.ds, r.tok, err = data.Prepare(r.corpus, TokenizerSpec(r.ctx, r.cfg), cacheDir, Param[float64](r.ctx, ParamValFraction))
	if err != nil {
		return err
	}
	r.cfg.Vocab = r.tok.VocabSize()
	if err := r.cfg.Validate(); err != nil {
		return err
	}
	return r.ds.CheckContext(r.cfg.Context)
}

// banner is the run's first log line: the model, its parameter split, tokens per step, the steps,
// where it runs, and the data.
func (r *runState) banner() string {
	p := r.cfg.Params()
	runsOn := r.opts.BackendName
	if n := r.stepper.Parallel.NumDevices(); n > 1 {
		runsOn = fmt.Sprintf("%s (data parallel over %d devices)", runsOn, n)
	}
	s := fmt.Sprintf("model %s: %s FFN, %s params (%s FFN, %s other), %d tokens/step, %d steps (%d to go), backend %s, tokenizer %s (vocab %d), corpus %s",
		r.cfg.Name, cfgStructure(r.cfg), model.ParamCount(p.Total), model.ParamCount(p.FFN), model.ParamCount(p.NonFFN()),
		r.cfg.TokensPerStep(), r.total, max(0, r.total-r.start), runsOn, r.tok.Name(), r.cfg.Vocab, r.corpus)
	if r.sgt.Schedule.Steps > 0 {
		s += fmt.Sprintf("\nsgt %s: %d guided matrices, %s α over steps 0-%d, skip per %s drawn per %s",
			r.sgt.Mode, r.sgt.Matrices, scheduleName(r.sgt.Schedule), r.sgt.Schedule.Steps, r.sgt.Skip, r.sgt.Draw)
		if r.sgt.Plan.TotalSteps > r.sgt.Plan.BaseSteps {
			s += fmt.Sprintf(", p = %.4g: steps %d-%d replay the guided steps' data", r.sgt.P, r.sgt.Plan.BaseSteps, r.total-1)
		}
	}
	return s
}

// close releases the metrics file.
func (r *runState) close() {
	if r.metrics != nil {
		_ = r.metrics.Close()
	}
	if r.unlock != nil {
		r.unlock()
	}
}

// shapeDiff lists what differs between the model a checkpoint was trained as and the one the settings
// now ask for, among what its weights depend on ("" when nothing does): "d_model 64 → 256, ...".
func shapeDiff(saved, now model.Config) string {
	var diffs []string
	for _, f := range []struct {
		name string
		a, b any
	}{
		{ParamLayers, saved.Layers, now.Layers}, {ParamDModel, saved.DModel, now.DModel}, {ParamHeads, saved.Heads, now.Heads},
		{ParamKVHeads, saved.KVHeads, now.KVHeads}, {ParamHeadDim, saved.HeadDim, now.HeadDim}, {ParamFFN, saved.FFN, now.FFN},
		{ParamStructure, saved.Structure, now.Structure}, {ParamRank, saved.Rank, now.Rank}, {ParamNBlocks, saved.NBlocks, now.NBlocks},
	} {
		if f.a != f.b {
			diffs = append(diffs, fmt.Sprintf("%s %v → %v", f.name, f.a, f.b))
		}
	}
	return strings.Join(diffs, ", ")
}

// ckptDir is the run's checkpoint directory.
func (r *runState) ckptDir() string { return filepath.Join(r.opts.OutDir, "checkpoints") }
