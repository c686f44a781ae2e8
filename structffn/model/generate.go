package model

import (
	"errors"
	"fmt"
	"math"
	"math/rand/v2"
	"slices"

	"github.com/gomlx/gomlx/backends"
	. "github.com/gomlx/gomlx/pkg/core/graph" //nolint:staticcheck // graph code reads like math.
	"github.com/gomlx/gomlx/pkg/core/tensors"
	"github.com/gomlx/gomlx/pkg/ml/context"

	"github.com/structffn/structffn/internal/errline"
)

// SampleOptions control Generate. The zero value generates nothing; a typical one is
// {MaxTokens: 200, Temperature: 0.8, TopK: 40}.
type SampleOptions struct {
	MaxTokens   int     // New tokens to generate (0: none).
	Temperature float64 // Divides the logits before the softmax; 0 is greedy decoding (argmax).
	TopK        int     // Draw only among the TopK most likely tokens; 0 (or >= vocab) is all of them.
	Seed        uint64  // Seed of the PCG generator: the same seed (and model and prompt) gives the same tokens.
}

// Validate returns a one-line error naming the first bad option and its allowed values.
func (o SampleOptions) Validate() error {
	switch {
	case o.MaxTokens < 0:
		return fmt.Errorf("max tokens %d is negative: use 0 or more", o.MaxTokens)
	case math.IsNaN(o.Temperature) || math.IsInf(o.Temperature, 0) || o.Temperature < 0:
		return fmt.Errorf("temperature %g is out of range: use 0 (greedy) or a positive number, e.g. 0.8", o.Temperature)
	case o.TopK < 0:
		return fmt.Errorf("top-k %d is negative: use 0 (all tokens) or a positive number, e.g. 40", o.TopK)
	}
	return nil
}

// Sampler generates text from a model. It compiles one executable for a fixed window of
// [1, cfg.Context] tokens and runs the whole window for every new token: no KV cache yet, so each
// token costs a full forward pass over the context.
//
// The window is padded on the right and the logits are read at the last real position: attention is
// causal, so position i never sees the padding after it. Once the sequence is longer than the context,
// the window slides to its last cfg.Context tokens. A Sampler is not safe for concurrent use.
type Sampler struct {
	cfg    Config
	exec   *context.Exec
	window []int32 // [Context] host buffer for the padded window
}

// NewSampler builds (and compiles) the sampling graph of the model cfg whose weights are in ctx's
// current scope. Pass a ctx loaded from a checkpoint (ctx.Reuse() makes a missing weight an error
// instead of a fresh random one); a fresh ctx gives a randomly initialised model.
func NewSampler(backend backends.Backend, ctx *context.Context, cfg Config) (s *Sampler, err error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	s = &Sampler{cfg: cfg, window: make([]int32, cfg.Context)}
	s.exec, err = context.NewExec(backend, ctx, func(ctx *context.Context, tokens, last *Node) *Node {
		h := Hidden(ctx, cfg, tokens, Options{}) // [1, context, d]
		h = Reshape(h, cfg.Context, cfg.DModel)  // [context, d]
		h = Gather(h, Reshape(last, 1))          // [d]: the last real position
		return lmHead(ctx, cfg, h)               // [vocab]
	})
	if err != nil {
		return nil, err
	}
	tok, last := s.inputs(0)
	defer tok.FinalizeAll()
	defer last.FinalizeAll()
	if err := s.exec.PreCompile(tok, last); err != nil {
		return nil, fmt.Errorf("building the sampling graph: %s", errline.First(err))
	}
	return s, nil
}

// inputs returns the executable's arguments for the current window with n real tokens.
func (s *Sampler) inputs(n int) (*tensors.Tensor, *tensors.Tensor) {
	return tensors.FromFlatDataAndDimensions(s.window, 1, s.cfg.Context), // [1, context]
		tensors.FromScalar(int32(max(n, 1) - 1)) // []
}

// NextLogits returns the logits [vocab] of the token that follows ids (1 <= len(ids) <= Context).
func (s *Sampler) NextLogits(ids []int32) ([]float32, error) {
	if len(ids) == 0 || len(ids) > s.cfg.Context {
		return nil, fmt.Errorf("sampler: %d tokens given, want 1 to %d (the context)", len(ids), s.cfg.Context)
	}
	n := copy(s.window, ids)
	clear(s.window[n:]) // right padding: invisible to positions < n under the causal mask
	tok, last := s.inputs(n)
	defer tok.FinalizeAll()
	defer last.FinalizeAll()
	out, err := s.exec.Exec(tok, last)
	if err != nil {
		return nil, fmt.Errorf("sampler: %s", errline.First(err))
	}
	defer out[0].FinalizeAll()
	return tensors.CopyFlatData[float32](out[0])
}

// Generate appends opts.MaxTokens tokens to prompt, drawn one at a time (see SampleToken), and
// returns the new ones. Each is passed to emit (when not nil) as soon as it is drawn, so that a caller
// can print as it goes; an error from emit stops generation and is returned with the tokens so far.
// A prompt longer than the context is used through its last cfg.Context tokens. The prompt must hold
// at least one token (a language model needs something to continue; callers with no text start from
// a newline, say).
func (s *Sampler) Generate(prompt []int32, opts SampleOptions, emit func(id int32) error) ([]int32, error) {
	if err := opts.Validate(); err != nil {
		return nil, err
	}
	if len(prompt) == 0 {
		return nil, errors.New("empty prompt: give at least one token to continue")
	}
	for i, id := range prompt {
		if id < 0 || int(id) >= s.cfg.Vocab {
			return nil, fmt.Errorf("prompt token %d is id %d, outside the vocabulary [0, %d)", i, id, s.cfg.Vocab)
		}
	}
	rng := rand.New(rand.NewPCG(opts.Seed, 0x5a3b1e)) // one stream per seed
	seq := slices.Clone(prompt)
	out := make([]int32, 0, opts.MaxTokens)
	for range opts.MaxTokens {
		window := seq[max(0, len(seq)-s.cfg.Context):]
		logits, err := s.NextLogits(window)
		if err != nil {
			return out, err
		}
		for _, l := range logits {
			if math.IsNaN(float64(l)) {
				return out, fmt.Errorf("the model's logits are NaN after %d tokens: the checkpoint diverged (train with a lower learning_rate)", len(out))
			}
		}
		id := SampleToken(logits, opts.Temperature, opts.TopK, rng)
		seq, out = append(seq, id), append(out, id)
		if emit != nil {
			if err := emit(id); err != nil {
				return out, err
			}
		}
	}
	return out, nil
}

// Generate is NewSampler followed by Sampler.Generate.
func Generate(backend backends.Backend, ctx *context.Context, cfg Config, prompt []int32, opts SampleOptions, emit func(id int32) error) ([]int32, error) {
	if err := opts.Validate(); err != nil {
		return nil, err
	}
	s, err := NewSampler(backend, ctx, cfg)
	if err != nil {
		return nil, err
	}
	return s.Generate(prompt, opts, emit)
}

// SampleToken draws the next token from logits [vocab] on the host, in float64: with temperature 0
// the argmax (the lowest id among ties); otherwise the logits are divided by temperature, cut to the
// topK largest (0 or >= vocab: all; ties broken towards lower ids), turned into probabilities with a
// softmax and one token is drawn with rng. TopK 1 is therefore greedy at any temperature.
func SampleToken(logits []float32, temperature float64, topK int, rng *rand.Rand) int32 {
	if temperature == 0 {
		return argmax(logits)
	}
	ids := make([]int32, len(logits))
	for i := range ids {
		ids[i] = int32(i)
	}
	if topK > 0 && topK < len(logits) {
		// Largest logits first, lower ids first among equals; keep exactly topK.
		slices.SortStableFunc(ids, func(a, b int32) int {
			switch la, lb := logits[a], logits[b]; {
			case la > lb:
				return -1
			case la < lb:
				return 1
			}
			return 0
		})
		ids = ids[:topK]
	}
	maxLogit := math.Inf(-1)
	for _, id := range ids {
		maxLogit = max(maxLogit, float64(logits[id]))
	}
	// Softmax of logits/T over the candidates, shifted by the max for range (exp(0) = 1 at the top).
	weights := make([]float64, len(ids))
	var sum float64
	for i, id := range ids {
		weights[i] = math.Exp((float64(logits[id]) - maxLogit) / temperature)
		sum += weights[i]
	}
	u := rng.Float64() * sum
	for i, w := range weights {
		if u < w {
			return ids[i]
		}
		u -= w
	}
	return ids[len(ids)-1] // rounding left u just above the total
}

// argmax returns the index of the largest value, the first one among ties.
func argmax(xs []float32) int32 {
	best := 0
	for i, x := range xs {
		if x > xs[best] {
			best = i
		}
	}
	return int32(best)
}
