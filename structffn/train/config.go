// Package train wires the model to data and GoMLX's trainer: AdamW with a warm-up + cosine learning
// rate and global-norm gradient clipping (docs/METHOD.md §4), validation, checkpoints that resume to a
// total number of steps, a metrics log and the one-line progress log.
//
// Every hyperparameter lives in one default context (DefaultContext), each documented where it is
// set, and can be overridden with -set="k=v;k2=v2" on the command line or `%% --set=...` in a
// notebook (GoMLX's commandline.ParseContextSettings).
package train

import (
	"encoding/json"
	"fmt"
	"maps"
	"math"
	"slices"
	"strconv"
	"strings"

	"github.com/gomlx/gomlx/pkg/core/dtypes"
	"github.com/gomlx/gomlx/pkg/ml/context"
	"github.com/gomlx/gomlx/ui/commandline"

	"github.com/structffn/structffn/internal/errline"
	"github.com/structffn/structffn/structffn/linear"
	"github.com/structffn/structffn/structffn/model"
)

// Hyperparameter names (context parameters). Each one's default and meaning are in defaults below.
const (
	ParamPreset    = "preset"
	ParamStructure = "structure"
	ParamFraction  = "fraction"
	ParamRank      = "rank"
	ParamNBlocks   = "nblocks"
	ParamScaling   = linear.ParamScaling // "lr_scaling", read by linear.Variables
	ParamLayers    = "layers"
	ParamDModel    = "d_model"
	ParamHeads     = "heads"
	ParamKVHeads   = "kv_heads"
	ParamHeadDim   = "head_dim"
	ParamFFN       = "ffn"
	ParamContext   = "context"
	ParamDtype     = "dtype"

	ParamCorpus      = "corpus"
	ParamTokenizer   = "tokenizer"
	ParamValFraction = "val_fraction"

	ParamTrainSteps   = "train_steps"
	ParamBatch        = "batch"
	ParamGradAccum    = "grad_accum"
	ParamDevices      = "devices"
	ParamLearningRate = "learning_rate" // the name GoMLX optimizers read
	ParamWarmup       = "warmup_fraction"
	ParamMinLR        = "min_lr_fraction"
	ParamWeightDecay  = "weight_decay"
	ParamBeta1        = "adam_beta1"
	ParamBeta2        = "adam_beta2"
	ParamEpsilon      = "adam_epsilon" // the name GoMLX's Adam reads
	ParamGradClip     = "grad_clip"

	ParamLogEvery        = "log_every"
	ParamEvalEvery       = "eval_every"
	ParamEvalBatches     = "eval_batches"
	ParamCheckpointEvery = "checkpoint_every"
	ParamSeed            = linear.ParamSeed
)

// setting is a hyperparameter's default and, for a numeric one, the values it accepts: lo to hi
// (inclusive), and 0 as well when zero says what 0 means ("the preset's", "off").
type setting struct {
	def    any
	lo, hi float64
	zero   string
}

// text and num make the entries of defaults: a string setting, a numeric one in [lo, hi], and a numeric
// one in [lo, hi] or 0 (meaning zero).
func text(def string) setting             { return setting{def: def} }
func num(def any, lo, hi float64) setting { return setting{def: def, lo: lo, hi: hi} }
func numOr0(def any, lo, hi float64, zero string) setting {
	return setting{def: def, lo: lo, hi: hi, zero: zero}
}

// unbounded is the upper end of a range without one.
var unbounded = math.Inf(1)

// defaults holds every hyperparameter's default and allowed values, written once: DefaultContext sets
// the defaults, Param falls back to them and CheckSettings checks a context against the ranges. Zero
// values of the model-shape settings mean "the preset's".
var defaults = map[string]setting{
	// Model.
	ParamPreset:    text("tiny"),                             // Model preset (tiny, mini, small, s, m, l, xl, m-wide, l-wide).
	ParamStructure: text("lowrank"),                          // FFN structure: dense, lowrank, blockdense, blockshuffle (the paper's), monarch, btt.
	ParamFraction:  num(linear.Fraction32, 1e-6, 1),          // FFN parameter fraction of structured blocks (0.625 = "63%", 0.3125 = "32%").
	ParamRank:      numOr0(0, 1, unbounded, "from fraction"), // Explicit rank R (0: from fraction).
	ParamNBlocks:   numOr0(0, 1, unbounded, "from fraction"), // Explicit number of blocks B (0: from fraction).
	ParamScaling:   text(linear.ScalingOff),                  // off: the paper's init and one learning rate; cbs: Compute Better Spent's structure-aware init and per-factor learning rates (structured FFN weights only).
	ParamLayers:    numOr0(0, 1, unbounded, "the preset's"),  // Override the preset's layers.
	ParamDModel:    numOr0(0, 1, unbounded, "the preset's"),  // Override d_model.
	ParamHeads:     numOr0(0, 1, unbounded, "the preset's"),  // Override query heads.
	ParamKVHeads:   numOr0(0, 1, unbounded, "the preset's"),  // Override key/value heads (0: the preset's, or heads when heads is overridden).
	ParamHeadDim:   numOr0(0, 1, unbounded, "the preset's"),  // Override head dim.
	ParamFFN:       numOr0(0, 1, unbounded, "the preset's"),  // Override FFN width.
	ParamContext:   numOr0(0, 1, unbounded, "the preset's"),  // Training context length.
	ParamDtype:     text("float32"),                          // Activation dtype: float32, or bfloat16 (bf16 compute, float32 master weights, optimizer state and loss).

	// Data.
	ParamCorpus:      text("gosrc"),        // Corpus: gosrc, sotu, brown, file:PATH, dir:PATH.
	ParamTokenizer:   text(""),             // Tokenizer: byte, bpe:N, gpt2 ("": bpe with the preset's vocabulary).
	ParamValFraction: num(0.05, 1e-6, 0.5), // Fraction of the token stream (its end) held out for validation.

	// Optimisation (docs/METHOD.md §4).
	ParamTrainSteps:   numOr0(0, 1, unbounded, "the preset's token budget"), // Total optimizer steps (0: the preset's token budget / tokens per step).
	ParamBatch:        numOr0(0, 1, unbounded, "the preset's"),              // Sequences per step (0: the preset's).
	ParamGradAccum:    num(1, 1, unbounded),                                 // Micro-batches per step: the batch runs in this many equal parts whose gradients are averaged (memory-limited devices; same updates).
	ParamDevices:      numOr0(0, 1, unbounded, "chosen by measurement"),     // Data parallel: each batch is split over this many devices of the backend (XLA SPMD partitioning; same updates as one device); 0: timed per model and machine, and cached (ResolveDevices).
	ParamLearningRate: numOr0(0.0, 1e-12, unbounded, "the preset's"),        // Peak learning rate (0: the preset's).
	ParamWarmup:       num(0.1, 0, 1),                                       // Linear warm-up over this fraction of the steps.
	ParamMinLR:        num(0.1, 0, 1),                                       // Cosine decays to this fraction of the peak.
	ParamWeightDecay:  num(0.1, 0, unbounded),                               // AdamW decoupled weight decay, on all parameters.
	ParamBeta1:        num(0.9, 0, 0.999999),                                // AdamW β1.
	ParamBeta2:        num(0.999, 0, 0.999999),                              // AdamW β2.
	ParamEpsilon:      num(1e-8, 1e-30, 1),                                  // AdamW ε.
	ParamGradClip:     numOr0(1.0, 1e-12, unbounded, "off"),                 // Global gradient-norm clip (0: off).

	// Self-guided training (docs/METHOD.md §3; see sgt.go and docs/SGT.md).
	ParamSGT:           text("off"),                                           // off, steps (guide over the first sgt_ratio of the steps, same tokens) or flops (matched to the dense model's FLOPs: the guided p·N steps replayed at the end).
	ParamSGTSchedule:   text("cosine"),                                        // α schedule over the guided window: cosine or linear.
	ParamSGTRatio:      num(0.5, 1e-6, 1),                                     // Guided fraction of the steps in steps mode (the paper's 0.5); the window is floor(N·ratio).
	ParamSGTP:          numOr0(0.0, 1e-6, 1, "solved from the FLOP equation"), // flops mode: p given directly, window floor(N·p) as the reference computes it (0: p solved exactly from the FLOP equation, window round(N·p)).
	ParamSGTSkip:       text("matrix"),                                        // matrix: each guide skipped independently (u ≥ α), as the reference does; shared: one draw decides every guide of a forward call.
	ParamSGTDraw:       text("step"),                                          // step: one draw per optimizer step for all its micro-batches; micro: one per forward call (micro-batch), as the reference does under grad_accum.
	ParamSGTPlainGraph: text("auto"),                                          // graph of the steps on which no guide runs: auto (the plain model's when compiling it pays off, from measured times), always, never (the guided graph, guides masked off).
	ParamSGTGuideInit:  text("merged"),                                        // merged: each guide starts as the exact dense operator of its matrix; reference: as the reference code does (BlockShuffle without its permutations).

	// Logging and checkpoints.
	ParamLogEvery:        num(10, 1, unbounded),                        // Steps between log lines / metrics.jsonl records.
	ParamEvalEvery:       numOr0(40, 1, unbounded, "only at the end"),  // Steps between validation evaluations (0: only at the end).
	ParamEvalBatches:     num(8, 1, unbounded),                         // Batches in the fixed validation set.
	ParamCheckpointEvery: numOr0(200, 1, unbounded, "only at the end"), // Steps between checkpoints (0: only at the end).
	ParamSeed:            num(0, 0, math.MaxInt32),                     // Seed of initialisation, batch sampling and SGT's skip draws.

	// Peak dense throughput of the device in TFLOP/s, for MFU (0: backend.PeakTFLOPs, an estimate on
	// CPUs; unknown, so MFU not reported, on GPUs).
	ParamPeakTFLOPs: numOr0(0.0, 1e-6, unbounded, "estimated"),
	// Backend: "" ($GOMLX_BACKEND, else auto: XLA CPU when its plugin is installed, else pure Go).
	ParamBackend: text(""),
}

// CheckSettings checks every numeric hyperparameter of ctx against its allowed values (defaults),
// returning a one-line error that names the setting, its value and what is allowed.
func CheckSettings(ctx *context.Context) error {
	for _, key := range slices.Sorted(maps.Keys(defaults)) {
		s := defaults[key]
		var v float64
		switch s.def.(type) {
		case int:
			v = float64(Param[int](ctx, key))
		case float64:
			v = Param[float64](ctx, key)
		default:
			continue
		}
		if v == 0 && s.zero != "" {
			continue
		}
		if math.IsNaN(v) || math.IsInf(v, 0) || v < s.lo || v > s.hi {
			return fmt.Errorf("-set %s=%v: allowed %s", key, v, s.allowed())
		}
	}
	return nil
}

// allowed describes a numeric setting's allowed values.
func (s setting) allowed() string {
	r := ""
	_, isInt := s.def.(int)
	lo, hi := strconv.FormatFloat(s.lo, 'g', -1, 64), strconv.FormatFloat(s.hi, 'g', -1, 64)
	switch {
	case math.IsInf(s.hi, 1) && isInt:
		r = "an integer from " + lo + " up"
	case math.IsInf(s.hi, 1):
		r = "a number from " + lo + " up"
	case isInt:
		r = "an integer from " + lo + " to " + hi
	default:
		r = "a number from " + lo + " to " + hi
	}
	if s.zero != "" {
		r += ", or 0 (" + s.zero + ")"
	}
	return r
}

// DefaultContext returns a context holding every hyperparameter at its default: the tiny CPU preset
// with a 32%-parameter LowRank FFN on the built-in Go-source corpus, a few minutes on 2 cores.
func DefaultContext() *context.Context {
	ctx := context.New()
	params := make(map[string]any, len(defaults))
	for k, s := range defaults {
		params[k] = s.def
	}
	ctx.SetParams(params)
	return ctx
}

// Param is hyperparameter key as ctx sees it (set in its scope or above), else its default. T must
// be the default's type (int, float64, string); anything else is a programming error and panics.
func Param[T any](ctx *context.Context, key string) T {
	s, ok := defaults[key]
	def := s.def
	if !ok {
		panic(fmt.Sprintf("train.Param: hyperparameter %q has no default", key))
	}
	d, ok := def.(T)
	if !ok {
		panic(fmt.Sprintf("train.Param: hyperparameter %q has a %T default, asked for %T", key, def, d))
	}
	return context.GetParamOr(ctx, key, d)
}

// ModelConfig resolves the model of ctx's hyperparameters: the preset, its shape overrides and the
// FFN structure at the requested fraction (or explicit rank / nblocks).
func ModelConfig(ctx *context.Context) (model.Config, error) {
	if err := CheckSettings(ctx); err != nil {
		return model.Config{}, err
	}
	cfg, err := model.Preset(Param[string](ctx, ParamPreset))
	if err != nil {
		return cfg, err
	}
	overrides := []struct {
		param string
		field *int
	}{
		{ParamLayers, &cfg.Layers}, {ParamDModel, &cfg.DModel}, {ParamHeads, &cfg.Heads},
		{ParamHeadDim, &cfg.HeadDim}, {ParamFFN, &cfg.FFN}, {ParamContext, &cfg.Context}, {ParamBatch, &cfg.Batch},
	}
	headsBefore := cfg.Heads
	for _, o := range overrides {
		v := Param[int](ctx, o.param)
		if v < 0 {
			return cfg, fmt.Errorf("-set %s=%d: must be positive (or 0 for the preset's value)", o.param, v)
		}
		if v > 0 {
			*o.field = v
		}
	}
	if kv := Param[int](ctx, ParamKVHeads); kv > 0 {
		cfg.KVHeads = kv
	} else if cfg.Heads != headsBefore {
		cfg.KVHeads = cfg.Heads // heads overridden without kv_heads: plain multi-head attention
	}
	kind, err := linear.ParseKind(Param[string](ctx, ParamStructure))
	if err != nil {
		return cfg, err
	}
	if err := linear.CheckScaling(Param[string](ctx, ParamScaling)); err != nil {
		return cfg, err
	}
	rank, nblocks := Param[int](ctx, ParamRank), Param[int](ctx, ParamNBlocks)
	if (kind == linear.BlockDense || kind == linear.Monarch) && (rank > 0) != (nblocks > 0) {
		return cfg, fmt.Errorf("-set rank=%d;nblocks=%d: %s takes both a rank and a number of blocks, or neither (sized from fraction)", rank, nblocks, kind)
	}
	if rank > 0 || nblocks > 0 {
		cfg.Structure, cfg.Rank, cfg.NBlocks = kind, rank, nblocks
	} else if cfg, err = cfg.WithStructure(kind, Param[float64](ctx, ParamFraction)); err != nil {
		return cfg, err
	}
	if steps := Param[int](ctx, ParamTrainSteps); steps > 0 {
		cfg.Tokens = int64(steps) * cfg.TokensPerStep()
	}
	if lr := Param[float64](ctx, ParamLearningRate); lr > 0 {
		cfg.PeakLR = lr
	}
	if err := cfg.Validate(); err != nil {
		return cfg, err
	}
	return cfg, nil
}

// TokenizerSpec is the tokenizer of ctx: the explicit one, or a BPE with the preset's vocabulary.
func TokenizerSpec(ctx *context.Context, cfg model.Config) string {
	if spec := strings.TrimSpace(Param[string](ctx, ParamTokenizer)); spec != "" {
		return spec
	}
	return fmt.Sprintf("bpe:%d", cfg.Vocab)
}

// ComputeDtype is the activation dtype of ctx's dtype setting: float32 (default) or bfloat16
// ("bf16" too). Weights, optimizer state, LayerNorm statistics, softmax and the loss stay float32.
func ComputeDtype(ctx *context.Context) (dtypes.DType, error) {
	v := Param[string](ctx, ParamDtype)
	dt, ok := ParseDtype(v)
	if !ok {
		return dtypes.InvalidDType, fmt.Errorf("-set dtype=%s: allowed values are float32, bfloat16", strings.ToLower(strings.TrimSpace(v)))
	}
	return dt, nil
}

// ParseDtype is the activation dtype a dtype setting names: float32 ("", "f32") or bfloat16 ("bf16"),
// in any case; ok is false for anything else.
func ParseDtype(s string) (dt dtypes.DType, ok bool) {
	switch strings.ToLower(strings.TrimSpace(s)) {
	case "", "float32", "f32":
		return dtypes.Float32, true
	case "bfloat16", "bf16":
		return dtypes.BFloat16, true
	}
	return dtypes.InvalidDType, false
}

// DtypeName is the dtype setting's name for dt ("float32", "bfloat16"), as logs and JSON records print it.
func DtypeName(dt dtypes.DType) string { return strings.ToLower(dt.String()) }

// ApplySettings sets the hyperparameters of a -set string ("key=value;key2=value2", GoMLX's
// commandline.ParseContextSettings syntax, "file:PATH" included) in ctx, and returns the keys set.
// Each setting is checked first, so that a mistyped one fails with one line naming it and what is
// expected: an unknown name (with the nearest known one), a value that is not of the setting's type.
// Ranges are checked later, by CheckSettings.
func ApplySettings(ctx *context.Context, settings string) ([]string, error) {
	for _, s := range strings.Split(settings, ";") {
		if s == "" || strings.HasPrefix(s, "file:") {
			continue
		}
		key, value, ok := strings.Cut(s, "=")
		if !ok || strings.Contains(value, "=") {
			return nil, fmt.Errorf("-set %q: each setting is name=value, settings separated by ';'", s)
		}
		_, name := context.SplitScope(key)
		def, found := ctx.GetParam(name)
		if !found {
			return nil, fmt.Errorf("-set %s: no setting %q%s; structffn train -params lists them", s, name, nearestSetting(ctx, name))
		}
		if err := checkValueType(def, value); err != nil {
			return nil, fmt.Errorf("-set %s: %v", s, err)
		}
	}
	set, err := commandline.ParseContextSettings(ctx, settings)
	if err != nil {
		return nil, fmt.Errorf("-set: %v", errline.First(err))
	}
	return set, nil
}

// checkValueType reports whether value parses as def's type does in ParseContextSettings (JSON
// numbers, '_' allowed between an integer's digits).
func checkValueType(def any, value string) error {
	switch def.(type) {
	case int, int32, int64, uint, uint32, uint64:
		var v int64
		if json.Unmarshal([]byte(strings.ReplaceAll(value, "_", "")), &v) != nil {
			return fmt.Errorf("%q is not an integer", value)
		}
	case float32, float64:
		var v float64
		if json.Unmarshal([]byte(value), &v) != nil {
			return fmt.Errorf("%q is not a number (as in 3e-4, 0.5, 2)", value)
		}
	case bool:
		var v bool
		if json.Unmarshal([]byte(value), &v) != nil {
			return fmt.Errorf("%q is not true or false", value)
		}
	}
	return nil
}

// nearestSetting is " (did you mean K?)" for the known setting nearest to name by edit distance, when
// one is within a third of name's length; "" otherwise.
func nearestSetting(ctx *context.Context, name string) string {
	best, bestD := "", len(name)/3+1
	ctx.EnumerateParams(func(scope, key string, _ any) {
		if scope != context.RootScope {
			return
		}
		if d := editDistance(name, key); d < bestD {
			best, bestD = key, d
		}
	})
	if best == "" {
		return ""
	}
	return fmt.Sprintf(" (did you mean %s?)", best)
}

// editDistance is the Levenshtein distance between a and b (bytes).
func editDistance(a, b string) int {
	prev := make([]int, len(b)+1)
	for j := range prev {
		prev[j] = j
	}
	for i := 1; i <= len(a); i++ {
		cur := make([]int, len(b)+1)
		cur[0] = i
		for j := 1; j <= len(b); j++ {
			cost := 1
			if a[i-1] == b[j-1] {
				cost = 0
			}
			cur[j] = min(prev[j]+1, cur[j-1]+1, prev[j-1]+cost)
		}
		prev = cur
	}
	return prev[len(b)]
}
