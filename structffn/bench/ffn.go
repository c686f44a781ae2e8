// Package bench measures what users of structured FFNs care about: the latency of one FFN (dense vs
// each structure) across widths and tokens in flight, and a model's training throughput and MFU. Every
// measurement is a plain function returning records (printed as tables or JSON by `structffn bench`),
// and testing.B benchmarks wrap the same code; nothing here asserts on time.
package bench

import (
	"fmt"
	"math/rand/v2"
	"slices"
	"sort"
	"time"

	"github.com/gomlx/gomlx/backends"
	"github.com/gomlx/gomlx/pkg/core/dtypes"
	. "github.com/gomlx/gomlx/pkg/core/graph" //nolint:staticcheck // graph code reads like math.
	"github.com/gomlx/gomlx/pkg/core/shapes"
	"github.com/gomlx/gomlx/pkg/core/tensors"
	"github.com/gomlx/gomlx/pkg/ml/context"

	"github.com/structffn/structffn/structffn/linear"
	"github.com/structffn/structffn/structffn/model"
	"github.com/structffn/structffn/structffn/train"
)

// Passes of an FFN measurement.
const (
	Forward  = "fwd"     // y = fc2(gelu(fc1(x)))
	Backward = "fwd+bwd" // y, then the gradients of sum(y) with respect to x and every weight
)

// FFNCase is one FFN to time: d → ffn → d with the given structure at a parameter fraction (1 for dense).
type FFNCase struct {
	Structure linear.Kind
	Fraction  float64
	Width     int // d
	FFN       int // f (4·d by default)
	Tokens    int // rows of x: batch·sequence in flight
	Pass      string
	// Dtype of the activations, weights cast to it as model.Options.Dtype does (float32 when zero).
	Dtype dtypes.DType
}

// FFNResult is one measured case. GFLOPs is achieved throughput counting the matmul FLOPs of fc1 and
// fc2 (2 per multiply-add; 3× the forward for fwd+bwd, docs/METHOD.md §4's accounting); Speedup is the dense
// FFN's time over this one's at the same width, tokens and pass (1 for dense; 0 when dense was not run).
type FFNResult struct {
	Structure string  `json:"structure"`
	Fraction  float64 `json:"fraction"`
	Width     int     `json:"width"`
	FFN       int     `json:"ffn"`
	Rank      int     `json:"rank,omitempty"`
	NBlocks   int     `json:"nblocks,omitempty"`
	Tokens    int     `json:"tokens"`
	Pass      string  `json:"pass"`
	Ms        float64 `json:"ms"`
	GFLOPs    float64 `json:"gflops"`
	Speedup   float64 `json:"speedup"`
	Params    int64   `json:"params"`
	FLOPs     float64 `json:"flops"`
	Reps      int     `json:"reps"`
	Backend   string  `json:"backend"`
	Dtype     string  `json:"dtype"` // float32 or bfloat16
}

// FFNGrid is the cross product of structures × fractions × widths × tokens × passes; dense is measured
// once per (width, tokens, pass) and structures at each fraction.
type FFNGrid struct {
	Structures []linear.Kind
	Fractions  []float64
	Widths     []int
	Tokens     []int
	Passes     []string
	FFNRatio   int          // f = FFNRatio·d (4 when 0)
	Dtype      dtypes.DType // activation dtype of every case (float32 when zero)
}

// Cases lists the grid's cases, dense first within each (width, tokens, pass) so speed-ups can be
// computed as the results arrive.
func (g FFNGrid) Cases() []FFNCase {
	ratio := g.FFNRatio
	if ratio == 0 {
		ratio = 4
	}
	var out []FFNCase
	for _, w := range g.Widths {
		for _, t := range g.Tokens {
			for _, p := range g.Passes {
				if slices.Contains(g.Structures, linear.Dense) {
					out = append(out, FFNCase{linear.Dense, 1, w, ratio * w, t, p, g.Dtype})
				}
				for _, k := range g.Structures {
					if k == linear.Dense {
						continue
					}
					for _, f := range g.Fractions {
						out = append(out, FFNCase{k, f, w, ratio * w, t, p, g.Dtype})
					}
				}
			}
		}
	}
	return out
}

// Timing controls how long each case is measured: at least MinReps runs and MinTime, after one
// warm-up run (which includes compilation).
type Timing struct {
	MinReps int
	MinTime time.Duration
}

// DefaultTiming is three runs or half a second, whichever is longer.
var DefaultTiming = Timing{MinReps: 3, MinTime: 500 * time.Millisecond}

// RunFFN measures every case in order on backend, calling report with each result as it is measured.
func RunFFN(backend backends.Backend, backendName string, cases []FFNCase, timing Timing, report func(FFNResult)) ([]FFNResult, error) {
	dense := map[[3]any]float64{}
	var results []FFNResult
	for _, c := range cases {
		r, err := MeasureFFN(backend, c, timing)
		if err != nil {
			return results, err
		}
		r.Backend = backendName
		key := [3]any{c.Width, c.Tokens, c.Pass}
		if c.Structure == linear.Dense {
			dense[key] = r.Ms
		}
		if d, ok := dense[key]; ok {
			r.Speedup = d / r.Ms
		}
		results = append(results, r)
		if report != nil {
			report(r)
		}
	}
	return results, nil
}

// MeasureFFN times one case on random weights and inputs; the median of the timed runs is reported.
func MeasureFFN(backend backends.Backend, c FFNCase, timing Timing) (r FFNResult, err error) {
	defer train.RecoverAs(&err, fmt.Sprintf("FFN %s %s d=%d tokens=%d %s", c.Structure, linear.FractionName(c.Fraction), c.Width, c.Tokens, c.Pass))
	rank, nblocks := 0, 0
	if c.Structure != linear.Dense {
		if rank, nblocks, err = linear.SizeFor(c.Structure, c.Width, c.FFN, c.Fraction); err != nil {
			return r, err
		}
	}
	fc1, fc2 := linear.FFNSpecs(c.Structure, c.Width, c.FFN, rank, nblocks)
	fwdFLOPs := float64(fc1.FLOPsPerToken()+fc2.FLOPsPerToken()) * float64(c.Tokens)
	flops := fwdFLOPs
	if c.Pass == Backward {
		flops *= 3
	} else if c.Pass != Forward {
		return r, fmt.Errorf("unknown pass %q: allowed values are %s, %s", c.Pass, Forward, Backward)
	}

	ctx := context.New()
	// Random N(0, 0.02²) weights: timing does not depend on their values, and the paper's init (an
	// SVD of each dense init for LowRank) would take longer than the measurement at large widths.
	for _, fc := range []struct {
		scope string
		spec  linear.Spec
	}{{"fc1", fc1}, {"fc2", fc2}} {
		weights := append(fc.spec.Weights(), linear.Weight{Name: linear.WeightBias, Shape: []int{fc.spec.Out}})
		for i, w := range weights {
			ctx.In(fc.scope).VariableWithValue(w.Name, randomTensor(uint64(i), 0.02, w.Shape...))
		}
	}
	dtype := c.Dtype
	if dtype == dtypes.InvalidDType {
		dtype = dtypes.Float32
	}
	exec, err := context.NewExec(backend, ctx, func(ctx *context.Context, x *Node) *Node {
		return ffnGraph(ctx, fc1, fc2, ConvertDType(x, dtype), c.Pass == Backward)
	})
	if err != nil {
		return r, err
	}
	defer exec.Finalize()
	x := randomTensor(7, 1, c.Tokens, c.Width)
	run := func() error {
		out, err := exec.Exec(x)
		if err != nil {
			return err
		}
		// Read the scalar back: the step is complete only when its result is on the host.
		_ = tensors.ToScalar[float32](out[0])
		_ = out[0].FinalizeAll()
		return nil
	}
	if err := run(); err != nil { // warm-up: compilation and first transfer
		return r, err
	}
	var times []float64
	start := time.Now()
	for len(times) < max(1, timing.MinReps) || time.Since(start) < timing.MinTime {
		t0 := time.Now()
		if err := run(); err != nil {
			return r, err
		}
		times = append(times, time.Since(t0).Seconds()*1000)
	}
	sort.Float64s(times)
	ms := times[len(times)/2]
	return FFNResult{
		Structure: c.Structure.String(), Fraction: c.Fraction, Width: c.Width, FFN: c.FFN, Rank: rank, NBlocks: nblocks,
		Tokens: c.Tokens, Pass: c.Pass, Ms: ms, GFLOPs: flops / ms / 1e6, Speedup: 1,
		Params: fc1.Params() + fc2.Params(), FLOPs: flops, Reps: len(times), Dtype: train.DtypeName(dtype),
	}, nil
}

// ffnGraph is model.FFN on x [tokens, d] (in x's dtype); with grads it returns a float32 scalar that
// depends on the gradients of sum(y) with respect to x and every weight (so none is pruned), else
// sum(y).
func ffnGraph(ctx *context.Context, fc1, fc2 linear.Spec, x *Node, grads bool) *Node {
	y := model.FFN(ctx, fc1, fc2, x, nil) // [tokens, d]
	loss := ConvertDType(ReduceAllSum(y), dtypes.Float32)
	if !grads {
		return loss
	}
	var vars []*Node
	ctx.EnumerateVariables(func(v *context.Variable) { vars = append(vars, v.ValueGraph(x.Graph())) })
	all := Gradient(loss, append([]*Node{x}, vars...)...)
	total := loss
	for _, g := range all {
		total = Add(total, ConvertDType(ReduceAllSum(g), dtypes.Float32))
	}
	return total
}

// randomTensor is N(0, std²) float32 of the given shape, from a fixed seed.
func randomTensor(seed uint64, std float64, dims ...int) *tensors.Tensor {
	r := rand.New(rand.NewPCG(seed, 7))
	t := tensors.FromShape(shapes.Make(dtypes.Float32, dims...))
	_ = tensors.MutableFlatData(t, func(flat []float32) {
		for i := range flat {
			flat[i] = float32(std * r.NormFloat64())
		}
	})
	return t
}
