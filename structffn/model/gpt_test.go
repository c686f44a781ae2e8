package model

import (
	"math"
	"math/rand/v2"
	"testing"

	"github.com/gomlx/gomlx/backends"
	. "github.com/gomlx/gomlx/pkg/core/graph"
	"github.com/gomlx/gomlx/pkg/core/tensors"
	"github.com/gomlx/gomlx/pkg/ml/context"
	"github.com/gomlx/gomlx/pkg/ml/train/optimizers"
	"github.com/structffn/structffn/internal/testbackend"

	"github.com/structffn/structffn/structffn/linear"
)

// backend is the pure-Go backend shared by the tests.
func backend(t testing.TB) backends.Backend { return testbackend.Go(t) }

// testConfig is a model small enough for the pure-Go backend, with GQA and a structured FFN.
func testConfig(kind linear.Kind) Config {
	c := Config{Layers: 2, DModel: 32, Heads: 4, KVHeads: 2, HeadDim: 8, FFN: 128, Vocab: 32, Context: 16, Batch: 4,
		RoPEBase: 10000, LayerNormEps: 1e-5}
	switch kind {
	case linear.LowRank:
		c.Structure, c.Rank = kind, 8
	case linear.BlockDense:
		c.Structure, c.Rank, c.NBlocks = kind, 16, 2
	case linear.BlockShuffle:
		c.Structure, c.NBlocks = kind, 4
	}
	return c
}

func randomTokens(rng *rand.Rand, batch, seq, vocab int) [][]int32 {
	out := make([][]int32, batch)
	for b := range out {
		out[b] = make([]int32, seq)
		for i := range out[b] {
			out[b][i] = int32(rng.IntN(vocab))
		}
	}
	return out
}

func TestCausalMask(t *testing.T) {
	for _, kind := range linear.Kinds {
		t.Run(kind.String(), func(t *testing.T) {
			cfg := testConfig(kind)
			ctx := context.New()
			exec := context.MustNewExec(backend(t), ctx, func(ctx *context.Context, tokens *Node) *Node {
				return Logits(ctx, cfg, tokens, Options{})
			})
			rng := rand.New(rand.NewPCG(1, 1))
			tokens := randomTokens(rng, 2, 12, cfg.Vocab)
			before := tensors.MustCopyFlatData[float32](exec.MustExec(tokens)[0])
			const changed = 7
			for b := range tokens {
				tokens[b][changed] = (tokens[b][changed] + 1) % int32(cfg.Vocab)
			}
			after := tensors.MustCopyFlatData[float32](exec.MustExec(tokens)[0])
			seqStride := cfg.Vocab
			for b := range 2 {
				for pos := range 12 {
					var diff float64
					for v := range cfg.Vocab {
						i := (b*12+pos)*seqStride + v
						diff = max(diff, math.Abs(float64(before[i]-after[i])))
					}
					if pos < changed && diff != 0 {
						t.Errorf("batch %d position %d changed by %g when a later token (%d) changed", b, pos, diff, changed)
					}
					if pos >= changed && diff == 0 {
						t.Errorf("batch %d position %d did not change although token %d changed", b, pos, changed)
					}
				}
			}
		})
	}
}

func TestOverfitOneBatch(t *testing.T) {
	for _, kind := range linear.Kinds {
		t.Run(kind.String(), func(t *testing.T) {
			cfg := testConfig(kind)
			ctx := context.New()
			opt := optimizers.Adam().LearningRate(1e-2).Done()
			step := context.MustNewExec(backend(t), ctx, func(ctx *context.Context, inputs, targets *Node) *Node {
				loss := Loss(ctx, cfg, inputs, targets, Options{})
				opt.UpdateGraph(ctx, inputs.Graph(), loss)
				return loss
			})
			rng := rand.New(rand.NewPCG(2, 2))
			seq := randomTokens(rng, 4, cfg.Context+1, cfg.Vocab)
			inputs, targets := make([][]int32, 4), make([][]int32, 4)
			for b := range seq {
				inputs[b], targets[b] = seq[b][:cfg.Context], seq[b][1:]
			}
			var first, last float32
			for i := range 60 {
				loss := tensors.ToScalar[float32](step.MustExec(inputs, targets)[0])
				if i == 0 {
					first = loss
				}
				last = loss
			}
			// Random tokens from 32 symbols: the initial loss is about log(32) = 3.47.
			if math.Abs(float64(first)-math.Log(float64(cfg.Vocab))) > 0.3 {
				t.Errorf("initial loss %.3f, want about log(V) = %.3f", first, math.Log(float64(cfg.Vocab)))
			}
			if last > 0.5 {
				t.Errorf("loss after 60 Adam steps on one batch: %.3f (from %.3f), want < 0.5", last, first)
			}
			t.Logf("%s: loss %.3f -> %.3f", kind, first, last)
		})
	}
}

func TestVariablesMatchParamCount(t *testing.T) {
	for _, kind := range linear.Kinds {
		cfg := testConfig(kind)
		ctx := context.New()
		exec := context.MustNewExec(backend(t), ctx, func(ctx *context.Context, tokens *Node) *Node {
			return Logits(ctx, cfg, tokens, Options{})
		})
		exec.MustExec([][]int32{{1, 2, 3}})
		var n int64
		for v := range ctx.IterVariables() {
			n += int64(v.Shape().Size())
		}
		if want := cfg.Params().Total; n != want {
			t.Errorf("%s: the graph created %d parameters, Params() counts %d", kind, n, want)
		}
	}
}
