// Package train wires the model to data and GoMLX's trainer: AdamW with a warm-up + cosine learning
// rate and global-norm gradient clipping (PAPER.md §4), validation, checkpoints that resume to a
// total number of steps, a metrics log and the one-line progress log.
//
// Every hyperparameter lives in one default context (DefaultContext), each documented where it is
// set, and can be overridden with -set="k=v;k2=v2" on the command line or `%% --set=...` in a
// notebook (GoMLX's commandline.ParseContextSettings).
package train

import (
	"fmt"
	"strings"

	"github.com/gomlx/gomlx/pkg/core/dtypes"
	"github.com/gomlx/gomlx/pkg/ml/context"

	"github.com/structffn/structffn/structffn/linear"
	"github.com/structffn/structffn/structffn/model"
)

// Hyperparameter names (context parameters). Zero values of the model-shape ones mean "the preset's".
const (
	ParamPreset    = "preset"    // Model preset (tiny, mini, small, s, m, l, xl, m-wide, l-wide).
	ParamStructure = "structure" // FFN structure: dense, lowrank, blockdense, blockshuffle.
	ParamFraction  = "fraction"  // FFN parameter fraction of structured blocks (0.625 = "63%", 0.3125 = "32%").
	ParamRank      = "rank"      // Explicit rank R (0: from fraction).
	ParamNBlocks   = "nblocks"   // Explicit number of blocks B (0: from fraction).
	ParamLayers    = "layers"    // Override the preset's layers (0: preset).
	ParamDModel    = "d_model"   // Override d_model (0: preset).
	ParamHeads     = "heads"     // Override query heads (0: preset).
	ParamKVHeads   = "kv_heads"  // Override key/value heads (0: preset = heads).
	ParamHeadDim   = "head_dim"  // Override head dim (0: preset).
	ParamFFN       = "ffn"       // Override FFN width (0: preset).
	ParamContext   = "context"   // Training context length (0: preset).
	ParamDtype     = "dtype"     // Activation dtype: float32, or bfloat16 (bf16 compute, float32 master weights, optimizer state and loss).

	ParamCorpus      = "corpus"       // Corpus: gosrc, sotu, brown, file:PATH, dir:PATH.
	ParamTokenizer   = "tokenizer"    // Tokenizer: byte, bpe:N, gpt2 ("": bpe with the preset's vocabulary).
	ParamValFraction = "val_fraction" // Fraction of the token stream (its end) held out for validation.

	ParamTrainSteps   = "train_steps"     // Total optimizer steps (0: the preset's token budget / tokens per step).
	ParamBatch        = "batch"           // Sequences per step (0: preset).
	ParamGradAccum    = "grad_accum"      // Micro-batches per step: the batch runs in this many equal parts whose gradients are averaged (memory-limited devices; same updates).
	ParamDevices      = "devices"         // Data parallel: each batch is split over this many devices of the backend (XLA SPMD partitioning; same updates as one device).
	ParamLearningRate = "learning_rate"   // Peak learning rate (0: preset); the name GoMLX optimizers read.
	ParamWarmup       = "warmup_fraction" // Linear warm-up over this fraction of the steps.
	ParamMinLR        = "min_lr_fraction" // Cosine decays to this fraction of the peak.
	ParamWeightDecay  = "weight_decay"    // AdamW decoupled weight decay, on all parameters.
	ParamBeta1        = "adam_beta1"      // AdamW β1.
	ParamBeta2        = "adam_beta2"      // AdamW β2.
	ParamEpsilon      = "adam_epsilon"    // AdamW ε (the name GoMLX Adam reads).
	ParamGradClip     = "grad_clip"       // Global gradient-norm clip (0: off).

	ParamLogEvery        = "log_every"        // Steps between log lines / metrics.jsonl records.
	ParamEvalEvery       = "eval_every"       // Steps between validation evaluations (0: only at the end).
	ParamEvalBatches     = "eval_batches"     // Batches in the fixed validation set.
	ParamCheckpointEvery = "checkpoint_every" // Steps between checkpoints (0: only at the end).
	ParamSeed            = linear.ParamSeed   // Seed of initialisation and batch sampling.
)

// DefaultContext returns a context holding every hyperparameter at its default: the tiny CPU preset
// with a 32%-parameter LowRank FFN on the built-in Go-source corpus, a few minutes on 2 cores.
func DefaultContext() *context.Context {
	ctx := context.New()
	ctx.SetParams(map[string]any{
		ParamPreset:    "tiny",
		ParamStructure: "lowrank",
		ParamFraction:  linear.Fraction32,
		ParamRank:      0,
		ParamNBlocks:   0,
		ParamLayers:    0,
		ParamDModel:    0,
		ParamHeads:     0,
		ParamKVHeads:   0,
		ParamHeadDim:   0,
		ParamFFN:       0,
		ParamContext:   0,
		ParamDtype:     "float32",

		ParamCorpus:      "gosrc",
		ParamTokenizer:   "",
		ParamValFraction: 0.05,

		ParamTrainSteps:   0,
		ParamBatch:        0,
		ParamGradAccum:    1,
		ParamDevices:      1,
		ParamLearningRate: 0.0,
		ParamWarmup:       0.1,
		ParamMinLR:        0.1,
		ParamWeightDecay:  0.1,
		ParamBeta1:        0.9,
		ParamBeta2:        0.999,
		ParamEpsilon:      1e-8,
		ParamGradClip:     1.0,

		ParamSGT:         "off",
		ParamSGTSchedule: "cosine",
		ParamSGTRatio:    0.5,

		ParamLogEvery:        10,
		ParamEvalEvery:       40,
		ParamEvalBatches:     8,
		ParamCheckpointEvery: 200,
		ParamSeed:            0,
		// Peak dense throughput of the device in TFLOP/s, for MFU (0: backend.PeakTFLOPs, an estimate on
		// CPUs; unknown, so MFU not reported, on GPUs).
		ParamPeakTFLOPs: 0.0,
		// Backend: "" ($GOMLX_BACKEND, else auto: XLA CPU when its plugin is installed, else pure Go).
		ParamBackend: "",
	})
	return ctx
}

// ModelConfig resolves the model of ctx's hyperparameters: the preset, its shape overrides and the
// FFN structure at the requested fraction (or explicit rank / nblocks).
func ModelConfig(ctx *context.Context) (model.Config, error) {
	cfg, err := model.Preset(context.GetParamOr(ctx, ParamPreset, "tiny"))
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
		v := context.GetParamOr(ctx, o.param, 0)
		if v < 0 {
			return cfg, fmt.Errorf("-set %s=%d: must be positive (or 0 for the preset's value)", o.param, v)
		}
		if v > 0 {
			*o.field = v
		}
	}
	if kv := context.GetParamOr(ctx, ParamKVHeads, 0); kv > 0 {
		cfg.KVHeads = kv
	} else if cfg.Heads != headsBefore {
		cfg.KVHeads = cfg.Heads // heads overridden without kv_heads: plain multi-head attention
	}
	kind, err := linear.ParseKind(context.GetParamOr(ctx, ParamStructure, "dense"))
	if err != nil {
		return cfg, err
	}
	rank, nblocks := context.GetParamOr(ctx, ParamRank, 0), context.GetParamOr(ctx, ParamNBlocks, 0)
	if rank > 0 || nblocks > 0 {
		cfg.Structure, cfg.Rank, cfg.NBlocks = kind, rank, nblocks
	} else if cfg, err = cfg.WithStructure(kind, context.GetParamOr(ctx, ParamFraction, 1.0)); err != nil {
		return cfg, err
	}
	if steps := context.GetParamOr(ctx, ParamTrainSteps, 0); steps > 0 {
		cfg.Tokens = int64(steps) * cfg.TokensPerStep()
	}
	if lr := context.GetParamOr(ctx, ParamLearningRate, 0.0); lr > 0 {
		cfg.PeakLR = lr
	}
	if err := cfg.Validate(); err != nil {
		return cfg, err
	}
	return cfg, nil
}

// TokenizerSpec is the tokenizer of ctx: the explicit one, or a BPE with the preset's vocabulary.
func TokenizerSpec(ctx *context.Context, cfg model.Config) string {
	if spec := strings.TrimSpace(context.GetParamOr(ctx, ParamTokenizer, "")); spec != "" {
		return spec
	}
	return fmt.Sprintf("bpe:%d", cfg.Vocab)
}

// ComputeDtype is the activation dtype of ctx's dtype setting: float32 (default) or bfloat16
// ("bf16" too). Weights, optimizer state, LayerNorm statistics, softmax and the loss stay float32.
func ComputeDtype(ctx *context.Context) (dtypes.DType, error) {
	v := context.GetParamOr(ctx, ParamDtype, "float32")
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
