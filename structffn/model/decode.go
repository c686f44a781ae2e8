package model

import (
	"fmt"
	"math/bits"

	"github.com/gomlx/gomlx/backends"
	"github.com/gomlx/gomlx/pkg/core/dtypes"
	. "github.com/gomlx/gomlx/pkg/core/graph" //nolint:staticcheck // graph code reads like math.
	"github.com/gomlx/gomlx/pkg/core/shapes"
	"github.com/gomlx/gomlx/pkg/core/tensors"
	"github.com/gomlx/gomlx/pkg/ml/context"

	"github.com/structffn/structffn/internal/errline"
)

// KVCache holds the attention keys and values of a batch of sequences being decoded: for each
// block, K and V [batch, kv_heads, context, head_dim] (float32), valid at positions 0…Len()-1.
// It lives where the backend keeps its tensors (on the accelerator for XLA), so a decoding step
// moves only tokens and logits between host and device. All rows of a batch advance together.
// A KVCache is not safe for concurrent use.
type KVCache struct {
	cfg   Config
	batch int
	len   int
	kv    []*tensors.Tensor // [2·layers]: block l's K at 2l, V at 2l+1
}

// NewKVCache returns an empty cache for batch sequences of the model cfg (attention shapes only:
// a structured model and its merged dense model share caches).
func NewKVCache(cfg Config, batch int) (*KVCache, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	if batch < 1 {
		return nil, fmt.Errorf("KV cache batch %d: use 1 or more sequences", batch)
	}
	c := &KVCache{cfg: cfg, batch: batch, kv: make([]*tensors.Tensor, 2*cfg.Layers)}
	for i := range c.kv {
		c.kv[i] = tensors.FromShape(shapes.Make(dtypes.Float32, batch, cfg.KVHeads, cfg.Context, cfg.HeadDim))
	}
	return c, nil
}

// Len is the number of positions written: the next token goes at position Len().
func (c *KVCache) Len() int { return c.len }

// Batch is the number of sequences.
func (c *KVCache) Batch() int { return c.batch }

// Truncate forgets every position from n on (0 <= n <= Len()): decoding continues at position n.
// Truncate(0) empties the cache for a new prompt. The stale entries stay in memory but are never
// attended to: a query attends only to positions up to its own, all rewritten first.
func (c *KVCache) Truncate(n int) error {
	if n < 0 || n > c.len {
		return fmt.Errorf("KV cache: truncate to %d, want 0 to %d (its length)", n, c.len)
	}
	c.len = n
	return nil
}

// Finalize frees the cache's tensors now instead of at garbage collection (large caches on an
// accelerator). The cache is unusable afterwards.
func (c *KVCache) Finalize() {
	for _, t := range c.kv {
		t.FinalizeAll()
	}
	c.kv = nil
}

// Stepper is what decoding needs from a model: a Decoder (one set of weights) or a PreMerge (the
// structured weights or their merged dense ones, chosen per call).
type Stepper interface {
	// Step runs tokens [batch][n] (n >= 1, the same for every row) at positions cache.Len()…
	// cache.Len()+n-1, writes their keys and values into cache, and returns the logits [batch][vocab]
	// of the token after each row's last one.
	Step(cache *KVCache, tokens [][]int32) ([][]float32, error)
	// Config is the model's shape (its context bounds Len()+n).
	Config() Config
}

// Decoder runs a model incrementally with a KV cache: each Step costs the new tokens' forward pass
// plus their attention over the cached positions, instead of a forward pass over the whole context.
// It compiles one executable per (batch, chunk) shape, with the chunk of new tokens padded up to a
// power of two (at most the room left in the context) so that prompts of every length share a few
// executables; the padding is written into the cache after the real tokens and overwritten before
// anything attends to it. A Decoder is not safe for concurrent use.
type Decoder struct {
	cfg  Config
	exec *context.Exec
}

// NewDecoder builds the decoding graph of the model cfg whose weights are in ctx's current scope
// (compiled on first use for each shape). Pass a ctx loaded from a checkpoint (ctx.Reuse() makes a
// missing weight an error instead of a fresh random one); a fresh ctx gives a random model.
func NewDecoder(backend backends.Backend, ctx *context.Context, cfg Config) (*Decoder, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	d := &Decoder{cfg: cfg}
	var err error
	d.exec, err = context.NewExec(backend, ctx, func(ctx *context.Context, in []*Node) []*Node {
		tokens, pos, last := in[0], in[1], in[2] // [b, n] int32, [] int32, [] int32
		g, n := tokens.Graph(), tokens.Shape().Dim(1)
		caches := make([]*kvCache, cfg.Layers)
		for l := range caches {
			caches[l] = &kvCache{k: in[3+2*l], v: in[4+2*l], pos: pos}
		}
		positions := Add(Iota(g, shapesOf(dtypes.Int32, n), 0), pos) // [n]
		h := hidden(ctx, cfg, tokens, positions, caches, Options{})  // [b, n, d]
		h = Gather(TransposeAllDims(h, 1, 0, 2), Reshape(last, 1))   // [b, d]: each row's last real token
		out := []*Node{lmHead(ctx, cfg, h)}                          // [b, vocab]
		for _, c := range caches {
			out = append(out, c.k, c.v)
		}
		return out
	})
	if err != nil {
		return nil, err
	}
	d.exec.SetMaxCache(-1) // a few shapes per batch size; never evict a compiled one
	return d, nil
}

// Config is the model's shape.
func (d *Decoder) Config() Config { return d.cfg }

// Step implements Stepper.
func (d *Decoder) Step(cache *KVCache, tokens [][]int32) ([][]float32, error) {
	n, err := checkStep(d.cfg, cache, tokens)
	if err != nil {
		return nil, err
	}
	padded := min(1<<bits.Len(uint(n-1)), d.cfg.Context-cache.len) // next power of two that fits
	flat := make([]int32, cache.batch*padded)                      // [b, padded], right-padded with id 0
	for i, row := range tokens {
		copy(flat[i*padded:], row)
	}
	args := []any{
		tensors.FromFlatDataAndDimensions(flat, cache.batch, padded),
		tensors.FromScalar(int32(cache.len)),
		tensors.FromScalar(int32(n - 1)),
	}
	for _, t := range cache.kv {
		args = append(args, t)
	}
	out, err := d.exec.Exec(args...)
	args[0].(*tensors.Tensor).FinalizeAll()
	if err != nil {
		return nil, fmt.Errorf("decoding: %s", errline.First(err))
	}
	for i, t := range cache.kv {
		t.FinalizeAll()
		cache.kv[i] = out[1+i]
	}
	cache.len += n
	defer out[0].FinalizeAll()
	flatLogits, err := tensors.CopyFlatData[float32](out[0]) // [b·vocab]
	if err != nil {
		return nil, err
	}
	logits := make([][]float32, cache.batch)
	for i := range logits {
		logits[i] = flatLogits[i*d.cfg.Vocab : (i+1)*d.cfg.Vocab]
	}
	return logits, nil
}

// checkStep validates a Step's arguments and returns the number of new tokens per row.
func checkStep(cfg Config, cache *KVCache, tokens [][]int32) (int, error) {
	if cache == nil || cache.kv == nil {
		return 0, fmt.Errorf("decoding: no KV cache (make one with NewKVCache)")
	}
	if cache.cfg.Layers != cfg.Layers || cache.cfg.Context != cfg.Context || cache.cfg.KVHeads != cfg.KVHeads || cache.cfg.HeadDim != cfg.HeadDim {
		return 0, fmt.Errorf("decoding: the KV cache was made for model %s, not %s: make one with NewKVCache(cfg, batch)", cache.cfg.Name, cfg.Name)
	}
	if len(tokens) != cache.batch {
		return 0, fmt.Errorf("decoding: %d rows of tokens for a KV cache of batch %d", len(tokens), cache.batch)
	}
	n := len(tokens[0])
	for i, row := range tokens {
		if len(row) != n || n == 0 {
			return 0, fmt.Errorf("decoding: row %d has %d tokens, row 0 has %d: every row needs the same number, at least 1", i, len(row), n)
		}
		for j, id := range row {
			if id < 0 || int(id) >= cfg.Vocab {
				return 0, fmt.Errorf("decoding: token %d of row %d is id %d, outside the vocabulary [0, %d)", j, i, id, cfg.Vocab)
			}
		}
	}
	if cache.len+n > cfg.Context {
		return 0, fmt.Errorf("decoding: %d new tokens after %d cached ones exceed the context (%d): Truncate the cache first", n, cache.len, cfg.Context)
	}
	return n, nil
}
