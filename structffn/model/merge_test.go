package model

import (
	"math/rand/v2"
	"testing"

	. "github.com/gomlx/gomlx/pkg/core/graph"
	"github.com/gomlx/gomlx/pkg/core/tensors"
	"github.com/gomlx/gomlx/pkg/ml/context"

	"github.com/structffn/structffn/structffn/linear"
)

// TestMergedModelMatchesStructured: the merged dense model's logits equal the structured model's.
func TestMergedModelMatchesStructured(t *testing.T) {
	for _, kind := range []linear.Kind{linear.LowRank, linear.BlockDense, linear.BlockShuffle} {
		t.Run(kind.String(), func(t *testing.T) {
			cfg := testConfig(kind)
			tokens := randomTokens(rand.New(rand.NewPCG(4, uint64(kind))), 2, cfg.Context, cfg.Vocab)
			logits := func(ctx *context.Context, cfg Config) []float32 {
				exec := context.MustNewExec(backend(t), ctx, func(ctx *context.Context, tok *Node) *Node {
					return Logits(ctx, cfg, tok, Options{})
				})
				return tensors.MustCopyFlatData[float32](exec.MustExec(tokens)[0])
			}
			ctx := context.New()
			ctx.SetParam(linear.ParamSeed, 9)
			want := logits(ctx, cfg)
			merged, dense, err := Merged(ctx, cfg)
			if err != nil {
				t.Fatal(err)
			}
			if dense.Structure != linear.Dense {
				t.Fatalf("merged config is %s", dense.Structure)
			}
			for v := range merged.IterVariables() {
				if name := v.Name(); name == linear.WeightU || name == linear.WeightV || name == linear.WeightB1 {
					t.Fatalf("merged context still holds structured weight %s", v.ScopeAndName())
				}
			}
			got := logits(merged.Reuse(), dense) // Reuse: a missing weight is an error, not a new random one
			if d := maxDiff(got, toFloat64(want)); d > 1e-5 {
				t.Errorf("merged logits differ from the structured ones by %g", d)
			}
		})
	}
}
