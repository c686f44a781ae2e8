package model

import (
	"math"
	"math/rand/v2"
	"strings"
	"testing"

	. "github.com/gomlx/gomlx/pkg/core/graph"
	"github.com/gomlx/gomlx/pkg/core/tensors"
	"github.com/gomlx/gomlx/pkg/ml/context"

	"github.com/structffn/structffn/structffn/linear"
)

// TestAblations: every ablation builds a graph of the model's shapes whose loss is finite and differs
// from the whole model's (the stand-in really replaced something), with the same weights; names
// round-trip; AblateProjections refuses widths it cannot stand in for.
func TestAblations(t *testing.T) {
	cfg := testConfig(linear.LowRank)
	cfg.KVHeads = cfg.Heads // plain MHA, so that every ablation applies
	rng := rand.New(rand.NewPCG(2, 2))
	tokens, targets := randomTokens(rng, 2, 12, cfg.Vocab), randomTokens(rng, 2, 12, cfg.Vocab)
	loss := func(a Ablation) float64 {
		ctx := context.New()
		exec := context.MustNewExec(backend(t), ctx, func(ctx *context.Context, x, y *Node) *Node {
			return Loss(ctx, cfg, x, y, Options{Ablate: a})
		})
		return float64(tensors.ToScalar[float32](exec.MustExec(tokens, targets)[0]))
	}
	full := loss(NoAblation)
	for _, a := range Ablations {
		if err := cfg.CheckAblation(a); err != nil {
			t.Fatalf("%s: %v", a, err)
		}
		l := loss(a)
		if math.IsNaN(l) || math.IsInf(l, 0) || l == full {
			t.Errorf("%s: loss %g (whole model %g)", a, l, full)
		}
		if b, err := ParseAblation(a.String()); err != nil || b != a {
			t.Errorf("%s: parsed back as %v, %v", a, b, err)
		}
	}
	gqa := cfg
	gqa.KVHeads = 2
	if err := gqa.CheckAblation(AblateProjections); err == nil || !strings.Contains(err.Error(), "widths equal to d_model") {
		t.Errorf("projections with GQA: %v", err)
	}
	if _, err := ParseAblation("everything"); err == nil {
		t.Error("ParseAblation accepted an unknown name")
	}
}
