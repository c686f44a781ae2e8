package train

import (
	stdctx "context"
	"errors"
	"fmt"
	"io"
	"math"
	"os"
	"time"

	"github.com/gomlx/gomlx/backends"
	"github.com/gomlx/gomlx/pkg/core/tensors"
	"github.com/gomlx/gomlx/pkg/ml/context"
	"github.com/gomlx/gomlx/pkg/ml/train/optimizers"

	"github.com/structffn/structffn/internal/errline"
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
	return Param[string](ctx, ParamBackend)
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

// Result summarises a finished run.
type Result struct {
	Config    model.Config
	Steps     int64
	FinalLoss float64 // Last training batch loss.
	ValLoss   float64 // Final validation loss.
	Devices   int     // Devices the training steps ran on (devices > 1: data parallel).
	Compiles  int     // Graphs compiled in this session (training steps and evaluation).
	RunDir    string
}

// Run trains the model of ctx's hyperparameters into opts.OutDir, resuming from its checkpoint when
// one exists, up to the total train_steps. It returns ErrInterrupted (after saving) when goctx is
// cancelled, and a one-line error naming the problem for bad input or a NaN loss.
func Run(goctx stdctx.Context, ctx *context.Context, opts Options) (*Result, error) {
	if opts.Log == nil {
		opts.Log = os.Stdout
	}
	r, err := setup(ctx, opts)
	if err != nil {
		return nil, err
	}
	defer r.close()
	fmt.Fprintln(opts.Log, r.banner())
	return r.loop(goctx)
}

// loop trains from the checkpoint's step to the end: one optimizer step at a time, a metrics record
// every log_every steps (with validation every eval_every), a checkpoint every checkpoint_every and
// at the end, and a checkpoint on cancellation.
func (r *runState) loop(goctx stdctx.Context) (*Result, error) {
	res := &Result{Config: r.cfg, RunDir: r.opts.OutDir, Devices: r.stepper.Parallel.NumDevices()}
	lastGood := ""
	if r.start > 0 {
		lastGood = fmt.Sprintf("%s (step %d)", r.ckptDir(), r.start)
	}
	if r.start >= r.total {
		// Nothing to train: report where the run stands rather than zeros.
		res.Steps = r.start
		if recs, err := ReadMetrics(r.opts.OutDir); err == nil {
			for _, rec := range recs {
				res.FinalLoss = rec.TrainLoss
				if rec.ValLoss != nil {
					res.ValLoss = *rec.ValLoss
				}
			}
		}
		fmt.Fprintf(r.opts.Log, "nothing to train: %s is at step %d of %d (raise -set train_steps to continue)\n", r.opts.OutDir, r.start, r.total)
		return res, nil
	}
	w := window{began: time.Now(), start: time.Now()}
	var bar *progressBar
	if r.opts.Progress != nil {
		bar = newProgressBar(r.opts.Progress, r.start, r.total)
		defer bar.clear()
	}
	for step := r.start; step < r.total; step++ {
		if goctx.Err() != nil {
			bar.clear()
			if err := r.save(); err != nil {
				return res, fmt.Errorf("interrupted, and the checkpoint could not be saved: %w", err)
			}
			fmt.Fprintf(r.opts.Log, "interrupted at step %d: checkpoint saved in %s\n", step, r.ckptDir())
			return res, ErrInterrupted
		}
		loss, err := r.step(step)
		if err != nil {
			return res, err
		}
		if math.IsNaN(loss) || math.IsInf(loss, 0) {
			where := "no checkpoint was saved yet"
			if lastGood != "" {
				where = "last good checkpoint: " + lastGood
			}
			return res, fmt.Errorf("loss is %v at step %d: training stopped without saving; %s (try a lower -set learning_rate)", loss, step+1, where)
		}
		res.Steps, res.FinalLoss = step+1, loss
		w.add(loss)
		done := step + 1
		bar.update(done, loss, float64(w.steps*r.cfg.TokensPerStep())/time.Since(w.start).Seconds())
		evalNow := done == r.total || (r.evalEvery > 0 && done%r.evalEvery == 0)
		if done%r.logEvery == 0 || evalNow {
			rec, err := r.record(step, &w, evalNow)
			if err != nil {
				return res, err
			}
			if rec.ValLoss != nil {
				res.ValLoss = *rec.ValLoss
			}
			bar.clear()
			if err := writeRecord(r.metrics, r.opts.Log, rec); err != nil {
				return res, err
			}
			if r.opts.OnRecord != nil {
				r.opts.OnRecord(rec)
			}
			w.reset()
		}
		if done == r.total || (r.ckptEvery > 0 && done%r.ckptEvery == 0) {
			if err := r.save(); err != nil {
				return res, fmt.Errorf("saving checkpoint at step %d: %w", done, err)
			}
			lastGood = fmt.Sprintf("%s (step %d)", r.ckptDir(), done)
		}
	}
	res.Compiles, _ = r.stepper.Compiles()
	return res, nil
}

// step runs the 0-based optimizer step on its batch (fixed-FLOPs SGT replays the guided steps' data
// at the end).
func (r *runState) step(step int64) (float64, error) {
	in, tg := r.ds.TrainBatch(r.seed, r.sgt.Plan.DataStep(step), r.cfg.Batch, r.cfg.Context)
	loss, _, err := r.steps.Run(step, in, tg)
	if note := r.steps.Note; note != "" {
		fmt.Fprintln(r.opts.Log, note)
		r.steps.Note = ""
	}
	if err != nil {
		if outOfMemory(err) {
			return 0, fmt.Errorf("step %d: %s ran out of memory (%s): lower -set batch or context, raise grad_accum, or set dtype=bfloat16",
				step+1, r.opts.BackendName, errline.First(err))
		}
		return 0, fmt.Errorf("step %d: %v", step+1, err)
	}
	return loss, nil
}

// save writes a checkpoint atomically (into staging, then renamed into place) and flushes it to disk.
func (r *runState) save() error {
	if err := r.ckpt.Save(); err != nil {
		return err
	}
	return commitCheckpoint(r.ckptDir())
}

// window accumulates the steps between two metrics records.
type window struct {
	began, start time.Time // the session's start, the window's
	steps        int64
	lossSum      float64
}

func (w *window) add(loss float64) { w.steps++; w.lossSum += loss }
func (w *window) reset()           { w.start, w.steps, w.lossSum = time.Now(), 0, 0 }

// record is the metrics record after the 0-based step, with validation when eval.
func (r *runState) record(step int64, w *window, eval bool) (Record, error) {
	done := step + 1
	elapsed := time.Since(w.start).Seconds()
	flops := r.flopsPerStep*float64(done) + r.sgt.expectedGuideFLOPs(r.cfg, done)
	rec := Record{
		Step: done, Tokens: done * r.cfg.TokensPerStep(), TrainLoss: w.lossSum / float64(w.steps),
		LR:         r.stepper.Opt.Schedule.At(step),
		GradNorm:   float64(tensors.ToScalar[float32](r.ctx.InAbsPath("/" + optimizers.Scope).GetVariable(GradNormVariable).MustValue())),
		MsPerStep:  elapsed * 1000 / float64(w.steps),
		TokPerS:    float64(w.steps*r.cfg.TokensPerStep()) / elapsed,
		TrainFLOPs: flops, ComputedFLOPs: flops,
		ElapsedS: r.priorElapsed + time.Since(w.began).Seconds(),
	}
	if r.sgt.Schedule.Steps > 0 {
		rec.ComputedFLOPs = r.steps.ComputedFLOPs(done)
	}
	if r.peak > 0 {
		// MFU counts the model's FLOPs in this window (the guides at their expected cost), PaLM's convention.
		before := r.flopsPerStep*float64(done-w.steps) + r.sgt.expectedGuideFLOPs(r.cfg, done-w.steps)
		rec.MFU = (flops - before) / elapsed / r.peak
	}
	if eval {
		v, err := r.stepper.Eval(r.valIn, r.valTg)
		if err != nil {
			return rec, fmt.Errorf("validation at step %d: %v", done, err)
		}
		ppl := math.Exp(v)
		rec.ValLoss, rec.ValPPL = &v, &ppl
	}
	return rec, nil
}

func cfgStructure(cfg model.Config) string {
	switch cfg.Structure.String() {
	case "lowrank":
		return fmt.Sprintf("lowrank R=%d", cfg.Rank)
	case "blockdense":
		return fmt.Sprintf("blockdense R=%d B=%d", cfg.Rank, cfg.NBlocks)
	case "blockshuffle":
		return fmt.Sprintf("blockshuffle B=%d", cfg.NBlocks)
	case "monarch":
		return fmt.Sprintf("monarch R=%d B=%d", cfg.Rank, cfg.NBlocks)
	case "btt":
		return fmt.Sprintf("btt R=%d", cfg.Rank)
	}
	return "dense"
}

// scheduleName is the α schedule's kind as settings write it.
func scheduleName(s guide.Schedule) string {
	if s.Kind == "" {
		return guide.Cosine
	}
	return s.Kind
}

// batchTensor shapes flat ids [batch·context] as [batch, context].
func batchTensor(flat []int32, cfg model.Config) *tensors.Tensor {
	return tensors.FromFlatDataAndDimensions(flat, len(flat)/cfg.Context, cfg.Context)
}
