// Package model is the paper's decoder-only transformer (docs/METHOD.md §4) with structured feed-forward
// layers: pre-LayerNorm blocks with biases, RoPE, causal multi-head or grouped-query attention whose
// width may differ from d_model, a GELU-tanh FFN whose two matrices are structured (the first
// block's FFN stays dense), tied input/output embeddings and a final LayerNorm.
//
// Config holds one model's shape; Presets holds the paper's sizes and CPU-sized ones. Params and
// TrainFLOPs give the exact accounting of the paper; Logits and Loss build the GoMLX graph; Decoder
// runs it incrementally with a KV cache, Sampler (and Generate) continue a prompt with temperature and
// top-k sampling, and Merged / PreMerge give the pre-merged dense weights of a structured model.
package model

import (
	"fmt"
	"maps"
	"slices"
	"strings"

	"github.com/structffn/structffn/structffn/linear"
)

// Config is the shape of one model. The zero value is not valid: start from a preset.
type Config struct {
	Name    string `json:"name"`     // Preset name, informational.
	Layers  int    `json:"layers"`   // Transformer blocks.
	DModel  int    `json:"d_model"`  // Residual width d.
	Heads   int    `json:"heads"`    // Query heads.
	KVHeads int    `json:"kv_heads"` // Key/value heads: Heads for MHA, fewer for GQA.
	HeadDim int    `json:"head_dim"` // Per-head width; attention width a = Heads·HeadDim.
	FFN     int    `json:"ffn"`      // FFN hidden width f (4·d in the paper).
	Vocab   int    `json:"vocab"`    // Vocabulary size V.
	Context int    `json:"context"`  // Training context length s.

	Structure linear.Kind `json:"structure"`         // FFN structure of blocks 2..L (block 1 stays dense).
	Rank      int         `json:"rank,omitempty"`    // LowRank / BlockDense rank R.
	NBlocks   int         `json:"nblocks,omitempty"` // BlockDense / BlockShuffle blocks B.
	// AllStructured also structures the first block's FFN (the paper keeps it dense).
	AllStructured bool `json:"all_structured,omitempty"`

	RoPEBase     float64 `json:"rope_base"`      // RoPE base (10000).
	LayerNormEps float64 `json:"layer_norm_eps"` // LayerNorm epsilon (1e-5).

	// Training budget of the preset (defaults for the trainer and the FLOP tables).
	Tokens int64   `json:"tokens"`  // Training tokens.
	Batch  int     `json:"batch"`   // Sequences per optimizer step (the paper: 512 of 1024 tokens).
	PeakLR float64 `json:"peak_lr"` // Peak learning rate.
}

// AttnWidth is a = Heads·HeadDim, the width of the query and attention output.
func (c Config) AttnWidth() int { return c.Heads * c.HeadDim }

// KVWidth is KVHeads·HeadDim, the width of each of the key and value projections.
func (c Config) KVWidth() int { return c.KVHeads * c.HeadDim }

// FFNSpecs returns the specs of block layer's fc1 (d→f) and fc2 (f→d).
func (c Config) FFNSpecs(layer int) (fc1, fc2 linear.Spec) {
	if layer == 0 && !c.AllStructured || c.Structure == linear.Dense {
		return linear.FFNSpecs(linear.Dense, c.DModel, c.FFN, 0, 0)
	}
	return linear.FFNSpecs(c.Structure, c.DModel, c.FFN, c.Rank, c.NBlocks)
}

// Validate checks the config and returns an error naming the first problem and how to fix it.
func (c Config) Validate() error {
	positive := []struct {
		name string
		v    int
	}{{"layers", c.Layers}, {"d_model", c.DModel}, {"heads", c.Heads}, {"kv_heads", c.KVHeads},
		{"head_dim", c.HeadDim}, {"ffn", c.FFN}, {"vocab", c.Vocab}, {"context", c.Context}, {"batch", c.Batch}}
	for _, p := range positive {
		if p.v <= 0 {
			return fmt.Errorf("model config: %s must be positive (got %d)", p.name, p.v)
		}
	}
	if c.Heads%c.KVHeads != 0 {
		return fmt.Errorf("model config: heads (%d) must be a multiple of kv_heads (%d) for grouped-query attention",
			c.Heads, c.KVHeads)
	}
	if c.HeadDim%2 != 0 {
		return fmt.Errorf("model config: head_dim must be even for RoPE (got %d)", c.HeadDim)
	}
	if c.RoPEBase <= 0 {
		return fmt.Errorf("model config: rope_base must be positive (got %g)", c.RoPEBase)
	}
	if c.LayerNormEps <= 0 {
		return fmt.Errorf("model config: layer_norm_eps must be positive (got %g)", c.LayerNormEps)
	}
	for layer := range min(c.Layers, 2) {
		fc1, fc2 := c.FFNSpecs(layer)
		for _, s := range []linear.Spec{fc1, fc2} {
			if err := s.Validate(); err != nil {
				return fmt.Errorf("model config: FFN %w", err)
			}
		}
	}
	return nil
}

// WithStructure returns a copy of c with its FFN structured as kind at the given fraction of the
// dense FFN's parameters (linear.SizeFor's rules); fraction 1 or kind Dense gives the dense model.
func (c Config) WithStructure(kind linear.Kind, fraction float64) (Config, error) {
	if kind == linear.Dense || fraction == 1 {
		c.Structure, c.Rank, c.NBlocks = linear.Dense, 0, 0
		return c, nil
	}
	r, b, err := linear.SizeFor(kind, c.DModel, c.FFN, fraction)
	if err != nil {
		return c, err
	}
	c.Structure, c.Rank, c.NBlocks = kind, r, b
	return c, nil
}

// Presets are the paper's sizes (docs/METHOD.md §4 and Table 2) and CPU-sized models that train in
// minutes on two cores. All are dense; use Config.WithStructure for the structured variants.
var Presets = map[string]Config{
	// CPU sizes: small vocabularies so that the FFN, not the logits, dominates compute. tiny's budget
	// (120 steps of 2048 tokens) is `structffn train`'s default run: about 4 minutes on 2 cores with the
	// pure-Go backend, half a minute on XLA.
	"tiny": {Layers: 2, DModel: 128, Heads: 4, KVHeads: 4, HeadDim: 32, FFN: 512, Vocab: 512, Context: 128,
		Tokens: 120 * 2048, Batch: 16, PeakLR: 2e-3},
	"mini": {Layers: 4, DModel: 256, Heads: 4, KVHeads: 4, HeadDim: 64, FFN: 1024, Vocab: 1024, Context: 256,
		Tokens: 8_000_000, Batch: 16, PeakLR: 1e-3},
	"small": {Layers: 6, DModel: 384, Heads: 6, KVHeads: 6, HeadDim: 64, FFN: 1536, Vocab: 2048, Context: 256,
		Tokens: 32_000_000, Batch: 32, PeakLR: 8e-4},
	// The paper's sizes: vocabulary 32000 (LLaMA tokenizer), context 1024.
	"s":  {Layers: 12, DModel: 768, Heads: 12, KVHeads: 12, HeadDim: 64, FFN: 3072, Vocab: 32000, Context: 1024, Tokens: 2_200_000_000, Batch: 512, PeakLR: 6e-4},
	"m":  {Layers: 24, DModel: 1024, Heads: 16, KVHeads: 16, HeadDim: 64, FFN: 4096, Vocab: 32000, Context: 1024, Tokens: 6_700_000_000, Batch: 512, PeakLR: 3e-4},
	"l":  {Layers: 24, DModel: 1536, Heads: 12, KVHeads: 12, HeadDim: 128, FFN: 6144, Vocab: 32000, Context: 1024, Tokens: 14_580_000_000, Batch: 512, PeakLR: 2.5e-4},
	"xl": {Layers: 24, DModel: 2048, Heads: 16, KVHeads: 16, HeadDim: 128, FFN: 8192, Vocab: 32000, Context: 1024, Tokens: 25_500_000_000, Batch: 512, PeakLR: 2e-4},
	// Table 2, "wide and structured": GQA with a narrow attention and a wide LowRank FFN
	// (set Structure/Rank: R = 512 for m-wide, 768 for l-wide; see PaperTable). Their token budgets
	// (the reference code's) give the same training FLOPs as the dense m and l models.
	"m-wide": {Layers: 24, DModel: 1024, Heads: 8, KVHeads: 4, HeadDim: 64, FFN: 4864, Vocab: 32000, Context: 1024, Tokens: 10_580_000_000, Batch: 512, PeakLR: 3e-4},
	"l-wide": {Layers: 24, DModel: 1536, Heads: 12, KVHeads: 4, HeadDim: 64, FFN: 7424, Vocab: 32000, Context: 1024, Tokens: 23_360_000_000, Batch: 512, PeakLR: 2.5e-4},
}

// PaperPresets lists the paper's four main sizes in order.
var PaperPresets = []string{"s", "m", "l", "xl"}

// CPUPresets lists the CPU-sized presets in order.
var CPUPresets = []string{"tiny", "mini", "small"}

func init() {
	for name, c := range Presets {
		c.Name = name
		c.RoPEBase = 10000
		c.LayerNormEps = 1e-5
		Presets[name] = c
	}
}

// Preset returns the named preset, or an error listing the names.
func Preset(name string) (Config, error) {
	c, ok := Presets[name]
	if !ok {
		return Config{}, fmt.Errorf("unknown preset %q: allowed values are %s", name, strings.Join(slices.Sorted(maps.Keys(Presets)), ", "))
	}
	return c, nil
}
