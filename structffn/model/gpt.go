package model

import (
	"fmt"
	"math"
	"math/rand/v2"

	"github.com/gomlx/gomlx/pkg/core/dtypes"
	. "github.com/gomlx/gomlx/pkg/core/graph" //nolint:staticcheck // graph code reads like math.
	"github.com/gomlx/gomlx/pkg/ml/context"

	"github.com/structffn/structffn/structffn/linear"
)

// LinearFn builds one linear map of the model: y [..., spec.Out] from x [..., spec.In], with its
// weights in ctx's scope. The default is linear.Layer; self-guided training substitutes its guided
// layer for the FFN matrices.
type LinearFn func(ctx *context.Context, spec linear.Spec, x *Node) *Node

// Options changes how the graph is built without changing the model's weights.
type Options struct {
	// FFNLinear, when set, builds the FFN matrices (fc1, fc2) instead of linear.Layer.
	FFNLinear LinearFn
	// Dtype of the activations (float32 when zero); weights stay float32 masters and are cast.
	Dtype dtypes.DType
	// Ablate, for time breakdowns only, replaces one kind of work by a stand-in (see Ablation).
	Ablate Ablation
}

// Logits returns the next-token logits [batch, seq, vocab] (float32) for tokens [batch, seq] (int32),
// seq <= Context. Weights live under ctx's current scope and are created on first use.
func Logits(ctx *context.Context, cfg Config, tokens *Node, opts Options) *Node {
	h := Hidden(ctx, cfg, tokens, opts) // [batch, seq, d]
	return lmHead(ctx, cfg, h)          // [batch, seq, vocab]
}

// lmHead is the tied output layer: logits [..., vocab] (float32) = h [..., d] · Eᵀ, with E the
// token embedding table.
func lmHead(ctx *context.Context, cfg Config, h *Node) *Node {
	emb := embeddings(ctx, cfg, h.Graph())                                                         // [vocab, d]
	logits := DotGeneral(h, []int{h.Rank() - 1}, nil, ConvertDType(emb, h.DType()), []int{1}, nil) // [..., vocab]
	return ConvertDType(logits, dtypes.Float32)
}

// Loss returns the mean next-token cross-entropy (scalar, float32) of predicting targets [batch, seq]
// from inputs [batch, seq].
func Loss(ctx *context.Context, cfg Config, inputs, targets *Node, opts Options) *Node {
	if opts.Ablate == AblateHead {
		h := Hidden(ctx, cfg, inputs, opts) // [batch, seq, d]
		c := make([]float32, cfg.DModel)
		for i := range c {
			c[i] = float32(i%7) - 3
		}
		hc := DotGeneral(ConvertDType(h, dtypes.Float32), []int{2}, nil, Const(h.Graph(), c), []int{0}, nil) // [batch, seq]
		return ReduceAllMean(hc)
	}
	return CrossEntropy(Logits(ctx, cfg, inputs, opts), targets)
}

// CrossEntropy is the mean of -log softmax(logits)[target] over all positions:
// logits [..., vocab] (float32), targets [...] (integer).
func CrossEntropy(logits, targets *Node) *Node {
	vocab := logits.Shape().Dim(-1)
	logProbs := LogSoftmax(logits, -1)                                             // [..., vocab]
	picked := ReduceSum(Mul(logProbs, OneHot(targets, vocab, logits.DType())), -1) // [...]
	return Neg(ReduceAllMean(picked))
}

// Hidden runs the embedding, the transformer blocks and the final LayerNorm: tokens [batch, seq]
// -> h [batch, seq, d].
func Hidden(ctx *context.Context, cfg Config, tokens *Node, opts Options) *Node {
	if err := cfg.Validate(); err != nil {
		panic(err)
	}
	if tokens.Rank() != 2 {
		panic(fmt.Errorf("model: tokens must be [batch, seq], got shape %s", tokens.Shape()))
	}
	if seq := tokens.Shape().Dim(1); seq > cfg.Context {
		panic(fmt.Errorf("model: sequence of %d tokens is longer than the context (%d)", seq, cfg.Context))
	}
	return hidden(ctx, cfg, tokens, nil, nil, opts)
}

// hidden is Hidden for tokens [batch, seq] at the given positions [seq] (int32; nil: 0…seq-1, whose
// RoPE tables are then constants computed on the host), with one KV cache per block when decoding
// (nil otherwise).
func hidden(ctx *context.Context, cfg Config, tokens, positions *Node, caches []*kvCache, opts Options) *Node {
	g := tokens.Graph()
	dtype := opts.Dtype
	if dtype == dtypes.InvalidDType {
		dtype = dtypes.Float32
	}
	// The structured FFN matrices' initial weights (SVDs and polar factors on the host) are computed
	// on every core ahead of the blocks that create them.
	defer prepareFFNInit(ctx, cfg)()
	x := Gather(embeddings(ctx, cfg, g), ExpandAxes(tokens, -1)) // [batch, seq, d]
	x = ConvertDType(x, dtype)
	var rope *rotary
	if positions == nil {
		rope = staticRoPE(cfg, g, tokens.Shape().Dim(1), dtype)
	} else {
		rope = newRoPE(cfg, positions, dtype)
	}
	for layer := range cfg.Layers {
		var cache *kvCache
		if caches != nil {
			cache = caches[layer]
		}
		x = block(ctx.Inf("block_%02d", layer), cfg, layer, x, rope, cache, opts)
	}
	return norm(ctx.In("ln_f"), cfg, x, opts)
}

// prepareFFNInit starts linear.PrepareInit for every FFN matrix of the model (in the scopes block
// and FFN create them in) and returns its release.
func prepareFFNInit(ctx *context.Context, cfg Config) (release func()) {
	var scopes []*context.Context
	var specs []linear.Spec
	for layer := range cfg.Layers {
		ffn := ctx.Inf("block_%02d", layer).In("ffn")
		fc1, fc2 := cfg.FFNSpecs(layer)
		scopes = append(scopes, ffn.In("fc1"), ffn.In("fc2"))
		specs = append(specs, fc1, fc2)
	}
	return linear.PrepareInit(scopes, specs)
}

// norm is layerNorm, or the identity under AblateNorm.
func norm(ctx *context.Context, cfg Config, x *Node, opts Options) *Node {
	if opts.Ablate == AblateNorm {
		return x
	}
	return layerNorm(ctx, cfg, x)
}

// embeddings returns the token embedding table E [vocab, d], N(0, 0.02²) at initialisation.
func embeddings(ctx *context.Context, cfg Config, g *Graph) *Node {
	ctx = ctx.In("embed")
	return linear.HostVariable(ctx, g, "embeddings", []int{cfg.Vocab, cfg.DModel}, func(rng *rand.Rand) []float32 {
		return linear.Normal(rng, cfg.Vocab*cfg.DModel, linear.InitStd)
	})
}

// block is one pre-LayerNorm transformer block: x + Attn(LN(x)), then + FFN(LN(x)).
func block(ctx *context.Context, cfg Config, layer int, x *Node, rope *rotary, cache *kvCache, opts Options) *Node {
	x = Add(x, attention(ctx.In("attn"), cfg, norm(ctx.In("ln1"), cfg, x, opts), rope, cache, opts.Ablate)) // [batch, seq, d]
	fc1, fc2 := cfg.FFNSpecs(layer)
	h := norm(ctx.In("ln2"), cfg, x, opts) // [batch, seq, d]
	switch opts.Ablate {
	case AblateFFN:
		return Add(x, h)
	case AblateGELU:
		lin := opts.FFNLinear
		if lin == nil {
			lin = linear.Layer
		}
		return Add(x, lin(ctx.In("ffn").In("fc2"), fc2, lin(ctx.In("ffn").In("fc1"), fc1, h)))
	}
	return Add(x, FFN(ctx.In("ffn"), fc1, fc2, h, opts.FFNLinear)) // [batch, seq, d]
}

// FFN is fc2(GELU_tanh(fc1(x))) with fc1: d→f and fc2: f→d built by lin (linear.Layer when nil)
// in scopes "fc1" and "fc2".
func FFN(ctx *context.Context, fc1, fc2 linear.Spec, x *Node, lin LinearFn) *Node {
	if lin == nil {
		lin = linear.Layer
	}
	h := lin(ctx.In("fc1"), fc1, x) // [..., f]
	h = GeluTanh(h)
	return lin(ctx.In("fc2"), fc2, h) // [..., d]
}

// GeluTanh is the tanh approximation of GELU (PyTorch's gelu(approximate="tanh")):
// 0.5·x·(1 + tanh(sqrt(2/π)·(x + 0.044715·x³))).
func GeluTanh(x *Node) *Node {
	inner := MulScalar(Add(x, MulScalar(Mul(x, Mul(x, x)), 0.044715)), math.Sqrt(2/math.Pi))
	return Mul(MulScalar(x, 0.5), OnePlus(Tanh(inner)))
}

// layerNorm normalises over the last axis with a learned gain ("scale", ones) and offset
// ("offset", zeros), statistics in float32.
func layerNorm(ctx *context.Context, cfg Config, x *Node) *Node {
	g := x.Graph()
	d := x.Shape().Dim(-1)
	scale := linear.HostVariable(ctx, g, "scale", []int{d}, func(*rand.Rand) []float32 { return filled(d, 1) })
	offset := linear.HostVariable(ctx, g, "offset", []int{d}, func(*rand.Rand) []float32 { return filled(d, 0) })
	dtype := x.DType()
	x32 := ConvertDType(x, dtypes.Float32)
	mean := ReduceAndKeep(x32, ReduceMean, -1)                           // [..., 1]
	centered := Sub(x32, mean)                                           // [..., d]
	variance := ReduceAndKeep(Square(centered), ReduceMean, -1)          // [..., 1]
	normed := Div(centered, Sqrt(AddScalar(variance, cfg.LayerNormEps))) // [..., d]
	normed = Add(Mul(normed, ExpandLeftToRank(scale, x.Rank())), ExpandLeftToRank(offset, x.Rank()))
	return ConvertDType(normed, dtype)
}

func filled(n int, v float32) []float32 {
	out := make([]float32, n)
	for i := range out {
		out[i] = v
	}
	return out
}
