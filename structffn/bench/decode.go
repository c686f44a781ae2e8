package bench

import (
	"fmt"
	"math"
	"math/rand/v2"
	"slices"
	"sort"
	"time"

	"github.com/gomlx/gomlx/backends"
	"github.com/gomlx/gomlx/pkg/ml/context"

	"github.com/structffn/structffn/structffn/linear"
	"github.com/structffn/structffn/structffn/model"
	"github.com/structffn/structffn/structffn/train"
)

// Decoding modes: which weights run a decoding step.
const (
	Structured = "structured" // the structured model as trained (fewest FLOPs)
	MergedMode = "merged"     // its pre-merged dense weights (same logits, one matmul per matrix)
	DenseMode  = "dense"      // a dense model of the same shape (its own weights): the baseline
)

// DecodeCase is one decoding step to time: Batch sequences, each given NewTokens tokens (1 for
// token-by-token decoding, more for a prompt chunk), so Batch·NewTokens tokens are in flight.
type DecodeCase struct {
	Batch, NewTokens int
}

// DecodeResult is the latency of one decoding step (model.Decoder.Step with a KV cache, from tokens
// on the host to logits on the host) in one mode, at cache position Position.
type DecodeResult struct {
	Preset         string  `json:"preset"`
	Structure      string  `json:"structure"`
	Fraction       float64 `json:"fraction"`
	Backend        string  `json:"backend"`
	Mode           string  `json:"mode"`
	Batch          int     `json:"batch"`
	NewTokens      int     `json:"new_tokens"`
	TokensInFlight int     `json:"tokens_in_flight"`
	Position       int     `json:"position"`
	Ms             float64 `json:"ms"`
	TokPerS        float64 `json:"tok_per_s"`
	Reps           int     `json:"reps"`

	Layers  int `json:"layers"`
	DModel  int `json:"d_model"`
	FFN     int `json:"ffn"`
	Ctx     int `json:"ctx"`
	Vocab   int `json:"vocab"`
	Rank    int `json:"rank"`
	NBlocks int `json:"nblocks"`
}

// DecodeMode is a named way of decoding: Structured, MergedMode or DenseMode.
type DecodeMode struct {
	Name string
	Step model.Stepper
}

// Decode times one decoding step of the model cfg in each mode, for each case: the step runs at
// position min(Context/2, Context-NewTokens) of a KV cache, as in the middle of a generation. The
// modes of a case are timed in turns (one step each per round, median per mode), so that drift on a
// shared machine hits them alike. report, when not nil, gets each result as it is measured.
func Decode(backendName string, cfg model.Config, modes []DecodeMode, cases []DecodeCase, timing Timing, report func(DecodeResult)) (results []DecodeResult, err error) {
	defer train.RecoverAs(&err, "bench decode")
	rng := rand.New(rand.NewPCG(5, 5))
	tokens := func(batch, n int) [][]int32 {
		out := make([][]int32, batch)
		for i := range out {
			out[i] = make([]int32, n)
			for j := range out[i] {
				out[i][j] = int32(rng.IntN(cfg.Vocab))
			}
		}
		return out
	}
	for _, c := range cases {
		if c.Batch < 1 || c.NewTokens < 1 || c.NewTokens > cfg.Context {
			return results, fmt.Errorf("bench decode: batch %d with %d new tokens: want batch >= 1 and 1 to %d (the context) new tokens", c.Batch, c.NewTokens, cfg.Context)
		}
		pos := min(cfg.Context/2, cfg.Context-c.NewTokens)
		caches := make([]*model.KVCache, len(modes))
		step := func(i int) (float64, error) {
			if err := caches[i].Truncate(pos); err != nil {
				return 0, err
			}
			in := tokens(c.Batch, c.NewTokens)
			t0 := time.Now()
			_, err := modes[i].Step.Step(caches[i], in) // logits copied to the host: the step is complete
			return time.Since(t0).Seconds() * 1000, err
		}
		for i := range modes {
			if caches[i], err = model.NewKVCache(cfg, c.Batch); err != nil {
				return results, err
			}
			if pos > 0 { // fill the cache up to pos
				if _, err := modes[i].Step.Step(caches[i], tokens(c.Batch, pos)); err != nil {
					return results, err
				}
			}
			if _, err := step(i); err != nil { // warm-up: compilation
				return results, err
			}
		}
		times := make([][]float64, len(modes))
		for start := time.Now(); len(times[0]) < max(1, timing.MinReps) || time.Since(start) < time.Duration(len(modes))*timing.MinTime; {
			for i := range modes {
				ms, err := step(i)
				if err != nil {
					return results, err
				}
				times[i] = append(times[i], ms)
			}
		}
		for i, mode := range modes {
			mode := mode.Name
			caches[i].Finalize()
			sort.Float64s(times[i])
			ms := times[i][len(times[i])/2]
			r := DecodeResult{
				Preset: cfg.Name, Structure: cfg.Structure.String(), Fraction: linear.FFNFraction(cfg.Structure, cfg.DModel, cfg.FFN, cfg.Rank, cfg.NBlocks), Backend: backendName,
				Mode: mode, Batch: c.Batch, NewTokens: c.NewTokens, TokensInFlight: c.Batch * c.NewTokens, Position: pos,
				Ms: ms, TokPerS: float64(c.Batch*c.NewTokens) / (ms / 1000), Reps: len(times[i]),
				Layers: cfg.Layers, DModel: cfg.DModel, FFN: cfg.FFN, Ctx: cfg.Context, Vocab: cfg.Vocab, Rank: cfg.Rank, NBlocks: cfg.NBlocks,
			}
			results = append(results, r)
			if report != nil {
				report(r)
			}
		}
	}
	return results, nil
}

// DecodeModes builds one decoder per named mode for the model cfg whose weights are in ctx. When ctx
// has none, the structured model's weights are created at random (by running it once) so that they
// can be merged; the dense mode always has its own random weights.
func DecodeModes(backend backends.Backend, ctx *context.Context, cfg model.Config, modes []string) ([]DecodeMode, error) {
	if len(modes) == 0 {
		return nil, fmt.Errorf("bench decode: no modes: use some of %s, %s, %s", Structured, MergedMode, DenseMode)
	}
	structured, err := model.NewDecoder(backend, ctx, cfg)
	if err != nil {
		return nil, err
	}
	if err := firstStep(structured, cfg); err != nil {
		return nil, err
	}
	out := make([]DecodeMode, len(modes))
	for i, mode := range modes {
		out[i].Name = mode
		switch mode {
		case Structured:
			out[i].Step = structured
		case MergedMode:
			if cfg.Structure == linear.Dense {
				return nil, fmt.Errorf("bench decode: mode merged needs a structured model, this one is dense: drop it from -modes")
			}
			mctx, dense, err := model.Merged(ctx, cfg)
			if err != nil {
				return nil, err
			}
			if out[i].Step, err = model.NewDecoder(backend, mctx.Reuse(), dense); err != nil {
				return nil, err
			}
		case DenseMode:
			dense := cfg
			dense.Structure, dense.Rank, dense.NBlocks, dense.AllStructured = linear.Dense, 0, 0, false
			dctx := context.New()
			dctx.SetParam(linear.ParamSeed, 1)
			if out[i].Step, err = model.NewDecoder(backend, dctx, dense); err != nil {
				return nil, err
			}
		default:
			return nil, fmt.Errorf("bench decode: unknown mode %q: allowed values are %s, %s, %s", mode, Structured, MergedMode, DenseMode)
		}
	}
	return out, nil
}

// Crossover returns the tokens in flight from which the structured weights should decode instead of
// the merged ones, as model.PreMerge.Crossover wants it (merged below it, structured from it on): of
// the thresholds 0 (always structured), each measured tokens_in_flight, and math.MaxInt (always
// merged), the one whose choices cost least over the measured sizes, each size's time counted
// relative to its faster mode (so every size weighs alike, and one noisy point cannot flip the
// policy everywhere); ties go to the smaller threshold. Results at the same tokens in flight are
// summed per mode; sizes without both modes are ignored; no sizes gives math.MaxInt.
func Crossover(results []DecodeResult) int {
	ms := map[int]*[2]float64{} // tokens in flight -> structured, merged ms
	for _, r := range results {
		i := slices.Index([]string{Structured, MergedMode}, r.Mode)
		if i < 0 {
			continue
		}
		if ms[r.TokensInFlight] == nil {
			ms[r.TokensInFlight] = &[2]float64{}
		}
		ms[r.TokensInFlight][i] += r.Ms
	}
	var sizes []int
	for n, t := range ms {
		if t[0] > 0 && t[1] > 0 {
			sizes = append(sizes, n)
		}
	}
	if len(sizes) == 0 {
		return math.MaxInt
	}
	slices.Sort(sizes)
	best, bestCost := math.MaxInt, math.Inf(1)
	for _, threshold := range append(append([]int{0}, sizes...), math.MaxInt) {
		cost := 0.0
		for _, n := range sizes {
			t := ms[n]
			chosen := t[0]
			if n < threshold {
				chosen = t[1]
			}
			cost += chosen / min(t[0], t[1])
		}
		if cost < bestCost-1e-12 {
			best, bestCost = threshold, cost
		}
	}
	return best
}

// DescribeCrossover says in one line what a crossover means for decoding, with the sample flag
// that applies it.
func DescribeCrossover(c int) string {
	switch c {
	case 0:
		return "crossover: 0: over the sizes measured, structured weights throughout cost least (sample -premerge structured)"
	case math.MaxInt:
		return "crossover: none: over the sizes measured, merged weights throughout cost least (sample -premerge merged)"
	}
	return fmt.Sprintf("crossover: merged weights are faster below %d tokens in flight, structured from %d on (sample -premerge %d)", c, c, c)
}

// AutoCrossover times pm's structured and merged steps at 1 token in flight and, when promptTokens
// > 1, at a prompt of that many tokens (batch 1, at least 5 repetitions and 50 ms each), and sets
// pm.Crossover from the timings (Crossover): what `structffn sample -premerge auto` and notebook 05
// do before decoding. It returns the timings, structured then merged per size.
func AutoCrossover(backendName string, cfg model.Config, pm *model.PreMerge, promptTokens int) ([]DecodeResult, error) {
	cases := []DecodeCase{{Batch: 1, NewTokens: 1}}
	if promptTokens > 1 {
		cases = append(cases, DecodeCase{Batch: 1, NewTokens: promptTokens})
	}
	modes := []DecodeMode{{Name: Structured, Step: pm.Structured}, {Name: MergedMode, Step: pm.Merged}}
	results, err := Decode(backendName, cfg, modes, cases, Timing{MinReps: 5, MinTime: 50 * time.Millisecond}, nil)
	if err != nil {
		return nil, err
	}
	pm.Crossover = Crossover(results)
	return results, nil
}
