package linear

import (
	"fmt"
	"hash/fnv"
	"math/rand/v2"
	"slices"

	. "github.com/gomlx/gomlx/pkg/core/graph" //nolint:staticcheck // graph code reads like math.
	"github.com/gomlx/gomlx/pkg/core/tensors"
	"github.com/gomlx/gomlx/pkg/ml/context"

	// Every graph that uses these layers gets the DotGeneral gradient as two DotGenerals instead of
	// GoMLX v0.26.0's broadcast-and-reduce one (see internal/dotgrad).
	_ "github.com/structffn/structffn/internal/dotgrad"
)

// ParamSeed is the context hyperparameter (int) seeding the host-side initialisation. Every scope
// draws from its own stream, derived from the seed and the scope name, so a layer's initial weights
// do not depend on which other layers exist or the order they are built in.
const ParamSeed = "seed"

// RNG returns the random stream for the current scope of ctx, derived from ParamSeed and the scope.
func RNG(ctx *context.Context) *rand.Rand {
	seed := context.GetParamOr(ctx, ParamSeed, 0)
	h := fnv.New64a()
	_, _ = h.Write([]byte(ctx.Scope()))
	return rand.New(rand.NewPCG(uint64(seed), h.Sum64()))
}

// HostVariable returns the value node of variable name in ctx's scope, creating it on first use with
// the host-computed value of initFn (called only when the variable neither exists nor can be loaded
// from a checkpoint).
func HostVariable(ctx *context.Context, g *Graph, name string, shape []int, initFn func(rng *rand.Rand) []float32) *Node {
	if v := ctx.GetVariable(name); v != nil {
		checkShape(ctx, v, shape)
		return v.ValueGraph(g)
	}
	data := initFn(RNG(ctx.In(name)))
	return ctx.VariableWithValue(name, tensors.FromFlatDataAndDimensions(data, shape...)).ValueGraph(g)
}

func checkShape(ctx *context.Context, v *context.Variable, shape []int) {
	if !slices.Equal(v.Shape().Dimensions, shape) {
		panic(fmt.Errorf("variable %s/%s has shape %v, the model needs %v: the checkpoint was written for another configuration",
			ctx.Scope(), v.Name(), v.Shape().Dimensions, shape))
	}
}

// Variables returns the nodes of the structure's weights (and bias) in ctx's current scope, creating
// them with Spec.Init on first use (Spec.InitCBS when ctx's ParamScaling is ScalingCBS), or taking
// the weights PrepareInit computed ahead for this scope. A scope holding only some of the weights is
// an error (a checkpoint from another structure).
func Variables(ctx *context.Context, g *Graph, spec Spec) map[string]*Node {
	weights := spec.Weights()
	if spec.Bias {
		weights = append(weights, Weight{WeightBias, []int{spec.Out}})
	}
	var found, missing []string
	for _, w := range weights {
		if v := ctx.GetVariable(w.Name); v != nil {
			checkShape(ctx, v, w.Shape)
			found = append(found, w.Name)
		} else {
			missing = append(missing, w.Name)
		}
	}
	if len(found) > 0 && len(missing) > 0 {
		panic(fmt.Errorf("scope %s has weights %v but not %v: the checkpoint was written for another structure than %s",
			ctx.Scope(), found, missing, spec))
	}
	if len(missing) > 0 {
		var init HostWeights
		if context.GetParamOr(ctx, ParamScaling, ScalingOff) == ScalingCBS {
			init = spec.InitCBS(RNG(ctx), InitStd)
		} else if init = takePrepared(ctx, spec); init == nil {
			init = spec.Init(RNG(ctx), InitStd)
		}
		for _, w := range weights {
			ctx.VariableWithValue(w.Name, tensors.FromFlatDataAndDimensions(init[w.Name], w.Shape...))
		}
	}
	nodes := make(map[string]*Node, len(weights))
	for _, w := range weights {
		nodes[w.Name] = ctx.GetVariable(w.Name).ValueGraph(g)
	}
	return nodes
}

// Layer applies the structured map to x [..., In] and returns y [..., Out], with the weights in ctx's
// current scope (created on first use). It panics with a descriptive error on an invalid Spec or a
// mismatched input width; callers at the top catch it once (GoMLX convention).
func Layer(ctx *context.Context, spec Spec, x *Node) *Node {
	if err := spec.Validate(); err != nil {
		panic(err)
	}
	return Apply(spec, Variables(ctx, x.Graph(), spec), x)
}

// Apply computes the structured map of x [..., In] with the given weight nodes (names as in
// Spec.Weights, plus WeightBias when Spec.Bias) and returns y [..., Out]. Weights are converted to
// x's dtype, so the same float32 master weights serve bf16 compute.
func Apply(spec Spec, w map[string]*Node, x *Node) *Node {
	if x.Rank() < 1 || x.Shape().Dim(-1) != spec.In {
		panic(fmt.Errorf("%s: input shape %s does not end in %d features", spec, x.Shape(), spec.In))
	}
	get := func(name string) *Node {
		node, ok := w[name]
		if !ok {
			panic(fmt.Errorf("%s: weight %q not given", spec, name))
		}
		if node.DType() != x.DType() {
			node = ConvertDType(node, x.DType())
		}
		return node
	}
	leading := x.Shape().Dimensions[:x.Rank()-1]
	tokens := 1
	for _, d := range leading {
		tokens *= d
	}
	flat := Reshape(x, tokens, spec.In) // [T, N]
	var y *Node                         // [T, M]
	switch spec.Kind {
	case Dense:
		y = DotGeneral(flat, []int{1}, nil, get(WeightDense), []int{1}, nil) // [T, N]·[M, N]ᵀ -> [T, M]
	case LowRank:
		h := DotGeneral(flat, []int{1}, nil, get(WeightV), []int{1}, nil) // [T, R]
		y = DotGeneral(h, []int{1}, nil, get(WeightU), []int{1}, nil)     // [T, M]
	case BlockDense:
		b := spec.NBlocks
		xb := Reshape(flat, tokens, b, spec.In/b)                     // [T, B, N/B]
		h := Einsum("tbp,brp->tbr", xb, get(WeightBd))                // [T, B, R/B]
		h = Reshape(h, tokens, spec.Rank)                             // [T, R], block-major
		y = DotGeneral(h, []int{1}, nil, get(WeightU), []int{1}, nil) // [T, M]
	case BlockShuffle, Monarch:
		k := spec.NBlocks
		q := spec.blockShuffleInner()
		xb := Reshape(flat, tokens, k, spec.In/k)       // [T, k, p]
		h1 := Einsum("tkp,kqp->tkq", xb, get(WeightB1)) // [T, k, q]
		// Shuffle: the flat [k·q] vector viewed as [r, l]; stage-2 block a reads column a (z[a, c] = h1flat[c·l+a]).
		h1 = Reshape(h1, tokens, q, k)                  // [T, r, l] with l = k blocks, r = k·q/l = q
		h2 := Einsum("trl,lsr->tsl", h1, get(WeightB2)) // [T, s, l]: output index m·l + a (interleaved).
		y = Reshape(h2, tokens, spec.Out)               // [T, M]
	case BTT:
		m0, m1, n0, n1 := spec.bttDims()
		r := spec.Rank
		xb := Reshape(flat, tokens, m1, m0)                            // [T, m1, m0]: input i1·m0 + i0
		h := Einsum("tim,ikm->tik", xb, get(WeightC1))                 // [T, m1, R·n0]: batched over i1
		h = Reshape(h, tokens, m1, n0, r)                              // [T, i1, j0, a]
		c2 := Reshape(get(WeightC2), n0, n1, m1, r)                    // [j0, j1, i1, a]
		y = Reshape(Einsum("tija,jnia->tjn", h, c2), tokens, spec.Out) // [T, n0, n1] -> [T, M]: output j0·n1 + j1
	default:
		panic(fmt.Errorf("unknown structure %d", int(spec.Kind)))
	}
	if spec.Bias {
		y = Add(y, ExpandLeftToRank(get(WeightBias), 2)) // [T, M] + [1, M]
	}
	return Reshape(y, append(slices.Clone(leading), spec.Out)...) // [..., M]
}
