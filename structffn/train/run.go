package train

import (
	stdctx "context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"time"

	"github.com/gomlx/gomlx/backends"
	. "github.com/gomlx/gomlx/pkg/core/graph" //nolint:staticcheck // graph code reads like math.
	"github.com/gomlx/gomlx/pkg/core/tensors"
	"github.com/gomlx/gomlx/pkg/ml/context"
	"github.com/gomlx/gomlx/pkg/ml/context/checkpoints"
	gomlxtrain "github.com/gomlx/gomlx/pkg/ml/train"
	"github.com/gomlx/gomlx/pkg/ml/train/optimizers"
	"github.com/gomlx/gomlx/ui/commandline"

	"github.com/structffn/structffn/internal/atomicfile"
	"github.com/structffn/structffn/internal/errline"
	"github.com/structffn/structffn/structffn/backend"
	"github.com/structffn/structffn/structffn/data"
	"github.com/structffn/structffn/structffn/guide"
	"github.com/structffn/structffn/structffn/model"
)

// ParamPeakTFLOPs is the accelerator's peak dense throughput (TFLOP/s) that MFU is relative to.
const ParamPeakTFLOPs = "peak_tflops"

// ParamBackend names the backend (backend.Resolve: auto, go, xla:cpu, xla:cuda; "" = $GOMLX_BACKEND,
// else auto), so that -set and notebook --set choose it like any hyperparameter. A -backend flag wins.
const ParamBackend = "backend"

// BackendName is the backend a run of ctx asks for: flag when set, else ctx's ParamBackend.
func BackendName(ctx *context.Context, flag string) string {
	if flag != "" {
		return flag
	}
	return context.GetParamOr(ctx, ParamBackend, "")
}

// ErrInterrupted is returned by Run when its context is cancelled (Ctrl-C): a checkpoint was saved.
var ErrInterrupted = errors.New("training interrupted; a checkpoint was saved: run the same command again to resume")

// Options are the parts of a run that are not hyperparameters.
type Options struct {
	OutDir      string           // Run directory: config.json, metrics.jsonl, checkpoints/.
	Backend     backends.Backend // Where graphs run.
	BackendName string           // Recorded in config.json.
	CacheDir    string           // Corpus, tokenizer and token caches (data.DefaultCacheDir() when empty).
	// Settings are -set overrides, re-applied after a checkpoint's saved hyperparameters are loaded, so
	// that e.g. train_steps can be raised to continue a finished run.
	Settings string
	Log      io.Writer // Stable one-line log (os.Stdout when nil).
	// Progress, when set, gets a progress bar redrawn in place after every step (a terminal's stderr).
	Progress io.Writer
	OnRecord func(Record) // Called with every metrics record (live plots in notebooks).
	// Fresh starts over: a previous run in OutDir (checkpoints, metrics) is removed first instead of
	// resumed. For notebook cells that retrain on every run; the CLI always resumes.
	Fresh bool
}

// Record is one line of metrics.jsonl (and of the stdout log).
type Record struct {
	Step       int64    `json:"step"`
	Tokens     int64    `json:"tokens"`
	TrainLoss  float64  `json:"train_loss"`
	ValLoss    *float64 `json:"val_loss,omitempty"`
	ValPPL     *float64 `json:"val_ppl,omitempty"`
	LR         float64  `json:"lr"`
	GradNorm   float64  `json:"grad_norm"`
	MsPerStep  float64  `json:"ms_per_step"`
	TokPerS    float64  `json:"tok_per_s"`
	MFU        float64  `json:"mfu"`
	TrainFLOPs float64  `json:"train_flops"`
	ElapsedS   float64  `json:"elapsed_s"`
}

// Result summarises a finished run.
type Result struct {
	Config    model.Config
	Steps     int64
	FinalLoss float64 // Last training batch loss.
	ValLoss   float64 // Final validation loss.
	Devices   int     // Devices the training steps ran on (devices > 1: data parallel), as compiled.
	RunDir    string
}

// Run trains the model of ctx's hyperparameters into opts.OutDir, resuming from its checkpoint when
// one exists, up to the total train_steps. It returns ErrInterrupted (after saving) when goctx is
// cancelled, and a one-line error naming the problem for bad input or a NaN loss.
func Run(goctx stdctx.Context, ctx *context.Context, opts Options) (res *Result, err error) {
	if opts.Log == nil {
		opts.Log = os.Stdout
	}
	if opts.OutDir == "" {
		return nil, errors.New("no run directory: pass -out DIR")
	}
	if opts.Fresh {
		if _, err := os.Stat(filepath.Join(opts.OutDir, "config.json")); err == nil {
			if err := os.RemoveAll(opts.OutDir); err != nil {
				return nil, fmt.Errorf("starting %s fresh: %w", opts.OutDir, err)
			}
		}
	}
	if err := os.MkdirAll(opts.OutDir, 0o755); err != nil {
		return nil, fmt.Errorf("cannot create run directory: %w", err)
	}
	ctx = ctx.Checked(false)
	ckptDir := filepath.Join(opts.OutDir, "checkpoints")
	ckpt, err := checkpoints.Build(ctx).Dir(ckptDir).Keep(3).Done()
	if err != nil {
		return nil, fmt.Errorf("checkpoint in %s is unreadable (corrupt or truncated?): %v; it was left untouched: move it away to start fresh, or use another -out",
			ckptDir, errline.First(err))
	}
	if opts.Settings != "" {
		if _, err := commandline.ParseContextSettings(ctx, opts.Settings); err != nil {
			return nil, fmt.Errorf("-set: %v", err)
		}
	}
	cfg, err := ModelConfig(ctx)
	if err != nil {
		return nil, err
	}
	cacheDir := opts.CacheDir
	if cacheDir == "" {
		cacheDir = data.DefaultCacheDir()
	}
	tokSpec := TokenizerSpec(ctx, cfg)
	corpus := context.GetParamOr(ctx, ParamCorpus, "gosrc")
	ds, tok, err := data.Prepare(corpus, tokSpec, cacheDir, context.GetParamOr(ctx, ParamValFraction, 0.05))
	if err != nil {
		return nil, err
	}
	cfg.Vocab = tok.VocabSize()
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	if err := ds.CheckContext(cfg.Context); err != nil {
		return nil, err
	}
	baseSteps := cfg.Steps()
	if baseSteps <= 0 {
		return nil, fmt.Errorf("the token budget %d buys no step of %d tokens: -set train_steps=N", cfg.Tokens, cfg.TokensPerStep())
	}
	sgt, err := newSGTPlan(ctx, cfg, baseSteps)
	if err != nil {
		return nil, err
	}
	totalSteps := sgt.plan.TotalSteps // fixed-FLOPs SGT replays the guided steps' data at the end
	seed := uint64(context.GetParamOr(ctx, ParamSeed, 0))
	if err := writeConfig(opts, ctx, cfg, corpus, tok.Name(), totalSteps); err != nil {
		return nil, err
	}
	if err := data.SaveTokenizer(opts.OutDir, tok); err != nil {
		return nil, err
	}

	dtype, err := ComputeDtype(ctx)
	if err != nil {
		return nil, err
	}
	opt := NewAdamW(ctx, cfg.PeakLR, totalSteps)
	// The guided graph (spec "guided") runs during SGT's window; the plain one after it and for
	// validation, so that the guide costs nothing once switched off.
	modelFn := func(ctx *context.Context, spec any, inputs []*Node) []*Node {
		mopts := model.Options{}
		if spec == "guided" {
			mopts = sgt.schedule.Options()
		} else if key, ok := spec.(string); ok {
			if p, ok := guide.ParsePattern(key); ok {
				mopts.FFNLinear = sgt.schedule.LinearFor(p)
			}
		}
		mopts.Dtype = dtype
		return []*Node{model.Logits(ctx, cfg, inputs[0], mopts)}
	}
	lossFn := func(labels, predictions []*Node) *Node { return model.CrossEntropy(predictions[0], labels[0]) }
	trainer := gomlxtrain.NewTrainer(opts.Backend, ctx, modelFn, lossFn, opt, nil, nil)
	// One compiled graph per SGT skip pattern (up to 2^MaxPatternMatrices), plus the plain, the masked
	// and the evaluation graphs: more than GoMLX's default cap of 50.
	trainer.WithMaxExecutors(1<<MaxPatternMatrices + 8)
	accum, parallel, err := SetupSteps(trainer, opts.Backend, opts.BackendName, ctx, cfg.Batch)
	if err != nil {
		return nil, err
	}
	stepDevices := 1
	trainer.OnExecCreation(func(e *context.Exec, kind gomlxtrain.GraphType) {
		if kind == gomlxtrain.TrainType {
			stepDevices = e.NumDevices()
		}
	})

	valIn, valTg := ds.ValBatches(cfg.Batch, cfg.Context, context.GetParamOr(ctx, ParamEvalBatches, 8))
	if len(valIn) == 0 {
		return nil, fmt.Errorf("corpus %q has too few validation tokens (%d) for one window of %d: use a larger corpus or -set val_fraction",
			corpus, len(ds.Val), cfg.Context+1)
	}
	// Validation loss: the mean over the fixed validation batches. Trainer.Eval resets GoMLX's running
	// mean before each pass (EvalStep alone would keep averaging across every evaluation of the run).
	valSet := &valDataset{cfg: cfg, inputs: valIn, targets: valTg}
	evaluate := func() (float64, error) {
		m, err := trainer.Eval(valSet)
		if err != nil {
			return 0, err
		}
		return float64(tensors.ToScalar[float32](m[0])), nil
	}

	metricsFile, err := os.OpenFile(filepath.Join(opts.OutDir, "metrics.jsonl"), os.O_CREATE|os.O_APPEND|os.O_WRONLY, 0o644)
	if err != nil {
		return nil, err
	}
	defer metricsFile.Close()

	start := optimizers.GetGlobalStep(ctx)
	logEvery := int64(max(1, context.GetParamOr(ctx, ParamLogEvery, 10)))
	evalEvery := int64(context.GetParamOr(ctx, ParamEvalEvery, 100))
	ckptEvery := int64(context.GetParamOr(ctx, ParamCheckpointEvery, 200))
	peak := context.GetParamOr(ctx, ParamPeakTFLOPs, 0.0) * 1e12
	if peak == 0 {
		peak = backend.PeakTFLOPs(opts.BackendName) * 1e12
	}
	flopsPerStep := float64(cfg.TrainFLOPsPerToken()) * float64(cfg.TokensPerStep())
	p := cfg.Params()
	runsOn := opts.BackendName
	if n := parallel.NumDevices(); n > 1 {
		runsOn = fmt.Sprintf("%s (data parallel over %d devices)", runsOn, n)
	}
	fmt.Fprintf(opts.Log, "model %s: %s FFN, %s params (%s FFN, %s other), %d tokens/step, %d steps (%d to go), backend %s, tokenizer %s (vocab %d), corpus %s\n",
		cfg.Name, cfgStructure(cfg), model.ParamCount(p.Total), model.ParamCount(p.FFN), model.ParamCount(p.NonFFN()),
		cfg.TokensPerStep(), totalSteps, max(0, totalSteps-start), runsOn, tok.Name(), cfg.Vocab, corpus)

	res = &Result{Config: cfg, RunDir: opts.OutDir}
	lastGood := ""
	if start > 0 {
		lastGood = fmt.Sprintf("%s (step %d)", ckptDir, start)
	}
	began, window := time.Now(), time.Now()
	var windowSteps int64
	var lossSum float64
	var bar *progressBar
	if opts.Progress != nil {
		bar = newProgressBar(opts.Progress, start, totalSteps)
		defer bar.clear()
	}
	for step := start; step < totalSteps; step++ {
		if goctx.Err() != nil {
			bar.clear()
			if err := ckpt.Save(); err != nil {
				return res, fmt.Errorf("interrupted, and the checkpoint could not be saved: %w", err)
			}
			fmt.Fprintf(opts.Log, "interrupted at step %d: checkpoint saved in %s\n", step, ckptDir)
			return res, ErrInterrupted
		}
		in, tg := ds.TrainBatch(seed, sgt.plan.DataStep(step), cfg.Batch, cfg.Context)
		spec := sgt.spec(seed, step)
		// With grad_accum = k the batch runs as k micro-batches of batch/k sequences; GoMLX averages
		// their gradients and applies them once, after the k-th.
		var loss float64
		micro := len(in) / accum
		for k := range accum {
			inT, tgT := batchTensor(in[k*micro:(k+1)*micro], cfg), batchTensor(tg[k*micro:(k+1)*micro], cfg)
			m, err := parallel.TrainStep(trainer, spec, inT, tgT)
			if err != nil {
				return res, fmt.Errorf("step %d: %v", step+1, errline.First(err))
			}
			loss += float64(tensors.ToScalar[float32](m[0])) / float64(accum)
		}
		if math.IsNaN(loss) || math.IsInf(loss, 0) {
			where := "no checkpoint was saved yet"
			if lastGood != "" {
				where = "last good checkpoint: " + lastGood
			}
			return res, fmt.Errorf("loss is %v at step %d: training stopped without saving; %s (try a lower -set learning_rate)", loss, step+1, where)
		}
		res.Steps, res.FinalLoss, res.Devices = step+1, loss, stepDevices
		lossSum += loss
		windowSteps++
		done := step + 1
		bar.update(done, loss, float64(windowSteps*cfg.TokensPerStep())/time.Since(window).Seconds())
		evalNow := done == totalSteps || (evalEvery > 0 && done%evalEvery == 0)
		if done%logEvery == 0 || evalNow {
			elapsed := time.Since(window)
			rec := Record{
				Step: done, Tokens: done * cfg.TokensPerStep(), TrainLoss: lossSum / float64(windowSteps),
				LR:         opt.Schedule.At(step),
				GradNorm:   float64(tensors.ToScalar[float32](ctx.InAbsPath("/" + optimizers.Scope).GetVariable(GradNormVariable).MustValue())),
				MsPerStep:  elapsed.Seconds() * 1000 / float64(windowSteps),
				TokPerS:    float64(windowSteps*cfg.TokensPerStep()) / elapsed.Seconds(),
				TrainFLOPs: flopsPerStep*float64(done) + sgt.guideFLOPs(cfg, done),
				ElapsedS:   time.Since(began).Seconds(),
			}
			if peak > 0 {
				rec.MFU = flopsPerStep * float64(windowSteps) / elapsed.Seconds() / peak
			}
			if evalNow {
				v, err := evaluate()
				if err != nil {
					return res, fmt.Errorf("validation at step %d: %v", done, errline.First(err))
				}
				ppl := math.Exp(v)
				rec.ValLoss, rec.ValPPL, res.ValLoss = &v, &ppl, v
			}
			bar.clear()
			if err := writeRecord(metricsFile, opts.Log, rec); err != nil {
				return res, err
			}
			if opts.OnRecord != nil {
				opts.OnRecord(rec)
			}
			window, windowSteps, lossSum = time.Now(), 0, 0
		}
		if done == totalSteps || (ckptEvery > 0 && done%ckptEvery == 0) {
			if err := ckpt.Save(); err != nil {
				return res, fmt.Errorf("saving checkpoint at step %d: %w", done, err)
			}
			lastGood = fmt.Sprintf("%s (step %d)", ckptDir, done)
		}
	}
	return res, nil
}

func cfgStructure(cfg model.Config) string {
	switch cfg.Structure.String() {
	case "lowrank":
		return fmt.Sprintf("lowrank R=%d", cfg.Rank)
	case "blockdense":
		return fmt.Sprintf("blockdense R=%d B=%d", cfg.Rank, cfg.NBlocks)
	case "blockshuffle":
		return fmt.Sprintf("blockshuffle B=%d", cfg.NBlocks)
	}
	return "dense"
}

// batchTensor shapes flat ids [batch·context] as [batch, context].
func batchTensor(flat []int32, cfg model.Config) *tensors.Tensor {
	return tensors.FromFlatDataAndDimensions(flat, len(flat)/cfg.Context, cfg.Context)
}

// writeRecord appends rec to metrics.jsonl and prints the stable log line:
// step N | loss X | val Y | lr Z | ms M | tok/s T | MFU U%
func writeRecord(f *os.File, log io.Writer, rec Record) error {
	line, err := json.Marshal(rec)
	if err != nil {
		return err
	}
	if _, err := f.Write(append(line, '\n')); err != nil {
		return fmt.Errorf("writing metrics.jsonl: %w", err)
	}
	val := "-"
	if rec.ValLoss != nil {
		val = fmt.Sprintf("%.4f", *rec.ValLoss)
	}
	mfu := "-"
	if rec.MFU > 0 {
		mfu = fmt.Sprintf("%.2f%%", 100*rec.MFU)
	}
	_, err = fmt.Fprintf(log, "step %6d | loss %.4f | val %s | lr %.3e | ms %.1f | tok/s %.0f | MFU %s\n",
		rec.Step, rec.TrainLoss, val, rec.LR, rec.MsPerStep, rec.TokPerS, mfu)
	return err
}

// writeConfig writes config.json (every effective setting) atomically.
func writeConfig(opts Options, ctx *context.Context, cfg model.Config, corpus, tokenizer string, steps int64) error {
	params := map[string]any{}
	ctx.EnumerateParams(func(scope, key string, value any) {
		if scope == context.RootScope {
			params[key] = value
		} else {
			params[scope+"/"+key] = value
		}
	})
	out := map[string]any{
		"model": cfg, "params": params, "backend": opts.BackendName, "corpus": corpus, "tokenizer": tokenizer,
		"seed": context.GetParamOr(ctx, ParamSeed, 0), "train_steps": steps, "tokens_per_step": cfg.TokensPerStep(),
		"git_revision": gitRevision(), "written": time.Now().UTC().Format(time.RFC3339),
	}
	b, err := json.MarshalIndent(out, "", "  ")
	if err != nil {
		return err
	}
	return atomicfile.Write(filepath.Join(opts.OutDir, "config.json"), append(b, '\n'))
}

// gitRevision is the current commit of the working directory's repository ("unknown" outside one).
func gitRevision() string {
	out, err := exec.Command("git", "rev-parse", "--short", "HEAD").Output()
	if err != nil {
		return "unknown"
	}
	rev := strings.TrimSpace(string(out))
	if st, err := exec.Command("git", "status", "--porcelain", "--untracked-files=no").Output(); err == nil && len(st) > 0 {
		rev += "-dirty"
	}
	return rev
}

// valDataset yields the fixed validation batches once (a GoMLX train.Dataset for Trainer.Eval).
type valDataset struct {
	cfg             model.Config
	inputs, targets [][]int32
	next            int
}

// Name implements train.Dataset.
func (d *valDataset) Name() string { return "validation" }

// Reset implements train.Dataset.
func (d *valDataset) Reset() { d.next = 0 }

// Yield implements train.Dataset: one validation batch, io.EOF after the last.
func (d *valDataset) Yield() (spec any, inputs, labels []*tensors.Tensor, err error) {
	if d.next >= len(d.inputs) {
		return nil, nil, nil, io.EOF
	}
	i := d.next
	d.next++
	return nil, []*tensors.Tensor{batchTensor(d.inputs[i], d.cfg)}, []*tensors.Tensor{batchTensor(d.targets[i], d.cfg)}, nil
}
