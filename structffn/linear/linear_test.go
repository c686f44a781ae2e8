package linear

import (
	"fmt"
	"math"
	"math/rand/v2"
	"strings"
	"testing"

	"github.com/gomlx/gomlx/backends"
	. "github.com/gomlx/gomlx/pkg/core/graph"
	"github.com/gomlx/gomlx/pkg/core/tensors"
	"github.com/gomlx/gomlx/pkg/ml/context"
	"github.com/structffn/structffn/internal/testbackend"
)

// backend is the pure-Go backend shared by the tests.
func backend(t testing.TB) backends.Backend { return testbackend.Go(t) }

// exactCases are structures at random-ish shapes covering expand (N < M), contract (N > M) and square maps.
var exactCases = []Spec{
	{Kind: Dense, In: 6, Out: 10, Bias: true},
	{Kind: LowRank, In: 12, Out: 20, Rank: 3, Bias: true},
	{Kind: LowRank, In: 20, Out: 12, Rank: 12},
	{Kind: BlockDense, In: 12, Out: 20, Rank: 6, NBlocks: 2, Bias: true},
	{Kind: BlockDense, In: 24, Out: 8, Rank: 8, NBlocks: 4},
	{Kind: BlockShuffle, In: 8, Out: 24, NBlocks: 4, Bias: true},
	{Kind: BlockShuffle, In: 24, Out: 8, NBlocks: 2},
	{Kind: BlockShuffle, In: 12, Out: 12, NBlocks: 3, Bias: true},
	{Kind: BlockShuffle, In: 16, Out: 64, NBlocks: 4},
	{Kind: Monarch, In: 8, Out: 24, Rank: 16, NBlocks: 4, Bias: true},
	{Kind: Monarch, In: 24, Out: 8, Rank: 12, NBlocks: 4},
	{Kind: Monarch, In: 12, Out: 12, Rank: 6, NBlocks: 3, Bias: true},
	{Kind: BTT, In: 12, Out: 20, Rank: 2, Bias: true},
	{Kind: BTT, In: 20, Out: 12, Rank: 3},
	{Kind: BTT, In: 16, Out: 16, Rank: 1},
	{Kind: BTT, In: 7, Out: 10, Rank: 2, Bias: true},
}

// blockShuffleReference computes y = BlockShuffle(x) index by index, following docs/METHOD.md §1's four
// steps literally, independently of Merge and Apply.
func blockShuffleReference(s Spec, b1, b2, x []float32) []float32 {
	k := s.NBlocks
	p := s.In / k
	q := len(b1) / (k * p) // B1 is (k, q, p)
	l := s.NBlocks
	so := s.Out / l
	r := len(b2) / (l * so) // B2 is (l, s, r)
	// (1) h1[i, j] = Σ_p B1[i, j, p]·x[i, p], flattened to i·q + j.
	h1 := make([]float64, k*q)
	for i := 0; i < k; i++ {
		for j := 0; j < q; j++ {
			for pp := 0; pp < p; pp++ {
				h1[i*q+j] += float64(b1[(i*q+j)*p+pp]) * float64(x[i*p+pp])
			}
		}
	}
	// (2) z[a, c] = h1flat[c·l + a].
	z := make([][]float64, l)
	for a := 0; a < l; a++ {
		z[a] = make([]float64, r)
		for c := 0; c < r; c++ {
			z[a][c] = h1[c*l+a]
		}
	}
	// (3) h2[a, m] = Σ_c B2[a, m, c]·z[a, c]; (4) y[m·l + a] = h2[a, m].
	y := make([]float32, s.Out)
	for a := 0; a < l; a++ {
		for m := 0; m < so; m++ {
			var acc float64
			for c := 0; c < r; c++ {
				acc += float64(b2[(a*so+m)*r+c]) * z[a][c]
			}
			y[m*l+a] = float32(acc)
		}
	}
	return y
}

func maxAbsDiff(a, b []float32) float64 {
	var d float64
	for i := range a {
		d = max(d, math.Abs(float64(a[i])-float64(b[i])))
	}
	return d
}

// matVec returns W x for W [m, n] row-major (float64 accumulation).
func matVec(w, x []float32, m, n int) []float32 {
	y := make([]float32, m)
	for i := range m {
		var acc float64
		for j := range n {
			acc += float64(w[i*n+j]) * float64(x[j])
		}
		y[i] = float32(acc)
	}
	return y
}

func TestBlockShuffleMergeMatchesFourStepReference(t *testing.T) {
	for _, s := range exactCases {
		if s.Kind != BlockShuffle && s.Kind != Monarch {
			continue
		}
		t.Run(s.String(), func(t *testing.T) {
			rng := rand.New(rand.NewPCG(1, 2))
			w := s.Init(rng, 1)
			// Break orthogonality so the test is not blind to a transposed block.
			for _, name := range []string{WeightB1, WeightB2} {
				for i := range w[name] {
					w[name][i] += float32(rng.NormFloat64())
				}
			}
			merged, err := s.Merge(w)
			if err != nil {
				t.Fatal(err)
			}
			for trial := range 5 {
				x := Normal(rng, s.In, 1)
				want := blockShuffleReference(s, w[WeightB1], w[WeightB2], x)
				got := matVec(merged, x, s.Out, s.In)
				if d := maxAbsDiff(got, want); d > 1e-4 {
					t.Errorf("trial %d: merged W·x differs from the four-step reference by %g", trial, d)
				}
			}
		})
	}
}

// TestMergeReferenceLeavesOutThePermutations checks the reference code's guide init element by
// element: for BlockShuffle W[m, n] = Σ_j B2[a, m mod s, j]·B1[a, j, n mod p] when output row m and
// input column n lie in the same block a (m div s = n div p = a), else 0; it is not the exact merge
// (B > 1); for the other structures it is the exact merge.
func TestMergeReferenceLeavesOutThePermutations(t *testing.T) {
	for _, s := range exactCases {
		t.Run(s.String(), func(t *testing.T) {
			rng := rand.New(rand.NewPCG(5, 6))
			w := s.Init(rng, 1)
			got, err := s.MergeReference(w)
			if err != nil {
				t.Fatal(err)
			}
			exact, err := s.Merge(w)
			if err != nil {
				t.Fatal(err)
			}
			if s.Kind != BlockShuffle {
				if d := maxAbsDiff(got, exact); d != 0 {
					t.Errorf("differs from Merge by %g", d)
				}
				return
			}
			b := s.NBlocks
			p, so, q := s.In/b, s.Out/b, s.blockShuffleInner()
			want := make([]float32, s.Out*s.In)
			for m := range s.Out {
				for n := range s.In {
					a := m / so
					if n/p != a {
						continue
					}
					var sum float64
					for j := range q {
						sum += float64(w[WeightB2][(a*so+m%so)*q+j]) * float64(w[WeightB1][(a*q+j)*p+n%p])
					}
					want[m*s.In+n] = float32(sum)
				}
			}
			if d := maxAbsDiff(got, want); d > 1e-6 {
				t.Errorf("differs from blockdiag(B2)·blockdiag(B1) by %g", d)
			}
			if d := maxAbsDiff(got, exact); d < 1e-3 {
				t.Errorf("equals the exact merge (max difference %g): the permutations should be missing", d)
			}
		})
	}
}

// runLayer builds the layer in a fresh context, applies it to x [dims..., In] and returns y, the
// gradient of Σ y∘g with respect to x, and the context holding the weights.
func runLayer(t *testing.T, s Spec, x, g *tensors.Tensor, seed int) (y, dx *tensors.Tensor, ctx *context.Context) {
	t.Helper()
	ctx = context.New()
	ctx.SetParam(ParamSeed, seed)
	exec := context.MustNewExec(backend(t), ctx, func(ctx *context.Context, x, g *Node) []*Node {
		y := Layer(ctx.In("layer"), s, x)
		loss := ReduceAllSum(Mul(y, g))
		return []*Node{y, Gradient(loss, x)[0]}
	})
	out, err := exec.Exec(x, g)
	if err != nil {
		t.Fatalf("%s: %v", s, err)
	}
	return out[0], out[1], ctx
}

// hostWeights reads the layer's weights back from the context.
func hostWeights(t *testing.T, ctx *context.Context, s Spec) HostWeights {
	w := HostWeights{}
	names := []string{WeightBias}
	for _, wt := range s.Weights() {
		names = append(names, wt.Name)
	}
	for _, name := range names {
		v := ctx.In("layer").GetVariable(name)
		if v == nil {
			continue
		}
		w[name] = tensors.MustCopyFlatData[float32](v.MustValue())
	}
	return w
}

func TestLayerEqualsMergedMatrix(t *testing.T) {
	leadingDims := [][]int{{5}, {2, 3}, {1, 2, 2}}
	for ci, s := range exactCases {
		for _, lead := range leadingDims {
			t.Run(fmt.Sprintf("%s/lead%v", s, lead), func(t *testing.T) {
				rng := rand.New(rand.NewPCG(uint64(ci), 7))
				tokens := 1
				for _, d := range lead {
					tokens *= d
				}
				xData := Normal(rng, tokens*s.In, 1)
				gData := Normal(rng, tokens*s.Out, 1)
				x := tensors.FromFlatDataAndDimensions(xData, append(append([]int{}, lead...), s.In)...)
				g := tensors.FromFlatDataAndDimensions(gData, append(append([]int{}, lead...), s.Out)...)
				yT, dxT, ctx := runLayer(t, s, x, g, ci)
				if got, want := yT.Shape().Dimensions, append(append([]int{}, lead...), s.Out); fmt.Sprint(got) != fmt.Sprint(want) {
					t.Fatalf("output shape %v, want %v", got, want)
				}
				w := hostWeights(t, ctx, s)
				// Give the bias a value so that it is tested too.
				merged, err := s.Merge(w)
				if err != nil {
					t.Fatal(err)
				}
				y := tensors.MustCopyFlatData[float32](yT)
				dx := tensors.MustCopyFlatData[float32](dxT)
				// Transposed merged matrix for the input gradient: dx = Wᵀ g.
				wt := make([]float32, len(merged))
				for i := range s.Out {
					for j := range s.In {
						wt[j*s.Out+i] = merged[i*s.In+j]
					}
				}
				scale := 0.0
				for _, v := range merged {
					scale = max(scale, math.Abs(float64(v)))
				}
				tol := 1e-5 * math.Max(1, scale) * float64(max(s.In, s.Out))
				var dy, dg float64
				for tok := range tokens {
					want := matVec(merged, xData[tok*s.In:(tok+1)*s.In], s.Out, s.In)
					if s.Bias {
						for i := range want {
							want[i] += w[WeightBias][i]
						}
					}
					dy = max(dy, maxAbsDiff(y[tok*s.Out:(tok+1)*s.Out], want))
					wantDx := matVec(wt, gData[tok*s.Out:(tok+1)*s.Out], s.In, s.Out)
					dg = max(dg, maxAbsDiff(dx[tok*s.In:(tok+1)*s.In], wantDx))
				}
				if dy > tol || dg > tol {
					t.Errorf("NOT OK: max |y - W·x| = %.3g, max |dx - Wᵀ·g| = %.3g (tolerance %.3g)", dy, dg, tol)
				}
			})
		}
	}
}

func TestLowRankInitIsBestRankRApproximation(t *testing.T) {
	for _, s := range []Spec{
		{Kind: LowRank, In: 40, Out: 24, Rank: 6},
		{Kind: LowRank, In: 16, Out: 48, Rank: 8},
	} {
		t.Run(s.String(), func(t *testing.T) {
			w := s.Init(rand.New(rand.NewPCG(3, 4)), InitStd)
			// Init draws W0 first from the stream: redraw it from the same seed.
			w0 := Normal(rand.New(rand.NewPCG(3, 4)), s.Out*s.In, InitStd)
			m, n, r := s.Out, s.In, s.Rank
			u, v := w[WeightU], w[WeightV]
			uv := make([]float32, m*n)
			matMul(uv, u, v, m, r, n)
			res := make([]float64, m*n)
			for i := range res {
				res[i] = float64(w0[i]) - float64(uv[i])
			}
			// Singular values split evenly: UᵀU = V·Vᵀ = diag(s) (columns of U and rows of V orthogonal,
			// with equal squared norms s_k).
			sv := make([]float64, r)
			for a := range r {
				for b := range r {
					var uu, vv float64
					for i := range m {
						uu += float64(u[i*r+a]) * float64(u[i*r+b])
					}
					for j := range n {
						vv += float64(v[a*n+j]) * float64(v[b*n+j])
					}
					if a == b {
						sv[a] = uu
						if math.Abs(uu-vv) > 1e-6*uu {
							t.Errorf("|U[:,%d]|² = %g but |V[%d,:]|² = %g: singular values not split evenly", a, uu, a, vv)
						}
					} else if math.Abs(uu) > 1e-6 || math.Abs(vv) > 1e-6 {
						t.Errorf("U columns / V rows %d,%d not orthogonal: %g, %g", a, b, uu, vv)
					}
				}
			}
			// Residual orthogonal to the approximation: Uᵀ·(W0 - U·V) = 0.
			for a := range r {
				for j := range n {
					var acc float64
					for i := range m {
						acc += float64(u[i*r+a]) * res[i*n+j]
					}
					if math.Abs(acc) > 1e-6 {
						t.Fatalf("Uᵀ·residual[%d,%d] = %g, want 0", a, j, acc)
					}
				}
			}
			// Eckart–Young: the residual's largest singular value (power iteration on resᵀres) is no
			// larger than the smallest kept one, so U·V is the best rank-R approximation.
			minKept := math.Inf(1)
			for _, s2 := range sv {
				minKept = min(minKept, s2) // s_k (|U[:,k]|² = s_k)
			}
			vec := make([]float64, n)
			for j := range vec {
				vec[j] = 1 / math.Sqrt(float64(n))
			}
			var sigma float64
			for range 500 {
				tmp := make([]float64, m)
				for i := range m {
					for j := range n {
						tmp[i] += res[i*n+j] * vec[j]
					}
				}
				next := make([]float64, n)
				for i := range m {
					for j := range n {
						next[j] += res[i*n+j] * tmp[i]
					}
				}
				var norm float64
				for _, x := range next {
					norm += x * x
				}
				norm = math.Sqrt(norm)
				sigma = math.Sqrt(norm)
				for j := range next {
					vec[j] = next[j] / norm
				}
			}
			if sigma > minKept*(1+1e-4) {
				t.Errorf("residual singular value %g exceeds the smallest kept one %g: not the best rank-%d approximation", sigma, minKept, r)
			}
		})
	}
}

func TestBlockFactorsAreOrthonormal(t *testing.T) {
	for _, s := range []Spec{
		{Kind: BlockDense, In: 24, Out: 40, Rank: 12, NBlocks: 2},
		{Kind: BlockDense, In: 40, Out: 24, Rank: 8, NBlocks: 4},
		{Kind: BlockShuffle, In: 16, Out: 48, NBlocks: 4},
		{Kind: BlockShuffle, In: 48, Out: 16, NBlocks: 2},
		{Kind: Monarch, In: 16, Out: 48, Rank: 32, NBlocks: 4},
		{Kind: BTT, In: 24, Out: 40, Rank: 2},
		{Kind: BTT, In: 40, Out: 24, Rank: 3},
	} {
		t.Run(s.String(), func(t *testing.T) {
			w := s.Init(rand.New(rand.NewPCG(5, 6)), InitStd)
			for _, wt := range s.Weights() {
				rows, cols := wt.Shape[len(wt.Shape)-2], wt.Shape[len(wt.Shape)-1]
				data := w[wt.Name]
				for off := 0; off < len(data); off += rows * cols {
					blk := data[off : off+rows*cols]
					// Orthonormal rows if wide, orthonormal columns if tall.
					if err := checkOrthonormal(blk, rows, cols); err != nil {
						t.Errorf("%s block at %d: %v", wt.Name, off/(rows*cols), err)
					}
				}
			}
		})
	}
}

func checkOrthonormal(a []float32, rows, cols int) error {
	inner, outer := cols, rows // Gram of rows: rows×rows
	at := func(i, k int) float64 { return float64(a[i*cols+k]) }
	if rows > cols {
		inner, outer = rows, cols
		at = func(i, k int) float64 { return float64(a[k*cols+i]) }
	}
	for i := range outer {
		for j := range outer {
			var acc float64
			for k := range inner {
				acc += at(i, k) * at(j, k)
			}
			want := 0.0
			if i == j {
				want = 1
			}
			if math.Abs(acc-want) > 1e-5 {
				return fmt.Errorf("Gram[%d,%d] = %g, want %g", i, j, acc, want)
			}
		}
	}
	return nil
}

func TestParamsFormulas(t *testing.T) {
	// docs/METHOD.md §1: params = MACs per token.
	tests := []struct {
		s    Spec
		want int64
	}{
		{Spec{Kind: Dense, In: 768, Out: 3072}, 768 * 3072},
		{Spec{Kind: LowRank, In: 768, Out: 3072, Rank: 192}, 192 * (768 + 3072)},
		{Spec{Kind: BlockDense, In: 768, Out: 3072, Rank: 256, NBlocks: 2}, 256 * (3072 + 768/2)},
		{Spec{Kind: BlockDense, In: 3072, Out: 768, Rank: 256, NBlocks: 2}, 256 * (768 + 3072/2)},
		{Spec{Kind: BlockShuffle, In: 768, Out: 3072, NBlocks: 4}, 768 * (768 + 3072) / 4},
		{Spec{Kind: BlockShuffle, In: 3072, Out: 768, NBlocks: 4}, 768 * (768 + 3072) / 4},
		// Monarch: B1 (B, R/B, N/B) and B2 (B, M/B, R/B), R·(N+M)/B.
		{Spec{Kind: Monarch, In: 768, Out: 3072, Rank: 1536, NBlocks: 8}, 1536 * (768 + 3072) / 8},
		// BTT: 768 = 24·32, 3072 = 48·64; C1 (32, R·48, 24), C2 (48, 64, R·32): R·(768·48 + 32·3072).
		{Spec{Kind: BTT, In: 768, Out: 3072, Rank: 6}, 6 * (768*48 + 32*3072)},
		{Spec{Kind: BTT, In: 3072, Out: 768, Rank: 6}, 6 * (3072*24 + 64*768)},
	}
	for _, tc := range tests {
		if got := tc.s.Params(); got != tc.want {
			t.Errorf("%s: Params() = %d, want %d", tc.s, got, tc.want)
		}
		if got := tc.s.FLOPsPerToken(); got != 2*tc.want {
			t.Errorf("%s: FLOPsPerToken() = %d, want %d", tc.s, got, 2*tc.want)
		}
	}
}

func TestValidateNamesTheConstraint(t *testing.T) {
	tests := []struct {
		s       Spec
		wantErr string // "" for valid
	}{
		{Spec{Kind: Dense, In: 4, Out: 8}, ""},
		{Spec{Kind: Dense, In: 0, Out: 8}, "must be positive"},
		{Spec{Kind: LowRank, In: 4, Out: 8, Rank: 0}, "0 < R <= min(in, out) = 4"},
		{Spec{Kind: LowRank, In: 4, Out: 8, Rank: 5}, "0 < R <= min(in, out) = 4"},
		{Spec{Kind: LowRank, In: 4, Out: 8, Rank: 4}, ""},
		{Spec{Kind: BlockDense, In: 8, Out: 8, Rank: 4, NBlocks: 0}, "nblocks must be positive"},
		{Spec{Kind: BlockDense, In: 9, Out: 8, Rank: 4, NBlocks: 2}, "must divide both in and rank"},
		{Spec{Kind: BlockDense, In: 8, Out: 8, Rank: 3, NBlocks: 2}, "must divide both in and rank"},
		{Spec{Kind: BlockDense, In: 8, Out: 8, Rank: 9, NBlocks: 3}, "0 < R <= min"},
		{Spec{Kind: BlockShuffle, In: 8, Out: 12, NBlocks: 8}, "must divide both in and out"},
		{Spec{Kind: BlockShuffle, In: 8, Out: 12, NBlocks: -1}, "nblocks must be positive"},
		{Spec{Kind: BlockShuffle, In: 8, Out: 12, NBlocks: 4}, ""},
		{Spec{Kind: Monarch, In: 8, Out: 12, Rank: 8, NBlocks: 4}, ""},
		{Spec{Kind: Monarch, In: 8, Out: 12, Rank: 0, NBlocks: 4}, "rank (the width between the factors) and nblocks must be positive"},
		{Spec{Kind: Monarch, In: 8, Out: 12, Rank: 6, NBlocks: 4}, "nblocks must divide in, out and rank"},
		{Spec{Kind: BTT, In: 12, Out: 20, Rank: 2}, ""},
		{Spec{Kind: BTT, In: 12, Out: 20, Rank: 0}, "0 < R <= min(in, out) = 12"},
		{Spec{Kind: BTT, In: 12, Out: 20, Rank: 2, NBlocks: 2}, "btt takes a rank and no nblocks"},
	}
	for _, tc := range tests {
		err := tc.s.Validate()
		switch {
		case tc.wantErr == "" && err != nil:
			t.Errorf("%s: unexpected error %v", tc.s, err)
		case tc.wantErr != "" && err == nil:
			t.Errorf("%s: no error, want one containing %q", tc.s, tc.wantErr)
		case tc.wantErr != "" && !strings.Contains(err.Error(), tc.wantErr):
			t.Errorf("%s: error %q does not contain %q", tc.s, err, tc.wantErr)
		}
	}
}

func TestLayerRejectsInvalidSpecWithClearError(t *testing.T) {
	s := Spec{Kind: BlockShuffle, In: 6, Out: 12, NBlocks: 4}
	ctx := context.New()
	exec := context.MustNewExec(backend(t), ctx, func(ctx *context.Context, x *Node) *Node {
		return Layer(ctx, s, x)
	})
	_, err := exec.Exec(tensors.FromFlatDataAndDimensions(make([]float32, 6), 1, 6))
	if err == nil || !strings.Contains(err.Error(), "must divide both in and out") {
		t.Fatalf("got error %v, want one naming the divisibility constraint", err)
	}
}

func TestParseKind(t *testing.T) {
	for _, tc := range []struct {
		in   string
		want Kind
		ok   bool
	}{
		{"dense", Dense, true}, {"LowRank", LowRank, true}, {"low_rank", LowRank, true},
		{"block-dense", BlockDense, true}, {"blockshuffle", BlockShuffle, true}, {"Monarch", Monarch, true},
		{"btt", BTT, true}, {"block-tensor-train", BTT, true}, {"kronecker", 0, false},
	} {
		got, err := ParseKind(tc.in)
		if (err == nil) != tc.ok || (tc.ok && got != tc.want) {
			t.Errorf("ParseKind(%q) = %v, %v", tc.in, got, err)
		}
		if !tc.ok && (err == nil || !strings.Contains(err.Error(), "allowed values are dense, lowrank, blockdense, blockshuffle, monarch, btt")) {
			t.Errorf("ParseKind(%q) error %v should list the allowed values", tc.in, err)
		}
	}
}

func TestSizeForReproducesPaperChoices(t *testing.T) {
	tests := []struct {
		kind          Kind
		d             int
		fraction      float64
		rank, nblocks int
	}{
		// docs/METHOD.md §2, with f = 4d.
		{LowRank, 768, Fraction63, 384, 0}, {LowRank, 768, Fraction32, 192, 0},
		{LowRank, 2048, Fraction63, 1024, 0}, {LowRank, 2048, Fraction32, 512, 0},
		{BlockShuffle, 768, Fraction63, 0, 2}, {BlockShuffle, 1024, Fraction32, 0, 4},
		{BlockDense, 768, Fraction63, 512, 2}, {BlockDense, 768, Fraction32, 256, 2},
		{BlockDense, 1536, Fraction63, 1024, 2}, {BlockDense, 1536, Fraction32, 512, 2},
		{BlockDense, 1024, Fraction63, 768, 4}, {BlockDense, 1024, Fraction32, 384, 4},
		{BlockDense, 2048, Fraction63, 1536, 4}, {BlockDense, 2048, Fraction32, 768, 4},
		{Dense, 768, 1, 0, 0},
		// Monarch and BTT (this project's rules, SizeFor's doc).
		{Monarch, 64, Fraction32, 128, 8}, {Monarch, 64, Fraction63, 256, 8},
		{Monarch, 384, Fraction32, 1536, 16}, {Monarch, 384, Fraction63, 1536, 8},
		{BTT, 384, Fraction32, 4, 0}, {BTT, 96, Fraction63, 4, 0}, {BTT, 768, Fraction32, 6, 0},
	}
	for _, tc := range tests {
		r, b, err := SizeFor(tc.kind, tc.d, 4*tc.d, tc.fraction)
		if err != nil || r != tc.rank || b != tc.nblocks {
			t.Errorf("SizeFor(%s, d=%d, %s) = (R=%d, B=%d, %v), want (R=%d, B=%d)",
				tc.kind, tc.d, FractionName(tc.fraction), r, b, err, tc.rank, tc.nblocks)
		}
	}
	// Fractions of the paper's settings are exact for LowRank and BlockShuffle.
	for _, f := range []float64{Fraction63, Fraction32} {
		r, _, _ := SizeFor(LowRank, 768, 3072, f)
		if got := FFNFraction(LowRank, 768, 3072, r, 0); got != f {
			t.Errorf("LowRank fraction %g realised as %g", f, got)
		}
	}
	for _, bad := range []struct {
		kind     Kind
		fraction float64
		wantErr  string
	}{
		{BlockShuffle, 0.5, "not a whole number"},
		{Dense, 0.5, "a dense FFN has fraction 1"},
		{LowRank, 0, "must be in (0, 1]"},
		{LowRank, 1e-6, "0 < R"},
	} {
		_, _, err := SizeFor(bad.kind, 64, 256, bad.fraction)
		if err == nil || !strings.Contains(err.Error(), bad.wantErr) {
			t.Errorf("SizeFor(%s, %g) error %v, want %q", bad.kind, bad.fraction, err, bad.wantErr)
		}
	}
}

func TestCheckMerge(t *testing.T) {
	for _, s := range exactCases {
		c, err := CheckMerge(testbackend.Go(t), s, 3, 1)
		if err != nil {
			t.Fatal(err)
		}
		if !c.OK() || c.MaxDiff == 0 && s.Kind != Dense || !strings.HasPrefix(c.String(), s.String()+": OK") {
			t.Errorf("%s", c)
		}
	}
	if _, err := CheckMerge(testbackend.Go(t), Spec{Kind: LowRank, In: 8, Out: 8, Rank: 9}, 1, 1); err == nil {
		t.Errorf("an invalid spec was checked")
	}
}

// TestFactorsMultiplyToMerge checks that the dense factors of every structure multiply (right to
// left) to its merged matrix, and that BlockShuffle's shuffles are permutations.
func TestFactorsMultiplyToMerge(t *testing.T) {
	for ci, s := range exactCases {
		w := s.Init(rand.New(rand.NewPCG(uint64(ci), 3)), 0.5)
		fs, err := s.Factors(w)
		if err != nil {
			t.Fatal(err)
		}
		prod, rows, cols := fs[0].Data, fs[0].Rows, fs[0].Cols
		for _, f := range fs[1:] {
			if f.Cols != rows {
				t.Fatalf("%s: factor %s is %d×%d after a %d-row product", s, f.Name, f.Rows, f.Cols, rows)
			}
			next := make([]float32, f.Rows*cols)
			matMul(next, f.Data, prod, f.Rows, f.Cols, cols)
			prod, rows = next, f.Rows
			if f.Name[0] == 'P' {
				for i := range f.Rows {
					ones := 0
					for j := range f.Cols {
						ones += int(f.Data[i*f.Cols+j])
					}
					if ones != 1 {
						t.Errorf("%s: %s row %d has %d ones", s, f.Name, i, ones)
					}
				}
			}
		}
		merged, _ := s.Merge(w)
		if rows != s.Out || cols != s.In || maxAbsDiff(prod, merged) > 1e-5 {
			t.Errorf("%s: product of factors (%d×%d) differs from Merge by %g", s, rows, cols, maxAbsDiff(prod, merged))
		}
	}
}

// TestMonarchGeneralisesBlockShuffle: BlockShuffle(B) is Monarch(B, R = min(N, M)): the same weight
// shapes, and with the same weights the same matrix.
func TestMonarchGeneralisesBlockShuffle(t *testing.T) {
	for _, bs := range []Spec{
		{Kind: BlockShuffle, In: 16, Out: 64, NBlocks: 4},
		{Kind: BlockShuffle, In: 64, Out: 16, NBlocks: 4},
		{Kind: BlockShuffle, In: 24, Out: 24, NBlocks: 3},
	} {
		mo := Spec{Kind: Monarch, In: bs.In, Out: bs.Out, Rank: min(bs.In, bs.Out), NBlocks: bs.NBlocks}
		if fmt.Sprint(bs.Weights()) != fmt.Sprint(mo.Weights()) {
			t.Fatalf("%s weights %v, %s weights %v", bs, bs.Weights(), mo, mo.Weights())
		}
		rng := rand.New(rand.NewPCG(3, 4))
		w := HostWeights{WeightB1: Normal(rng, bs.Weights()[0].Size(), 1), WeightB2: Normal(rng, bs.Weights()[1].Size(), 1)}
		a, err := bs.Merge(w)
		if err != nil {
			t.Fatal(err)
		}
		b, err := mo.Merge(w)
		if err != nil {
			t.Fatal(err)
		}
		if d := maxAbsDiff(a, b); d != 0 {
			t.Errorf("%s and %s differ by %g", bs, mo, d)
		}
	}
}

// TestBTTRankOneIsMonarchReordered: a rank-1 BTT of a square map n = m0·m1 (m0 = m1) with cores C1, C2
// is the Monarch map with B1 = C1 and B2 = C2, outputs reordered: y_btt[j0·n1+j1] = y_monarch[j1·B+j0].
// Monarch's merge is checked against the four-step reference above, so this checks BTT's independently.
func TestBTTRankOneIsMonarchReordered(t *testing.T) {
	for _, n := range []int{16, 36} {
		bt := Spec{Kind: BTT, In: n, Out: n, Rank: 1}
		m0, m1, n0, n1 := bt.bttDims()
		mo := Spec{Kind: Monarch, In: n, Out: n, Rank: n, NBlocks: m1}
		if m0 != m1 || n0 != m1 || n1 != m1 {
			t.Fatalf("%s: dims %d %d %d %d", bt, m0, m1, n0, n1)
		}
		rng := rand.New(rand.NewPCG(7, 8))
		c1, c2 := Normal(rng, n*m1, 1), Normal(rng, n*m1, 1)
		wb, err := bt.Merge(HostWeights{WeightC1: c1, WeightC2: c2})
		if err != nil {
			t.Fatal(err)
		}
		wm, err := mo.Merge(HostWeights{WeightB1: c1, WeightB2: c2})
		if err != nil {
			t.Fatal(err)
		}
		for j0 := range n0 {
			for j1 := range n1 {
				for i := range n {
					if a, b := wb[(j0*n1+j1)*n+i], wm[(j1*m1+j0)*n+i]; math.Abs(float64(a-b)) > 1e-5 {
						t.Fatalf("n=%d: BTT row %d col %d = %g, Monarch row %d = %g", n, j0*n1+j1, i, a, j1*m1+j0, b)
					}
				}
			}
		}
	}
}

func TestCBSScaling(t *testing.T) {
	for _, tc := range []struct {
		s    Spec
		want map[string]float64 // learning-rate multipliers, In/(n·fanIn)
	}{
		{Spec{Kind: Dense, In: 768, Out: 3072}, nil},
		{Spec{Kind: LowRank, In: 768, Out: 3072, Rank: 192}, map[string]float64{WeightV: 0.5, WeightU: 2}},
		{Spec{Kind: BlockDense, In: 768, Out: 3072, Rank: 256, NBlocks: 2}, map[string]float64{WeightBd: 1, WeightU: 1.5}},
		{Spec{Kind: BlockShuffle, In: 768, Out: 3072, NBlocks: 4}, map[string]float64{WeightB1: 2, WeightB2: 2}},
		{Spec{Kind: Monarch, In: 768, Out: 3072, Rank: 1536, NBlocks: 8}, map[string]float64{WeightB1: 4, WeightB2: 2}},
		{Spec{Kind: BTT, In: 768, Out: 3072, Rank: 6}, map[string]float64{WeightC1: 16, WeightC2: 2}},
	} {
		if got := tc.s.LRMultipliers(); fmt.Sprint(got) != fmt.Sprint(tc.want) {
			t.Errorf("%s: multipliers %v, want %v", tc.s, got, tc.want)
		}
		w := tc.s.InitCBS(rand.New(rand.NewPCG(1, 1)), InitStd)
		for _, wt := range tc.s.Weights() {
			in, out := fans(wt)
			want := math.Min(1, math.Sqrt(float64(out)/float64(in))) / math.Sqrt(float64(in))
			if tc.s.Kind == Dense {
				want = InitStd
			}
			var ss float64
			for _, v := range w[wt.Name] {
				ss += float64(v) * float64(v)
			}
			if got := math.Sqrt(ss / float64(wt.Size())); math.Abs(got/want-1) > 0.02 {
				t.Errorf("%s %s: std %.4g, want %.4g", tc.s, wt.Name, got, want)
			}
		}
	}
	if err := CheckScaling("mup"); err == nil || !strings.Contains(err.Error(), "allowed values are off") {
		t.Errorf("CheckScaling(mup) = %v", err)
	}
}
