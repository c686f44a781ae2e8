package linear

import (
	"fmt"
	"math"
	"math/rand/v2"

	"github.com/gomlx/gomlx/backends"
	. "github.com/gomlx/gomlx/pkg/core/graph" //nolint:staticcheck // graph code reads like math.
	"github.com/gomlx/gomlx/pkg/core/tensors"
)

// MergeCheck is the outcome of CheckMerge: the largest difference between the structured layer's
// output and the merged matrix's, and the tolerance it is held to.
type MergeCheck struct {
	Spec      Spec
	MaxDiff   float64
	Tolerance float64
}

// OK reports whether the difference is within tolerance.
func (c MergeCheck) OK() bool { return c.MaxDiff <= c.Tolerance }

// String is llm.c's style: OK or NOT OK with the max difference.
func (c MergeCheck) String() string {
	verdict := "OK"
	if !c.OK() {
		verdict = "NOT OK"
	}
	return fmt.Sprintf("%s: %s, max |structured - merged| = %.2g (tolerance %.2g)", c.Spec, verdict, c.MaxDiff, c.Tolerance)
}

// CheckMerge draws the structure's initial weights (seeded), runs the structured layer on tokens
// random inputs on backend, and compares its outputs with x·Wᵀ for the merged matrix W computed on
// the host in float64: the check the tests make, for notebooks and users' own specs. The tolerance
// is float32 rounding over the matmul: 1e-5 · max(1, max|W|) · max(In, Out).
func CheckMerge(backend backends.Backend, spec Spec, tokens int, seed uint64) (c MergeCheck, err error) {
	defer func() {
		if e := recover(); e != nil {
			err = fmt.Errorf("checking %s: %v", spec, e)
		}
	}()
	c.Spec = spec
	if err := spec.Validate(); err != nil {
		return c, err
	}
	rng := rand.New(rand.NewPCG(seed, 0xc4ec))
	w := spec.Init(rng, InitStd)
	merged, err := spec.Merge(w)
	if err != nil {
		return c, err
	}
	xs := Normal(rng, tokens*spec.In, 1) // [tokens, In]
	inputs := []*tensors.Tensor{tensors.FromFlatDataAndDimensions(xs, tokens, spec.In)}
	names := []string{}
	for _, wt := range spec.Weights() {
		names = append(names, wt.Name)
		inputs = append(inputs, tensors.FromFlatDataAndDimensions(w[wt.Name], wt.Shape...))
	}
	args := make([]any, len(inputs))
	for i, t := range inputs {
		args[i] = t
	}
	exec, err := NewExec(backend, func(in []*Node) *Node {
		nodes := map[string]*Node{}
		for i, name := range names {
			nodes[name] = in[1+i]
		}
		bare := spec
		bare.Bias = false
		return Apply(bare, nodes, in[0]) // [tokens, Out]
	})
	if err != nil {
		return c, err
	}
	defer exec.Finalize()
	out, err := exec.Exec(args...)
	if err != nil {
		return c, err
	}
	y := tensors.MustCopyFlatData[float32](out[0])
	scale := 0.0
	for _, v := range merged {
		scale = max(scale, math.Abs(float64(v)))
	}
	c.Tolerance = 1e-5 * math.Max(1, scale) * float64(max(spec.In, spec.Out))
	for t := range tokens {
		for i := range spec.Out {
			var want float64
			for j := range spec.In {
				want += float64(merged[i*spec.In+j]) * float64(xs[t*spec.In+j])
			}
			c.MaxDiff = max(c.MaxDiff, math.Abs(float64(y[t*spec.Out+i])-want))
		}
	}
	return c, nil
}
