package model

import (
	"math"
	"math/rand/v2"
	"slices"
	"strings"
	"testing"

	"github.com/gomlx/gomlx/backends"
	. "github.com/gomlx/gomlx/pkg/core/graph"
	"github.com/gomlx/gomlx/pkg/core/tensors"
	"github.com/gomlx/gomlx/pkg/ml/context"

	"github.com/structffn/structffn/internal/testbackend"
	"github.com/structffn/structffn/structffn/linear"
)

// fullLogits returns a function giving the logits [batch][seq][vocab] of a full forward pass (no
// cache) of the model in ctx: the reference every decoding path must reproduce.
func fullLogits(t *testing.T, b backends.Backend, ctx *context.Context, cfg Config) func(tokens [][]int32) [][][]float32 {
	exec := context.MustNewExec(b, ctx, func(ctx *context.Context, tokens *Node) *Node {
		return Logits(ctx, cfg, tokens, Options{}) // [batch, seq, vocab]
	})
	return func(tokens [][]int32) [][][]float32 {
		t.Helper()
		flat := tensors.MustCopyFlatData[float32](exec.MustExec(tokens)[0])
		out := make([][][]float32, len(tokens))
		for i := range out {
			for p := range tokens[i] {
				off := (i*len(tokens[i]) + p) * cfg.Vocab
				out[i] = append(out[i], flat[off:off+cfg.Vocab])
			}
		}
		return out
	}
}

func maxDiff32(a, b []float32) float64 {
	var d float64
	for i := range a {
		d = max(d, math.Abs(float64(a[i]-b[i])))
	}
	return d
}

// TestDecoderMatchesFullForward feeds sequences through the KV cache in chunks of uneven sizes (so
// that chunks are padded, and the padding is later overwritten) and checks after each chunk that the
// next-token logits equal the full forward pass's at that position, for every structure, on both
// backends (XLA writes the cache with DynamicUpdateSlice, pure Go with a selection matmul), with two
// rows per batch. Truncating and re-feeding gives the same logits again.
func TestDecoderMatchesFullForward(t *testing.T) {
	for _, nb := range testbackend.All {
		for _, kind := range linear.Kinds {
			t.Run(nb.Name+"/"+kind.String(), func(t *testing.T) {
				b := nb.Backend(t)
				cfg := testConfig(kind)
				ctx := context.New()
				ctx.SetParam(linear.ParamSeed, 9)
				full := fullLogits(t, b, ctx, cfg)
				dec, err := NewDecoder(b, ctx, cfg)
				if err != nil {
					t.Fatal(err)
				}
				rng := rand.New(rand.NewPCG(4, uint64(kind)))
				tokens := randomTokens(rng, 2, cfg.Context, cfg.Vocab)
				want := full(tokens)
				cache, err := NewKVCache(cfg, 2)
				if err != nil {
					t.Fatal(err)
				}
				defer cache.Finalize()
				check := func(chunks []int) {
					t.Helper()
					for _, n := range chunks {
						at := cache.Len()
						logits, err := dec.Step(cache, [][]int32{tokens[0][at : at+n], tokens[1][at : at+n]})
						if err != nil {
							t.Fatal(err)
						}
						for row := range 2 {
							if d := maxDiff32(logits[row], want[row][at+n-1]); d > 1e-5 {
								t.Errorf("chunk of %d at %d, row %d: logits differ from the full pass by %.3g", n, at, row, d)
							}
						}
					}
				}
				check([]int{3, 1, 5, 1, 2, 4}) // 16 = the context
				if err := cache.Truncate(7); err != nil {
					t.Fatal(err)
				}
				check([]int{6, 3})
			})
		}
	}
}

func TestDecoderRejectsBadSteps(t *testing.T) {
	cfg := testConfig(linear.Dense)
	dec, err := NewDecoder(backend(t), context.New(), cfg)
	if err != nil {
		t.Fatal(err)
	}
	cache, _ := NewKVCache(cfg, 2)
	other := cfg
	other.Layers, other.Name = 3, "other"
	otherCache, _ := NewKVCache(other, 2)
	full, _ := NewKVCache(cfg, 1)
	if _, err := dec.Step(full, [][]int32{make([]int32, cfg.Context)}); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name   string
		cache  *KVCache
		tokens [][]int32
		want   string
	}{
		{"rows differ from batch", cache, [][]int32{{1}}, "1 rows of tokens for a KV cache of batch 2"},
		{"ragged rows", cache, [][]int32{{1, 2}, {1}}, "row 1 has 1 tokens, row 0 has 2"},
		{"empty rows", cache, [][]int32{{}, {}}, "at least 1"},
		{"token outside vocabulary", cache, [][]int32{{1}, {32}}, "outside the vocabulary"},
		{"cache of another model", otherCache, [][]int32{{1}, {2}}, "made for model other"},
		{"past the context", full, [][]int32{{1}}, "exceed the context (16): Truncate"},
		{"no cache", nil, [][]int32{{1}}, "no KV cache"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := dec.Step(tc.cache, tc.tokens)
			if err == nil || !strings.Contains(err.Error(), tc.want) || strings.Contains(err.Error(), "\n") {
				t.Errorf("error %v, want one line containing %q", err, tc.want)
			}
		})
	}
	if err := cache.Truncate(1); err == nil {
		t.Errorf("truncating an empty cache to 1 succeeded")
	}
	if _, err := NewKVCache(cfg, 0); err == nil {
		t.Errorf("a KV cache of batch 0 was made")
	}
}

// TestPreMergeSwitch checks that the switch runs the merged weights below the crossover and the
// structured ones at or above it, that both give the structured model's logits, and that a sequence
// can move between them mid-way through one shared cache.
func TestPreMergeSwitch(t *testing.T) {
	for _, kind := range []linear.Kind{linear.LowRank, linear.BlockDense, linear.BlockShuffle} {
		t.Run(kind.String(), func(t *testing.T) {
			cfg := testConfig(kind)
			ctx := context.New()
			ctx.SetParam(linear.ParamSeed, 2)
			tokens := randomTokens(rand.New(rand.NewPCG(8, 8)), 1, cfg.Context, cfg.Vocab)
			want := fullLogits(t, backend(t), ctx, cfg)(tokens)[0] // also creates the weights
			pm, err := NewPreMerge(backend(t), ctx, cfg, 4)
			if err != nil {
				t.Fatal(err)
			}
			cache, _ := NewKVCache(cfg, 1)
			// Chunks of 6 and 4 (structured), then 1, 1, 3 (merged), then 1 more.
			for i, n := range []int{6, 4, 1, 1, 3, 1} {
				at := cache.Len()
				logits, err := pm.Step(cache, [][]int32{tokens[0][at : at+n]})
				if err != nil {
					t.Fatal(err)
				}
				if d := maxDiff32(logits[0], want[at+n-1]); d > 1e-5 {
					t.Errorf("step %d (%d tokens): logits differ from the structured full pass by %.3g", i, n, d)
				}
			}
			if pm.StructuredCalls != 2 || pm.MergedCalls != 4 {
				t.Errorf("structured/merged calls %d/%d, want 2/4 with crossover 4", pm.StructuredCalls, pm.MergedCalls)
			}
			for _, tc := range []struct {
				crossover, inFlight int
				merged              bool
			}{{0, 1, false}, {1, 1, false}, {2, 1, true}, {math.MaxInt, 1 << 20, true}} {
				pm.Crossover = tc.crossover
				if got := pm.UsesMerged(tc.inFlight); got != tc.merged {
					t.Errorf("crossover %d, %d in flight: merged=%v, want %v", tc.crossover, tc.inFlight, got, tc.merged)
				}
			}
		})
	}
}

// TestGenerateRebuildsFullCache generates past the context and checks every greedy token against
// the documented rule computed with full forward passes: the window is the whole sequence until it
// fills the context, then the cache is rebuilt from the last Context/2 tokens and grows again.
func TestGenerateRebuildsFullCache(t *testing.T) {
	s, ctx, cfg := randomSampler(t)
	full := fullLogits(t, backend(t), ctx, cfg)
	prompt := []int32{5, 9, 2}
	got, err := s.Generate(prompt, SampleOptions{MaxTokens: 2*cfg.Context + 3}, nil)
	if err != nil {
		t.Fatal(err)
	}
	seq, start := slices.Clone(prompt), 0 // the window is seq[start:]
	for i, id := range got {
		logits := full([][]int32{seq[start:]})[0]
		if want := argmax(logits[len(logits)-1]); id != want {
			t.Fatalf("token %d: %d, the full pass over the window gives %d", i, id, want)
		}
		seq = append(seq, id)
		if len(seq)-start > cfg.Context {
			start = len(seq) - cfg.Context/2
		}
	}
}
