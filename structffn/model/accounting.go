package model

import (
	"fmt"
	"math"
	"strconv"
	"strings"
)

// ParamCounts splits a model's parameters the way the paper reports them.
type ParamCounts struct {
	Total     int64 `json:"params"`           // Everything: embeddings (tied, counted once), weights, biases, norms.
	FFN       int64 `json:"ffn_params"`       // FFN weight matrices only, biases excluded (the paper's "FFN" column).
	Attention int64 `json:"attn_params"`      // Q, K, V, O weight matrices.
	Embedding int64 `json:"embedding_params"` // Token embedding V·d (tied with the LM head).
	Other     int64 `json:"other_params"`     // Biases and LayerNorm gains/offsets.
}

// NonFFN is every parameter outside the FFN weight matrices.
func (p ParamCounts) NonFFN() int64 { return p.Total - p.FFN }

// Params counts the parameters of the model exactly (docs/METHOD.md §4, Table 1 and 2).
func (c Config) Params() ParamCounts {
	d, a, kv := int64(c.DModel), int64(c.AttnWidth()), int64(c.KVWidth())
	L := int64(c.Layers)
	var p ParamCounts
	p.Attention = L * (2*a*d + 2*kv*d) // Q [a,d], O [d,a], K and V [kv,d]
	attnBias := a + 2*kv + d           // q, k, v, o biases
	norms := 2 * 2 * d                 // two LayerNorms (gain + offset) per block
	p.Other = L*(attnBias+norms) + 2*d // plus the final LayerNorm
	for layer := range c.Layers {
		fc1, fc2 := c.FFNSpecs(layer)
		p.FFN += fc1.Params() + fc2.Params()
		p.Other += fc1.BiasParams() + fc2.BiasParams()
	}
	p.Embedding = int64(c.Vocab) * d
	p.Total = p.Attention + p.FFN + p.Embedding + p.Other
	return p
}

// ForwardFLOPsPerToken is the paper's forward-pass FLOPs per token at context length c.Context
// (docs/METHOD.md §4, the reference code's get_flops divided by tokens):
//
//	2·L·(2·a·d [Q,O] + 2·h_d·n_kv·d [K,V] + 2·s·a [QKᵀ and AV, full, not causal])
//	+ 2·(FFN weight params) + 2·V·d [logits]
//
// Embedding lookup, norms, biases and softmax are not counted.
func (c Config) ForwardFLOPsPerToken() int64 {
	d, a, kv, s := int64(c.DModel), int64(c.AttnWidth()), int64(c.KVWidth()), int64(c.Context)
	attn := 2 * int64(c.Layers) * (2*a*d + 2*kv*d + 2*s*a)
	return attn + 2*c.Params().FFN + 2*int64(c.Vocab)*d
}

// TrainFLOPsPerToken is 3 × the forward FLOPs (forward + backward), the paper's convention.
func (c Config) TrainFLOPsPerToken() int64 { return 3 * c.ForwardFLOPsPerToken() }

// TokensPerStep is Batch·Context, the tokens of one optimizer step.
func (c Config) TokensPerStep() int64 { return int64(c.Batch) * int64(c.Context) }

// Steps is the number of optimizer steps that the token budget buys, floored as the reference code
// does (max_step = int(max_tokens / batch / block)).
func (c Config) Steps() int64 { return c.Tokens / c.TokensPerStep() }

// TrainFLOPs is the paper's training FLOPs for the config's token budget:
// 3 × forward × steps × tokens per step, with steps floored.
func (c Config) TrainFLOPs() float64 {
	return float64(c.TrainFLOPsPerToken()) * float64(c.Steps()*c.TokensPerStep())
}

// Sig3 prints x with 3 significant digits as the paper's tables print training FLOPs, e.g.
// 1.6946e18 -> "1.69e18" (correctly rounded; the exact value is in the JSON rows).
func Sig3(x float64) string {
	if x == 0 || math.IsInf(x, 0) || math.IsNaN(x) {
		return strconv.FormatFloat(x, 'e', 2, 64)
	}
	mant, exp, _ := strings.Cut(strconv.FormatFloat(x, 'e', 2, 64), "e") // e.g. "1.69", "+18"
	e, _ := strconv.Atoi(exp)
	return fmt.Sprintf("%se%02d", mant, e)
}

// Millions prints a parameter count in millions with one decimal, as the paper's tables do.
func Millions(n int64) string { return fmt.Sprintf("%.1fM", float64(n)/1e6) }

// HumanCount prints a count with a K, M or B suffix (e.g. 462.3K, 90.2M, 2.20B).
func HumanCount(n int64) string {
	switch {
	case n < 1e3:
		return strconv.FormatInt(n, 10)
	case n < 1e6:
		return fmt.Sprintf("%.1fK", float64(n)/1e3)
	case n < 1e9:
		return Millions(n)
	default:
		return fmt.Sprintf("%.2fB", float64(n)/1e9)
	}
}

// ParamCount prints a parameter count as the paper does (millions, one decimal, also above a
// billion: "1274.1M"), and small models in K.
func ParamCount(n int64) string {
	if n < 1e6 {
		return HumanCount(n)
	}
	return Millions(n)
}
