package model

import (
	"fmt"
	"github.com/gomlx/gomlx/backends"
	"strings"

	"github.com/gomlx/gomlx/pkg/core/tensors"
	"github.com/gomlx/gomlx/pkg/ml/context"

	"github.com/structffn/structffn/structffn/linear"
)

// Merged returns the dense model equivalent to a structured one (docs/METHOD.md §5, pre-merging): a new
// context holding every weight of ctx (the model's weights at ctx's root scope; optimizer state and
// SGT guides are left out), with each structured FFN matrix replaced by its merged dense M×N matrix,
// and the dense config to build it with. Its logits equal the structured model's up to float32
// rounding; it trades the structure's fewer FLOPs for one large matmul per matrix, which is faster
// when few tokens are in flight (decoding).
func Merged(ctx *context.Context, cfg Config) (*context.Context, Config, error) {
	if err := cfg.Validate(); err != nil {
		return nil, cfg, err
	}
	dense := cfg
	dense.Structure, dense.Rank, dense.NBlocks, dense.AllStructured = linear.Dense, 0, 0, false
	structured := map[string]bool{} // scopes of structured FFN matrices
	for layer := range cfg.Layers {
		for i, spec := range specsOf(cfg, layer) {
			if spec.Kind != linear.Dense {
				structured[FFNScope(layer, i)] = true
			}
		}
	}
	merged := context.New()
	for v := range ctx.IterVariables() {
		scope := v.Scope()
		if !isModelScope(scope) || structured[scope] && v.Name() != linear.WeightBias {
			continue // optimizer state, RNG, step; structured weights and guides (merged below)
		}
		val, err := v.Value()
		if err != nil {
			return nil, cfg, fmt.Errorf("reading %s: %w", v.ScopeAndName(), err)
		}
		clone, err := val.LocalClone()
		if err != nil {
			return nil, cfg, fmt.Errorf("copying %s: %w", v.ScopeAndName(), err)
		}
		merged.InAbsPath(scope).VariableWithValue(v.Name(), clone)
	}
	for layer := range cfg.Layers {
		for i, spec := range specsOf(cfg, layer) {
			if spec.Kind == linear.Dense {
				continue
			}
			scope := FFNScope(layer, i)
			host := linear.HostWeights{}
			for _, w := range spec.Weights() {
				v := ctx.GetVariableByScopeAndName(scope, w.Name)
				if v == nil {
					return nil, cfg, fmt.Errorf("no %s/%s: the context does not hold a %s model", scope, w.Name, spec)
				}
				host[w.Name] = tensors.MustCopyFlatData[float32](v.MustValue())
			}
			w, err := spec.Merge(host)
			if err != nil {
				return nil, cfg, err
			}
			merged.InAbsPath(scope).VariableWithValue(linear.WeightDense, tensors.FromFlatDataAndDimensions(w, spec.Out, spec.In))
		}
	}
	return merged, dense, nil
}

// FFNScope is the absolute scope of block layer's FFN matrix i (0: fc1, 1: fc2), where its weights live.
func FFNScope(layer, i int) string { return fmt.Sprintf("/block_%02d/ffn/fc%d", layer, i+1) }

func specsOf(cfg Config, layer int) []linear.Spec {
	fc1, fc2 := cfg.FFNSpecs(layer)
	return []linear.Spec{fc1, fc2}
}

// isModelScope reports whether a variable scope belongs to the model (not the optimizer, RNG or
// global step, which GoMLX keeps under their own top-level scopes).
func isModelScope(scope string) bool {
	for _, prefix := range []string{"/embed", "/block_", "/ln_f"} {
		if strings.HasPrefix(scope, prefix) {
			return true
		}
	}
	return false
}

// PreMerge decodes a structured model with either its structured weights or their merged dense
// matrices (docs/METHOD.md §5), chosen per call by the tokens in flight, batch × new tokens: below
// Crossover the merged weights (one matmul per matrix: few tokens in flight leave a matmul bound by
// reading its weights and by per-op overhead, which the structure's extra ops add to), at or above
// it the structured ones (fewer FLOPs). Both models have the same attention weights, so they share
// one KV cache and a sequence may switch between them from call to call.
//
// Crossover is not built in: it depends on the model, the backend and the machine. Measure it with
// `structffn bench decode` (bench.Decode and bench.Crossover) and set it here. 0 always uses the
// structured weights; math.MaxInt always the merged ones.
type PreMerge struct {
	Structured, Merged *Decoder
	Crossover          int
	// MergedCalls and StructuredCalls count the Steps run with each set of weights.
	MergedCalls, StructuredCalls int
}

// NewPreMerge builds both decoders of the structured model cfg whose weights are in ctx (see Merged).
func NewPreMerge(backend backends.Backend, ctx *context.Context, cfg Config, crossover int) (*PreMerge, error) {
	mctx, dense, err := Merged(ctx, cfg)
	if err != nil {
		return nil, err
	}
	p := &PreMerge{Crossover: crossover}
	if p.Structured, err = NewDecoder(backend, ctx, cfg); err != nil {
		return nil, err
	}
	if p.Merged, err = NewDecoder(backend, mctx.Reuse(), dense); err != nil {
		return nil, err
	}
	return p, nil
}

// UsesMerged reports whether a call with tokensInFlight tokens (batch × new tokens) runs the merged
// weights.
func (p *PreMerge) UsesMerged(tokensInFlight int) bool { return tokensInFlight < p.Crossover }

// Config is the structured model's shape.
func (p *PreMerge) Config() Config { return p.Structured.Config() }

// Step implements Stepper with the weights UsesMerged picks for len(tokens) × len(tokens[0]).
func (p *PreMerge) Step(cache *KVCache, tokens [][]int32) ([][]float32, error) {
	inFlight := len(tokens)
	if inFlight > 0 {
		inFlight *= len(tokens[0])
	}
	if p.UsesMerged(inFlight) {
		p.MergedCalls++
		return p.Merged.Step(cache, tokens)
	}
	p.StructuredCalls++
	return p.Structured.Step(cache, tokens)
}
