package model

import (
	"github.com/gomlx/gomlx/backends"
	"math"

	"github.com/gomlx/gomlx/pkg/core/dtypes"
	. "github.com/gomlx/gomlx/pkg/core/graph" //nolint:staticcheck // graph code reads like math.
	"github.com/gomlx/gomlx/pkg/core/shapes"
	"github.com/gomlx/gomlx/pkg/core/tensors"
	"github.com/gomlx/gomlx/pkg/ml/context"

	"github.com/structffn/structffn/structffn/linear"
)

func shapesOf(dtype dtypes.DType, dims ...int) shapes.Shape { return shapes.Make(dtype, dims...) }

// rotary holds the RoPE tables for a run of positions: cos and sin [seq, head_dim], each the
// half-width table repeated twice (the rotate-half layout of GPT-NeoX / Megatron, not interleaved),
// and the rotate-half matrix.
type rotary struct {
	positions *Node // [seq] int32: the absolute position of each token
	cos, sin  *Node
	// rotateHalf is R [head_dim, head_dim] with x·Rᵀ = rotate_half(x) = [-x2, x1], used where the
	// backend lacks Pad (the gradient of Slice: GoMLX's pure-Go backend). A matmul with a signed
	// permutation is exact; elsewhere slicing is cheaper (7% of a tiny-preset step on XLA CPU).
	rotateHalf *Node
	slice      bool // Rotate by Slice + Concatenate instead of the matmul.
}

// newRoPE computes the tables for positions [seq] (int32), in the graph (decoding, where the
// positions are an input): angle[p, i] = p · base^(-2i/head_dim).
func newRoPE(cfg Config, positions *Node, dtype dtypes.DType) *rotary {
	g := positions.Graph()
	pos := ConvertDType(positions, dtypes.Float32)                                    // [seq]
	angles := Mul(ExpandAxes(pos, -1), ExpandAxes(Const(g, ropeFrequencies(cfg)), 0)) // [seq, half]
	angles = Concatenate([]*Node{angles, angles}, -1)                                 // [seq, head_dim]
	return newRotary(cfg, positions, ConvertDType(Cos(angles), dtype), ConvertDType(Sin(angles), dtype))
}

// staticRoPE is newRoPE for positions 0…seq-1 (training and evaluation): the tables are computed on
// the host, in float64, and enter the graph as constants, instead of a Cos and a Sin of
// [seq, head_dim] on every step (2-3% of a tiny-preset step's time on XLA CPU).
func staticRoPE(cfg Config, g *Graph, seq int, dtype dtypes.DType) *rotary {
	freq := ropeFrequencies(cfg)
	half := len(freq)
	cos, sin := make([]float32, seq*2*half), make([]float32, seq*2*half)
	for p := range seq {
		for i, f := range freq {
			a := float64(p) * float64(f)
			c, s := float32(math.Cos(a)), float32(math.Sin(a))
			cos[p*2*half+i], cos[p*2*half+half+i] = c, c
			sin[p*2*half+i], sin[p*2*half+half+i] = s, s
		}
	}
	table := func(v []float32) *Node {
		return ConvertDType(Const(g, tensors.FromFlatDataAndDimensions(v, seq, 2*half)), dtype)
	}
	return newRotary(cfg, Iota(g, shapesOf(dtypes.Int32, seq), 0), table(cos), table(sin))
}

// ropeFrequencies is base^(-2i/head_dim) for i < head_dim/2, in float32 as the graph uses them.
func ropeFrequencies(cfg Config) []float32 {
	f := make([]float32, cfg.HeadDim/2)
	for i := range f {
		f[i] = float32(1 / math.Pow(cfg.RoPEBase, float64(2*i)/float64(cfg.HeadDim)))
	}
	return f
}

// newRotary is the rotary for positions with tables cos, sin [seq, head_dim], choosing how to rotate
// by what the backend has.
func newRotary(cfg Config, positions, cos, sin *Node) *rotary {
	g := positions.Graph()
	r := &rotary{positions: positions, cos: cos, sin: sin, slice: g.Backend().Capabilities().Operations[backends.OpTypePad]}
	if !r.slice {
		hd, half := cfg.HeadDim, cfg.HeadDim/2
		rot := make([][]float32, hd)
		for i := range rot {
			rot[i] = make([]float32, hd)
			if i < half {
				rot[i][i+half] = -1
			} else {
				rot[i][i-half] = 1
			}
		}
		r.rotateHalf = ConvertDType(Const(g, rot), cos.DType())
	}
	return r
}

// apply rotates x [batch, seq, heads, head_dim]: x·cos + rotate_half(x)·sin.
func (r *rotary) apply(x *Node) *Node {
	var rotated *Node // [batch, seq, heads, head_dim]
	if r.slice {
		half := x.Shape().Dim(3) / 2
		x1 := Slice(x, AxisRange(), AxisRange(), AxisRange(), AxisRange(0, half)) // [batch, seq, heads, half]
		x2 := Slice(x, AxisRange(), AxisRange(), AxisRange(), AxisRange(half))    // [batch, seq, heads, half]
		rotated = Concatenate([]*Node{Neg(x2), x1}, 3)
	} else {
		rotated = DotGeneral(x, []int{3}, nil, r.rotateHalf, []int{1}, nil)
	}
	cos := InsertAxes(r.cos, 0, 1) // [1, seq, 1, head_dim]
	sin := InsertAxes(r.sin, 0, 1)
	return Add(Mul(x, cos), Mul(rotated, sin))
}

// attention is causal multi-head attention with RoPE, grouped-query when KVHeads < Heads, scale
// 1/sqrt(head_dim), biased Q/K/V/O projections: x [batch, seq, d] -> [batch, seq, d]. With a
// KV cache (decoding), the new keys and values are written into it at the tokens' positions and the
// queries attend to every cached position up to their own.
func attention(ctx *context.Context, cfg Config, x *Node, rope *rotary, cache *kvCache, ablate Ablation) *Node {
	batch, seq := x.Shape().Dim(0), x.Shape().Dim(1)
	d, hd := cfg.DModel, cfg.HeadDim
	nkv, group := cfg.KVHeads, cfg.Heads/cfg.KVHeads
	proj := func(name string, out int) *Node {
		if ablate == AblateProjections {
			return x // [b, s, d], d = out (Config.CheckAblation)
		}
		return linear.Layer(ctx.In(name), linear.Spec{Kind: linear.Dense, In: d, Out: out, Bias: true}, x)
	}
	q := Reshape(proj("q", cfg.AttnWidth()), batch, seq, cfg.Heads, hd) // [b, s, H, hd]
	k := Reshape(proj("k", cfg.KVWidth()), batch, seq, nkv, hd)         // [b, s, nkv, hd]
	v := Reshape(proj("v", cfg.KVWidth()), batch, seq, nkv, hd)         // [b, s, nkv, hd]
	if ablate != AblateRoPE {
		q, k = rope.apply(q), rope.apply(k)
	}
	g := x.Graph()
	qpos, kpos := rope.positions, rope.positions // [q], [k]
	// Heads lead positions in both attention matmuls, so that their batch axes (b, n) lead as the
	// dot wants them and only q, k and v (not the [q, k] scores) are transposed.
	k = TransposeAllDims(k, 0, 2, 1, 3) // [b, nkv, s, hd]
	v = TransposeAllDims(v, 0, 2, 1, 3) // [b, nkv, s, hd]
	if cache != nil {
		// The cache keeps this layout, [b, nkv, context, hd], so that both matmuls read it in place.
		k, v = cache.write(k, v) // [b, nkv, context, hd]
		kpos = Iota(g, shapesOf(dtypes.Int32, cfg.Context), 0)
	}
	nk := k.Shape().Dim(2)

	// Query head h = n·group + j uses key/value head n (GQA; group = 1 is plain MHA). The group's
	// query heads are folded into the query axis: one [g·q, k] score matrix per key/value head.
	q = Reshape(q, batch, seq, nkv, group, hd) // [b, q, n, g, hd]
	if ablate == AblateAttention {
		// v, with q and k kept in the graph (times 0) so that their projections still run.
		kv := TransposeAllDims(Add(v, MulScalar(k, 0)), 0, 2, 1, 3)           // [b, s, n, hd]
		out := BroadcastToDims(ExpandAxes(kv, 3), batch, seq, nkv, group, hd) // [b, q, n, g, hd]
		return attentionOutput(ctx, cfg, Add(out, MulScalar(q, 0)), batch, seq, ablate)
	}
	q = Reshape(TransposeAllDims(q, 0, 2, 3, 1, 4), batch, nkv, group*seq, hd) // [b, n, g·q, hd]
	scores := DotGeneral(q, []int{3}, []int{0, 1}, k, []int{3}, []int{0, 1})   // [b, n, g·q, k]
	scores = MulScalar(scores, 1/math.Sqrt(float64(hd)))
	var probs *Node // [b, n, g·q, k]
	if ablate == AblateSoftmax {
		probs = scores
	} else {
		causal := GreaterOrEqual(ExpandAxes(qpos, -1), ExpandAxes(kpos, 0)) // [q, k]: key not in the future
		// Additive mask: 0 where allowed, a large negative where not (finite, so no inf-inf NaN).
		maskBias := Where(causal, Scalar(g, dtypes.Float32, 0), Scalar(g, dtypes.Float32, -1e30)) // [q, k]
		masked := Reshape(ConvertDType(scores, dtypes.Float32), batch, nkv, group, seq, nk)       // [b, n, g, q, k]
		masked = Add(masked, ExpandLeftToRank(maskBias, 5))                                       // [b, n, g, q, k]
		probs = ConvertDType(Reshape(Softmax(masked, -1), batch, nkv, group*seq, nk), x.DType())  // [b, n, g·q, k]
	}
	out := DotGeneral(probs, []int{3}, []int{0, 1}, v, []int{2}, []int{0, 1})       // [b, n, g·q, hd]
	out = TransposeAllDims(Reshape(out, batch, nkv, group, seq, hd), 0, 3, 1, 2, 4) // [b, q, n, g, hd]
	return attentionOutput(ctx, cfg, out, batch, seq, ablate)
}

// attentionOutput is the O projection of the heads' outputs [b, q, n, g, hd]: [b, s, d].
func attentionOutput(ctx *context.Context, cfg Config, out *Node, batch, seq int, ablate Ablation) *Node {
	out = Reshape(out, batch, seq, cfg.AttnWidth()) // [b, s, a]
	if ablate == AblateProjections {
		return out
	}
	return linear.Layer(ctx.In("o"), linear.Spec{Kind: linear.Dense, In: cfg.AttnWidth(), Out: cfg.DModel, Bias: true}, out)
}

// kvCache is one block's attention state while decoding: the keys and values of every position
// written so far and the position of the first token of this call.
type kvCache struct {
	k, v *Node // [batch, kv_heads, context, head_dim] (float32); replaced by the updated ones
	pos  *Node // [] int32
}

// write stores k, v [batch, kv_heads, seq, head_dim] at positions pos…pos+seq-1 and returns the
// updated caches.
func (c *kvCache) write(k, v *Node) (*Node, *Node) {
	c.k, c.v = writeAt(c.k, k, c.pos), writeAt(c.v, v, c.pos)
	return ConvertDType(c.k, k.DType()), ConvertDType(c.v, v.DType())
}

// writeAt returns cache [b, n, context, hd] with rows pos…pos+seq-1 of axis 2 replaced by
// x [b, n, seq, hd]; the caller keeps pos+seq <= context. Backends with DynamicUpdateSlice (XLA)
// use it; the pure-Go backend lacks it, so there the rows are moved with a 0/1 selection matmul,
// which is exact (one 1·x term, the rest 0·x) and costs about what attention over the cache does.
func writeAt(cache, x, pos *Node) *Node {
	g := cache.Graph()
	x = ConvertDType(x, cache.DType())
	if g.Backend().Capabilities().Operations[backends.OpTypeDynamicUpdateSlice] {
		zero := ScalarZero(g, dtypes.Int32)
		return DynamicUpdateSlice(cache, x, []*Node{zero, zero, pos, zero})
	}
	n, seq := cache.Shape().Dim(2), x.Shape().Dim(2)
	offset := Sub(Iota(g, shapesOf(dtypes.Int32, n), 0), pos)                        // [context]: row - pos
	sel := Equal(ExpandAxes(offset, -1), Iota(g, shapesOf(dtypes.Int32, n, seq), 1)) // [context, seq]
	moved := Einsum("ct,bntd->bncd", ConvertDType(sel, cache.DType()), x)            // [b, n, context, hd]
	inside := LogicalAnd(GreaterOrEqual(offset, ScalarZero(g, dtypes.Int32)),
		LessThan(offset, Scalar(g, dtypes.Int32, seq))) // [context]
	inside = BroadcastToShape(Reshape(inside, 1, 1, n, 1), shapes.Make(dtypes.Bool, cache.Shape().Dimensions...))
	return Where(inside, moved, cache)
}
