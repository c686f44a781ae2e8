package dotgrad

import (
	"fmt"
	"math"
	"math/rand/v2"
	"testing"

	"github.com/gomlx/gomlx/pkg/core/dtypes"
	. "github.com/gomlx/gomlx/pkg/core/graph" //nolint:staticcheck // graph code reads like math.
	"github.com/gomlx/gomlx/pkg/core/shapes"
	"github.com/gomlx/gomlx/pkg/core/tensors"

	"github.com/structffn/structffn/internal/testbackend"
)

// dotCase is one contraction pattern, with operand shapes; op builds the product from the operands.
type dotCase struct {
	name     string
	lhs, rhs []int
	op       func(a, b *Node) *Node
}

// cases are every contraction pattern the model and the structured layers build (structffn/linear
// layer.go, structffn/model gpt.go and attention.go), plus batch/contracting orders that exercise the
// transposes.
var cases = []dotCase{
	{"dense x·Wᵀ [T,N]·[M,N]", []int{6, 5}, []int{4, 5}, func(a, b *Node) *Node { return DotGeneral(a, []int{1}, nil, b, []int{1}, nil) }},
	{"tied head [b,s,d]·[V,d]", []int{2, 3, 5}, []int{7, 5}, func(a, b *Node) *Node { return DotGeneral(a, []int{2}, nil, b, []int{1}, nil) }},
	{"rope [b,s,h,hd]·[hd,hd]", []int{2, 3, 2, 4}, []int{4, 4}, func(a, b *Node) *Node { return DotGeneral(a, []int{3}, nil, b, []int{1}, nil) }},
	{"blockdense tbp,brp->tbr", []int{5, 3, 4}, []int{3, 2, 4}, func(a, b *Node) *Node { return Einsum("tbp,brp->tbr", a, b) }},
	{"shuffle tkp,kqp->tkq", []int{5, 3, 4}, []int{3, 2, 4}, func(a, b *Node) *Node { return Einsum("tkp,kqp->tkq", a, b) }},
	{"shuffle trl,lsr->tsl", []int{5, 3, 2}, []int{2, 4, 3}, func(a, b *Node) *Node { return Einsum("trl,lsr->tsl", a, b) }},
	{"scores bqngd,bknd->bngqk", []int{2, 3, 2, 2, 4}, []int{2, 5, 2, 4}, func(a, b *Node) *Node { return Einsum("bqngd,bknd->bngqk", a, b) }},
	{"mix bngqk,bknd->bqngd", []int{2, 2, 2, 3, 5}, []int{2, 5, 2, 4}, func(a, b *Node) *Node { return Einsum("bngqk,bknd->bqngd", a, b) }},
	{"plain matmul [m,k]·[k,n]", []int{3, 4}, []int{4, 5}, func(a, b *Node) *Node { return DotGeneral(a, []int{1}, nil, b, []int{0}, nil) }},
	{"two contracting axes, swapped order", []int{3, 4, 2}, []int{2, 5, 4}, func(a, b *Node) *Node { return DotGeneral(a, []int{1, 2}, nil, b, []int{2, 0}, nil) }},
	{"batch not leading", []int{4, 3, 2}, []int{2, 3, 5}, func(a, b *Node) *Node { return DotGeneral(a, []int{1}, []int{2}, b, []int{1}, []int{0}) }},
	{"outer product (no contraction)", []int{3}, []int{4}, func(a, b *Node) *Node { return DotGeneral(a, nil, nil, b, nil, nil) }},
	{"full contraction (scalar)", []int{3, 4}, []int{3, 4}, func(a, b *Node) *Node { return DotGeneral(a, []int{0, 1}, nil, b, []int{0, 1}, nil) }},
}

func randTensor(r *rand.Rand, dims []int) *tensors.Tensor {
	n := 1
	for _, d := range dims {
		n *= d
	}
	flat := make([]float64, n)
	for i := range flat {
		flat[i] = r.NormFloat64()
	}
	return tensors.FromFlatDataAndDimensions(flat, dims...)
}

// grads returns d/dA and d/dB of sum(op(A, B) ⊙ W) for a random W, with the gradient registered now.
func grads(t *testing.T, c dotCase, a, b *tensors.Tensor) (da, db []float64) {
	t.Helper()
	backend := testbackend.Go(t)
	exec := MustNewExec(backend, func(a, b *Node) (*Node, *Node) {
		y := c.op(a, b)
		w := Sin(AddScalar(IotaFull(a.Graph(), y.Shape()), 0.3)) // fixed, non-uniform weights
		loss := ReduceAllSum(Mul(y, w))
		g := Gradient(loss, a, b)
		return g[0], g[1]
	})
	out := exec.MustExec(a, b)
	return tensors.MustCopyFlatData[float64](out[0]), tensors.MustCopyFlatData[float64](out[1])
}

func TestVJPMatchesStock(t *testing.T) {
	r := rand.New(rand.NewPCG(1, 2))
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			a, b := randTensor(r, c.lhs), randTensor(r, c.rhs)
			Uninstall()
			wantA, wantB := grads(t, c, a, b)
			Install()
			gotA, gotB := grads(t, c, a, b)
			for _, p := range []struct {
				name      string
				got, want []float64
			}{{"lhs", gotA, wantA}, {"rhs", gotB, wantB}} {
				if len(p.got) != len(p.want) {
					t.Fatalf("%s gradient has %d values, stock %d", p.name, len(p.got), len(p.want))
				}
				maxDiff := 0.0
				for i := range p.got {
					maxDiff = math.Max(maxDiff, math.Abs(p.got[i]-p.want[i]))
				}
				if maxDiff > 1e-12 {
					t.Errorf("%s gradient differs from GoMLX's stock gradient by %g", p.name, maxDiff)
				}
			}
		})
	}
	Install()
}

func TestInstalledAndLayout(t *testing.T) {
	if !layoutOK() {
		t.Fatal("GoMLX's Node no longer has an `inputs` interface field: dotgrad cannot read DotGeneral axes")
	}
	if fmt.Sprintf("%p", VJPRegistration[NodeTypeDotGeneral]) != fmt.Sprintf("%p", DotGeneralVJP) {
		t.Fatal("dotgrad.DotGeneralVJP is not the registered DotGeneral gradient after init")
	}
	backend := testbackend.Go(t)
	g := NewGraph(backend, "axes")
	a := Parameter(g, "a", shapes.Make(dtypes.Float64, 2, 3, 4))
	b := Parameter(g, "b", shapes.Make(dtypes.Float64, 4, 2, 5))
	y := DotGeneral(a, []int{2}, []int{0}, b, []int{0}, []int{1})
	ax, ok := NodeAxes(y)
	if !ok {
		t.Fatal("NodeAxes could not read a DotGeneral node")
	}
	want := fmt.Sprint([]int{2}, []int{0}, []int{0}, []int{1})
	if got := fmt.Sprint(ax.LHSContracting, ax.LHSBatch, ax.RHSContracting, ax.RHSBatch); got != want {
		t.Fatalf("NodeAxes = %s, want %s", got, want)
	}
	if _, ok := NodeAxes(Add(a, a)); ok {
		t.Fatal("NodeAxes accepted a non-DotGeneral node")
	}
}
