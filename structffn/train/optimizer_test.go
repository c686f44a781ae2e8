package train

import (
	"fmt"
	"math"
	"math/rand/v2"
	"slices"
	"testing"

	. "github.com/gomlx/gomlx/pkg/core/graph"
	"github.com/gomlx/gomlx/pkg/core/tensors"
	"github.com/gomlx/gomlx/pkg/ml/context"
	"github.com/gomlx/gomlx/ui/commandline"

	"github.com/structffn/structffn/structffn/guide"
	"github.com/structffn/structffn/structffn/model"
)

// adamState is a host copy of one variable's value, moments and (for masked variables) update count.
type adamState struct {
	value, m1, m2 []float32
	count         float32
}

func readState(t *testing.T, ctx *context.Context, v *context.Variable) adamState {
	t.Helper()
	c := momentScope(ctx, v)
	s := adamState{value: tensors.MustCopyFlatData[float32](v.MustValue()),
		m1: tensors.MustCopyFlatData[float32](c.GetVariable(v.Name() + "_1st_moment").MustValue()),
		m2: tensors.MustCopyFlatData[float32](c.GetVariable(v.Name() + "_2nd_moment").MustValue())}
	if cv := c.GetVariable(v.Name() + updatesSuffix); cv != nil {
		s.count = tensors.ToScalar[float32](cv.MustValue())
	}
	return s
}

// hostAdamW is PyTorch's AdamW step on one parameter in float64 (its own step count t):
// w ← w − lr·(m̂/(√v̂ + ε) + wd·w).
func hostAdamW(o *AdamW, s adamState, grad []float64, lr float64, t int) adamState {
	out := adamState{value: make([]float32, len(grad)), m1: make([]float32, len(grad)), m2: make([]float32, len(grad)), count: float32(t)}
	for i, g := range grad {
		m := o.Beta1*float64(s.m1[i]) + (1-o.Beta1)*g
		v := o.Beta2*float64(s.m2[i]) + (1-o.Beta2)*g*g
		mhat := m / (1 - math.Pow(o.Beta1, float64(t)))
		vhat := v / (1 - math.Pow(o.Beta2, float64(t)))
		w := float64(s.value[i])
		out.value[i] = float32(w - lr*(mhat/(math.Sqrt(vhat)+o.Eps)+o.WeightDecay*w))
		out.m1[i], out.m2[i] = float32(m), float32(v)
	}
	return out
}

// TestAdamWLeavesSkippedGuidesAlone trains guided steps with fixed decision patterns on a model
// with few guided matrices (2) and one with many (10). Before each step it computes every gradient
// with a separate graph; after it, every skipped guide's value, moments and update count must be
// bit-identical to before, and every active guide and every other weight must equal PyTorch's
// AdamW step computed on the host from those gradients (clipped by the global norm), with the
// guide's own count of updates (skipped steps do not advance it) and the global step for the rest.
func TestAdamWLeavesSkippedGuidesAlone(t *testing.T) {
	b := goBackend(t)
	for _, layers := range []int{2, 6} {
		t.Run(fmt.Sprintf("layers=%d", layers), func(t *testing.T) {
			ctx := DefaultContext()
			settings := fmt.Sprintf("layers=%d;d_model=32;heads=2;head_dim=16;ffn=128;context=16;batch=4;learning_rate=0.01;grad_clip=1;sgt=steps;sgt_ratio=1;train_steps=8", layers)
			if _, err := commandline.ParseContextSettings(ctx, settings); err != nil {
				t.Fatal(err)
			}
			cfg, err := ModelConfig(ctx)
			if err != nil {
				t.Fatal(err)
			}
			ctx = ctx.Checked(false)
			sgt, err := NewSGT(ctx, cfg, cfg.Steps())
			if err != nil {
				t.Fatal(err)
			}
			guides := sgt.Guides()
			n := guides.N()
			if n != 2*(layers-1) {
				t.Fatalf("%d guided matrices, want %d", n, 2*(layers-1))
			}
			opt := NewAdamW(ctx, cfg.PeakLR, sgt.Plan.TotalSteps)
			st, err := NewStepper(b, "go", ctx, cfg, opt, guides)
			if err != nil {
				t.Fatal(err)
			}
			// The gradients the step will take, from the same guided graph without the update, for the
			// trainable variables in the order the optimizer sees them.
			var vars []*context.Variable
			gradExec := context.MustNewExec(b, ctx, func(ctx *context.Context, tokens, targets *Node) []*Node {
				opts := model.Options{FFNLinear: guides.LinearFn()}
				grads := ctx.BuildTrainableVariablesGradientsGraph(model.CrossEntropy(model.Logits(ctx, cfg, tokens, opts), targets))
				vars = trainableInUse(ctx, tokens.Graph())
				return grads
			})
			rng := rand.New(rand.NewPCG(4, 4))
			ids := func() []int32 {
				v := make([]int32, cfg.Batch*cfg.Context)
				for i := range v {
					v[i] = int32(rng.IntN(cfg.Vocab))
				}
				return v
			}
			patterns := make([][]bool, 4)
			for k := range patterns {
				patterns[k] = make([]bool, n)
			}
			for i := range n {
				patterns[0][i] = true     // step 0: every guide on
				patterns[1][i] = i%2 == 0 // step 1: every other
				patterns[2][i] = i%3 != 1 // step 2: two in three (some that were off in step 1 come back)
				patterns[3][i] = i == n-1 // step 3: only the last
			}
			updates := map[*context.Variable]int{} // each guide's own update count so far
			checked := map[string]int{}
			for step, on := range patterns {
				in, tg := ids(), ids()
				if err := guides.SetDecisions(ctx, on, on); err != nil {
					t.Fatal(err)
				}
				grads := gradExec.MustExec(batchTensor(in, cfg), batchTensor(tg, cfg))
				var sumSq float64
				hostGrads := make([][]float64, len(grads))
				for k, g := range grads {
					for _, x := range tensors.MustCopyFlatData[float32](g) {
						hostGrads[k] = append(hostGrads[k], float64(x))
						sumSq += float64(x) * float64(x)
					}
				}
				scale := math.Min(1, opt.Clip/(math.Sqrt(sumSq)+1e-6))
				before := make([]adamState, len(vars))
				for k, v := range vars {
					if step == 0 { // no optimizer state yet: zero moments
						before[k] = adamState{value: tensors.MustCopyFlatData[float32](v.MustValue()),
							m1: make([]float32, v.Shape().Size()), m2: make([]float32, v.Shape().Size())}
					} else {
						before[k] = readState(t, ctx, v)
					}
				}
				if _, err := st.TrainStep(true, in, tg, func(int) error { return guides.SetDecisions(ctx, on, on) }); err != nil {
					t.Fatal(err)
				}
				lr := opt.Schedule.At(int64(step))
				for k, v := range vars {
					after := readState(t, ctx, v)
					isGuide := v.Name() == guide.WeightGuide
					if isGuide && !on[guideIndex(t, vars, v)] {
						if !slices.Equal(after.value, before[k].value) || !slices.Equal(after.m1, before[k].m1) ||
							!slices.Equal(after.m2, before[k].m2) || after.count != before[k].count {
							t.Errorf("step %d: skipped guide %s changed (value, moments or update count)", step, v.Scope())
						}
						checked["skipped"]++
						continue
					}
					count := step + 1
					if isGuide {
						updates[v]++
						count = updates[v]
					}
					g := make([]float64, len(hostGrads[k]))
					for i, x := range hostGrads[k] {
						g[i] = x * scale
					}
					want := hostAdamW(opt, before[k], g, lr, count)
					if d := maxRelDiff(after.value, want.value, 1e-7); d > 1e-4 {
						t.Errorf("step %d: %s/%s after the update differs from AdamW's (count %d) by %.3g (relative to the step)", step, v.Scope(), v.Name(), count, d)
					}
					if d := maxRelDiff(after.m1, want.m1, 1e-9); d > 1e-4 {
						t.Errorf("step %d: %s/%s first moment differs from AdamW's by %.3g", step, v.Scope(), v.Name(), d)
					}
					if isGuide {
						if after.count != float32(count) {
							t.Errorf("step %d: guide %s update count %g, want %d", step, v.Scope(), after.count, count)
						}
						checked["active guides"]++
					} else {
						checked["other weights"]++
					}
				}
			}
			if checked["skipped"] == 0 || checked["active guides"] == 0 || checked["other weights"] == 0 {
				t.Fatalf("checked %v: every case should occur", checked)
			}
			t.Logf("checked %v", checked)
		})
	}
}

// guideIndex is the build-order index of guide variable v: its rank among vars' guides (vars is in
// context order, and the model builds blocks in order, fc1 before fc2).
func guideIndex(t *testing.T, vars []*context.Variable, v *context.Variable) int {
	t.Helper()
	var scopes []string
	for _, u := range vars {
		if u.Name() == guide.WeightGuide {
			scopes = append(scopes, u.Scope())
		}
	}
	slices.Sort(scopes)
	i := slices.Index(scopes, v.Scope())
	if i < 0 {
		t.Fatalf("%s is not a guide", v.Scope())
	}
	return i
}

// maxRelDiff is max |a−b| over the vectors, relative to max |b − b's value before| ≈ the scale of b
// (floor floor): for updated weights, the size of the step.
func maxRelDiff(a, b []float32, floor float64) float64 {
	var d, scale float64
	for i := range a {
		d = math.Max(d, math.Abs(float64(a[i])-float64(b[i])))
		scale = math.Max(scale, math.Abs(float64(b[i])))
	}
	return d / math.Max(scale, floor)
}
