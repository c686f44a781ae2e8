package model

import (
	"errors"
	"fmt"
	"math"
	"math/rand/v2"
	"slices"

	"github.com/gomlx/gomlx/backends"
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

// Sampler generates text from a model with a KV cache: the prompt runs through the model once
// (prefill), then each new token costs one token's forward pass and its attention over the cache.
//
// When the sequence fills the context, the cache is rebuilt from the last Context/2 tokens and
// decoding goes on from there (the model then sees between Context/2 and Context tokens back, never
// more than it was trained on); re-running the full window for every token, as nanoGPT's
// generate does, would cost a whole forward pass per token. A Sampler is not safe for concurrent use.
type Sampler struct {
	step  Stepper
	cache *KVCache
}

// NewSampler builds the decoding graph of the model cfg whose weights are in ctx's current scope and
// compiles it for one sequence. Pass a ctx loaded from a checkpoint (ctx.Reuse() makes a missing
// weight an error instead of a fresh random one); a fresh ctx gives a randomly initialised model.
func NewSampler(backend backends.Backend, ctx *context.Context, cfg Config) (*Sampler, error) {
	d, err := NewDecoder(backend, ctx, cfg)
	if err != nil {
		return nil, err
	}
	return NewSamplerFor(d)
}

// NewSamplerFor returns a sampler over any Stepper (a Decoder, or a PreMerge that picks merged or
// structured weights per call). It runs one token through the model, so that a missing weight or a
// graph that does not build is reported here, and the one-token step is compiled before sampling.
func NewSamplerFor(step Stepper) (*Sampler, error) {
	cache, err := NewKVCache(step.Config(), 1)
	if err != nil {
		return nil, err
	}
	s := &Sampler{step: step, cache: cache}
	if _, err := step.Step(cache, [][]int32{{0}}); err != nil {
		return nil, fmt.Errorf("building the sampling graph: %s", errline.First(err))
	}
	return s, nil
}

// NextLogits returns the logits [vocab] of the token that follows ids (1 <= len(ids) <= Context),
// running ids through the model from an empty cache.
func (s *Sampler) NextLogits(ids []int32) ([]float32, error) {
	if len(ids) == 0 || len(ids) > s.cache.cfg.Context {
		return nil, fmt.Errorf("sampler: %d tokens given, want 1 to %d (the context)", len(ids), s.cache.cfg.Context)
	}
	if err := s.cache.Truncate(0); err != nil {
		return nil, err
	}
	logits, err := s.step.Step(s.cache, [][]int32{ids})
	if err != nil {
		return nil, err
	}
	return logits[0], nil
}

// Generate appends opts.MaxTokens tokens to prompt, drawn one at a time (see SampleToken), and
// returns the new ones. Each is passed to emit (when not nil) as soon as it is drawn, so that a caller
// can print as it goes; an error from emit stops generation and is returned with the tokens so far.
// A prompt longer than the context is used through its last Context tokens. The prompt must hold
// at least one token (a language model needs something to continue; callers with no text start from
// a newline, say).
func (s *Sampler) Generate(prompt []int32, opts SampleOptions, emit func(id int32) error) ([]int32, error) {
	if err := opts.Validate(); err != nil {
		return nil, err
	}
	cfg := s.cache.cfg
	if len(prompt) == 0 {
		return nil, errors.New("empty prompt: give at least one token to continue")
	}
	for i, id := range prompt {
		if id < 0 || int(id) >= cfg.Vocab {
			return nil, fmt.Errorf("prompt token %d is id %d, outside the vocabulary [0, %d)", i, id, cfg.Vocab)
		}
	}
	out := make([]int32, 0, opts.MaxTokens)
	if opts.MaxTokens == 0 {
		return out, nil
	}
	rng := rand.New(rand.NewPCG(opts.Seed, 0x5a3b1e)) // one stream per seed
	seq := slices.Clone(prompt)
	logits, err := s.NextLogits(seq[max(0, len(seq)-cfg.Context):])
	for err == nil {
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
		if len(out) == opts.MaxTokens {
			return out, nil
		}
		if s.cache.Len() == cfg.Context { // full: rebuild from the last half
			logits, err = s.NextLogits(seq[len(seq)-max(1, cfg.Context/2):])
			continue
		}
		var next [][]float32
		next, err = s.step.Step(s.cache, [][]int32{{id}})
		if err == nil {
			logits = next[0]
		}
	}
	return out, err
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
