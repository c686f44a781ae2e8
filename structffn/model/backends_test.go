package model

import (
	"math/rand/v2"
	"testing"

	"github.com/gomlx/gomlx/backends"
	. "github.com/gomlx/gomlx/pkg/core/graph"
	"github.com/gomlx/gomlx/pkg/core/tensors"
	"github.com/gomlx/gomlx/pkg/ml/context"

	"github.com/structffn/structffn/internal/testbackend"
	"github.com/structffn/structffn/structffn/linear"
)

// forwardBackward returns the logits and the gradient of the loss with respect to every weight (in
// the context's variable order) of a freshly initialised model (seeded, so identical on every backend).
func forwardBackward(t *testing.T, b backends.Backend, cfg Config, tokens, targets [][]int32) [][]float32 {
	t.Helper()
	ctx := context.New()
	ctx.SetParam(linear.ParamSeed, 5)
	exec := context.MustNewExec(b, ctx, func(ctx *context.Context, tok, tgt *Node) []*Node {
		logits := Logits(ctx, cfg, tok, Options{})
		loss := CrossEntropy(logits, tgt)
		outs := []*Node{logits}
		ctx.EnumerateVariables(func(v *context.Variable) {
			outs = append(outs, Gradient(loss, v.ValueGraph(tok.Graph()))[0])
		})
		return outs
	})
	outs, err := exec.Exec(tokens, targets)
	if err != nil {
		t.Fatal(err)
	}
	flat := make([][]float32, len(outs))
	for i, o := range outs {
		flat[i] = tensors.MustCopyFlatData[float32](o)
	}
	return flat
}

// TestGoAndXLAAgree runs the same model's forward and backward on the pure-Go and the XLA CPU
// backends: logits and every weight gradient must agree (XLA is the path GPUs take).
func TestGoAndXLAAgree(t *testing.T) {
	xla := testbackend.XLA(t)
	for _, kind := range linear.Kinds {
		t.Run(kind.String(), func(t *testing.T) {
			cfg := testConfig(kind)
			rng := rand.New(rand.NewPCG(11, uint64(kind)))
			tokens := randomTokens(rng, 2, cfg.Context, cfg.Vocab)
			targets := randomTokens(rng, 2, cfg.Context, cfg.Vocab)
			onGo := forwardBackward(t, backend(t), cfg, tokens, targets)
			onXLA := forwardBackward(t, xla, cfg, tokens, targets)
			if len(onGo) != len(onXLA) {
				t.Fatalf("go returned %d outputs, xla %d", len(onGo), len(onXLA))
			}
			worst := 0.0
			for i := range onGo {
				d := maxDiff(onGo[i], toFloat64(onXLA[i]))
				worst = max(worst, d)
				if d > 1e-4 {
					t.Errorf("output %d (0 = logits, then weight gradients) differs by %.3g", i, d)
				}
			}
			t.Logf("logits and %d gradients: max |go - xla:cpu| = %.3g", len(onGo)-1, worst)
		})
	}
}

func toFloat64(x []float32) []float64 {
	out := make([]float64, len(x))
	for i, v := range x {
		out[i] = float64(v)
	}
	return out
}
