package model

import (
	"errors"
	"math"
	"math/rand/v2"
	"slices"
	"strings"
	"testing"

	. "github.com/gomlx/gomlx/pkg/core/graph"
	"github.com/gomlx/gomlx/pkg/core/tensors"
	"github.com/gomlx/gomlx/pkg/ml/context"

	"github.com/structffn/structffn/structffn/linear"
)

// randomSampler is a sampler of a randomly initialised small model (testConfig: context 16, vocab 32),
// with its context, so that other graphs can be run on the same weights.
func randomSampler(t *testing.T) (*Sampler, *context.Context, Config) {
	t.Helper()
	cfg := testConfig(linear.LowRank)
	ctx := context.New()
	s, err := NewSampler(backend(t), ctx, cfg)
	if err != nil {
		t.Fatal(err)
	}
	return s, ctx, cfg
}

// TestRightPaddingIsInvisible proves that the sampler's right padding is harmless: the logits at
// position i do not depend on tokens after i, and the padded window's next-token logits equal those
// of a graph built for the exact, unpadded length.
func TestRightPaddingIsInvisible(t *testing.T) {
	s, ctx, cfg := randomSampler(t)
	logitsOf := context.MustNewExec(backend(t), ctx, func(ctx *context.Context, tokens *Node) *Node {
		return Logits(ctx, cfg, tokens, Options{}) // [1, seq, vocab]
	})
	rng := rand.New(rand.NewPCG(3, 3))
	full := randomTokens(rng, 1, cfg.Context, cfg.Vocab)[0]
	for _, n := range []int{1, 2, 7, cfg.Context} {
		// Two windows sharing the first n tokens, with different tails.
		a, b := slices.Clone(full), slices.Clone(full)
		for i := n; i < cfg.Context; i++ {
			a[i], b[i] = 0, int32(rng.IntN(cfg.Vocab))
		}
		la := tensors.MustCopyFlatData[float32](logitsOf.MustExec([][]int32{a})[0]) // [context·vocab]
		lb := tensors.MustCopyFlatData[float32](logitsOf.MustExec([][]int32{b})[0])
		if !slices.Equal(la[:n*cfg.Vocab], lb[:n*cfg.Vocab]) {
			t.Errorf("n=%d: logits at positions < %d changed with the tokens after them", n, n)
		}
		// The exact-length graph's last position vs the sampler's padded window.
		exact := tensors.MustCopyFlatData[float32](logitsOf.MustExec([][]int32{full[:n]})[0])[(n-1)*cfg.Vocab:] // [vocab]
		got, err := s.NextLogits(full[:n])
		if err != nil {
			t.Fatal(err)
		}
		var maxDiff float64
		for v := range exact {
			maxDiff = max(maxDiff, math.Abs(float64(got[v]-exact[v])))
		}
		if maxDiff > 1e-5 {
			t.Errorf("n=%d: padded next-token logits differ from the exact-length graph's by %g (tolerance 1e-5)", n, maxDiff)
		}
	}
}

func TestSampleTokenGreedyIsArgmax(t *testing.T) {
	for _, tc := range []struct {
		logits []float32
		want   int32
	}{
		{[]float32{0.1, 3, -2, 2.9}, 1},
		{[]float32{-5, -1, -3}, 1},
		{[]float32{7}, 0},
		{[]float32{1, 4, 4, 0}, 1}, // ties go to the lower id
		{[]float32{float32(math.Inf(-1)), 0, float32(math.Inf(1))}, 2},
	} {
		rng := rand.New(rand.NewPCG(1, 2))
		for _, topK := range []int{0, 1, 2, 100} {
			if got := SampleToken(tc.logits, 0, topK, rng); got != tc.want {
				t.Errorf("SampleToken(%v, T=0, k=%d) = %d, want the argmax %d", tc.logits, topK, got, tc.want)
			}
		}
	}
}

func TestSampleTokenTopKOneIsGreedy(t *testing.T) {
	rng := rand.New(rand.NewPCG(4, 4))
	for trial := range 50 {
		logits := make([]float32, 20)
		for i := range logits {
			logits[i] = float32(rng.NormFloat64())
		}
		if trial%5 == 0 {
			logits[3], logits[11] = 9, 9 // a tie at the top: the lower id wins, as in argmax
		}
		for _, temp := range []float64{0.01, 0.8, 1, 10, 1e6} {
			if got, want := SampleToken(logits, temp, 1, rng), argmax(logits); got != want {
				t.Errorf("trial %d, T=%g: top-1 drew %d, greedy is %d", trial, temp, got, want)
			}
		}
	}
}

// TestSampleTokenDistribution checks the draws against softmax(logits/T) restricted to the top k,
// computed here independently, within 4 standard errors over 40000 draws.
func TestSampleTokenDistribution(t *testing.T) {
	logits := []float32{2, 1, 0.5, 0, -1, -3}
	for _, tc := range []struct {
		temp float64
		topK int
	}{{1, 0}, {0.5, 0}, {2, 3}, {1, 2}, {1, 6}, {1, 99}} {
		want := make([]float64, len(logits))
		var sum float64
		for i, l := range logits { // logits are sorted descending, so the top k are the first k
			if tc.topK == 0 || i < tc.topK {
				want[i] = math.Exp(float64(l) / tc.temp)
				sum += want[i]
			}
		}
		const draws = 40000
		counts := make([]float64, len(logits))
		rng := rand.New(rand.NewPCG(5, uint64(tc.topK)))
		for range draws {
			counts[SampleToken(logits, tc.temp, tc.topK, rng)]++
		}
		for i := range logits {
			p := want[i] / sum
			got := counts[i] / draws
			if p == 0 && got != 0 {
				t.Errorf("T=%g k=%d: token %d outside the top k was drawn %d times", tc.temp, tc.topK, i, int(counts[i]))
			}
			if se := math.Sqrt(p * (1 - p) / draws); math.Abs(got-p) > 4*se+1e-12 {
				t.Errorf("T=%g k=%d: token %d drawn with frequency %.4f, want %.4f ± %.4f", tc.temp, tc.topK, i, got, p, 4*se)
			}
		}
	}
}

func TestGenerateDeterminism(t *testing.T) {
	s, _, cfg := randomSampler(t)
	prompt := []int32{1, 2, 3}
	gen := func(opts SampleOptions) []int32 {
		t.Helper()
		out, err := s.Generate(prompt, opts, nil)
		if err != nil {
			t.Fatal(err)
		}
		if len(out) != opts.MaxTokens {
			t.Fatalf("%d tokens generated, want %d", len(out), opts.MaxTokens)
		}
		return out
	}
	// Greedy is the argmax of the next-token logits, step by step, whatever the seed.
	greedy := gen(SampleOptions{MaxTokens: 6, Seed: 1})
	seq := slices.Clone(prompt)
	for i, id := range greedy {
		logits, err := s.NextLogits(seq)
		if err != nil {
			t.Fatal(err)
		}
		if want := argmax(logits); id != want {
			t.Fatalf("greedy token %d is %d, the argmax is %d", i, id, want)
		}
		seq = append(seq, id)
	}
	if again := gen(SampleOptions{MaxTokens: 6, Seed: 99}); !slices.Equal(again, greedy) {
		t.Errorf("greedy output depends on the seed: %v vs %v", again, greedy)
	}
	// Sampling: the same seed repeats, another seed differs (a random model is close to uniform
	// over 32 tokens, so 8 equal draws would have probability about 32^-8).
	opts := SampleOptions{MaxTokens: 8, Temperature: 1, Seed: 7}
	a, b := gen(opts), gen(opts)
	if !slices.Equal(a, b) {
		t.Errorf("seed %d gave %v, then %v", opts.Seed, a, b)
	}
	opts.Seed = 8
	if c := gen(opts); slices.Equal(a, c) {
		t.Errorf("seeds 7 and 8 gave the same tokens %v", a)
	}
	for _, id := range a {
		if id < 0 || int(id) >= cfg.Vocab {
			t.Errorf("token %d outside the vocabulary", id)
		}
	}
}

func TestGenerateSlidesWindowAndStreams(t *testing.T) {
	s, _, cfg := randomSampler(t)
	rng := rand.New(rand.NewPCG(6, 6))
	long := randomTokens(rng, 1, cfg.Context+5, cfg.Vocab)[0]
	opts := SampleOptions{MaxTokens: 4, Temperature: 0.9, TopK: 5, Seed: 3}
	var streamed []int32
	got, err := s.Generate(long, opts, func(id int32) error { streamed = append(streamed, id); return nil })
	if err != nil {
		t.Fatal(err)
	}
	// A prompt longer than the context acts as its last Context tokens.
	want, err := s.Generate(long[len(long)-cfg.Context:], opts, nil)
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(got, want) {
		t.Errorf("long prompt gave %v, its last %d tokens gave %v", got, cfg.Context, want)
	}
	if !slices.Equal(streamed, got) {
		t.Errorf("streamed %v, returned %v", streamed, got)
	}
	// An error from the callback stops generation after that token.
	stop := errors.New("stop")
	out, err := s.Generate(long, opts, func(int32) error { return stop })
	if !errors.Is(err, stop) || len(out) != 1 {
		t.Errorf("callback error: got %v with %d tokens, want the error after 1 token", err, len(out))
	}
}

func TestGenerateRejectsBadInput(t *testing.T) {
	s, _, _ := randomSampler(t)
	good := SampleOptions{MaxTokens: 1, Temperature: 0.8, TopK: 40}
	for _, tc := range []struct {
		name   string
		prompt []int32
		opts   func(o *SampleOptions)
		want   string
	}{
		{"negative temperature", []int32{1}, func(o *SampleOptions) { o.Temperature = -0.5 }, "temperature -0.5 is out of range"},
		{"NaN temperature", []int32{1}, func(o *SampleOptions) { o.Temperature = math.NaN() }, "temperature NaN"},
		{"infinite temperature", []int32{1}, func(o *SampleOptions) { o.Temperature = math.Inf(1) }, "temperature +Inf"},
		{"negative top-k", []int32{1}, func(o *SampleOptions) { o.TopK = -1 }, "top-k -1 is negative"},
		{"negative max tokens", []int32{1}, func(o *SampleOptions) { o.MaxTokens = -3 }, "max tokens -3"},
		{"empty prompt", nil, func(*SampleOptions) {}, "empty prompt"},
		{"token outside vocabulary", []int32{1, 32}, func(*SampleOptions) {}, "outside the vocabulary"},
		{"negative token", []int32{-1}, func(*SampleOptions) {}, "outside the vocabulary"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			opts := good
			tc.opts(&opts)
			_, err := s.Generate(tc.prompt, opts, nil)
			if err == nil || !strings.Contains(err.Error(), tc.want) || strings.Contains(err.Error(), "\n") {
				t.Errorf("error %v, want one line containing %q", err, tc.want)
			}
		})
	}
	if out, err := s.Generate([]int32{1}, SampleOptions{}, nil); err != nil || len(out) != 0 {
		t.Errorf("MaxTokens 0: got %v, %v; want no tokens and no error", out, err)
	}
}

func TestSamplerWithReuseContextNeedsWeights(t *testing.T) {
	// A context in reuse mode (as train.Load returns) without the weights must fail, not initialise them.
	_, err := NewSampler(backend(t), context.New().Reuse(), testConfig(linear.Dense))
	if err == nil || !strings.Contains(err.Error(), "building the sampling graph") || strings.Contains(err.Error(), "\n") {
		t.Fatalf("error %v, want the missing weights reported while building the graph", err)
	}
}
