package linear

import (
	"fmt"
	"math"
	"math/rand/v2"

	"gonum.org/v1/gonum/mat"
)

// InitStd is the standard deviation of every dense weight and embedding at initialisation (docs/METHOD.md §1).
const InitStd = 0.02

// HostWeights holds a structure's weights on the host as flat row-major float32 slices, keyed by
// weight name (see Spec.Weights for names and shapes).
type HostWeights map[string][]float32

// Normal returns n samples of N(0, std²) as float32.
func Normal(rng *rand.Rand, n int, std float64) []float32 {
	out := make([]float32, n)
	for i := range out {
		out[i] = float32(rng.NormFloat64() * std)
	}
	return out
}

// Init draws the structure's initial weights exactly as docs/METHOD.md §1 (and the reference code) does:
//
//   - Dense: W ~ N(0, std²).
//   - LowRank: a dense W0 (M,N) ~ N(0, std²) is factored W0 = P S Qᵀ; V = sqrt(S_R)·Qᵀ[:R],
//     U = P[:, :R]·sqrt(S_R): U·V is the best rank-R approximation of W0, singular values split evenly.
//   - BlockDense: every block of Bd and the whole U drawn N(0, std²), then replaced by its polar factor.
//   - BlockShuffle: every block of B1 and B2 drawn N(0, std²), then replaced by its polar factor.
//   - Monarch and BTT (not in the paper): the same structure-aware rule as its block structures,
//     every block (Monarch) or core slice (BTT: C1[i1], C2[j0]) replaced by its polar factor, so each
//     factor starts with all singular values 1 and the product is a partial isometry, as BlockShuffle's.
//
// The bias, if any, is zero. The Spec must be valid.
func (s Spec) Init(rng *rand.Rand, std float64) HostWeights {
	w := HostWeights{}
	switch s.Kind {
	case Dense:
		w[WeightDense] = Normal(rng, s.Out*s.In, std)
	case LowRank:
		w0 := Normal(rng, s.Out*s.In, std)
		w[WeightV], w[WeightU] = lowRankSplit(w0, s.Out, s.In, s.Rank)
	default: // BlockDense, BlockShuffle, Monarch, BTT: polar factor of every block (U is one block of BlockDense).
		for _, wt := range s.Weights() {
			data := Normal(rng, wt.Size(), std)
			rows, cols := wt.Shape[len(wt.Shape)-2], wt.Shape[len(wt.Shape)-1]
			for off := 0; off < len(data); off += rows * cols {
				PolarFactor(data[off:off+rows*cols], rows, cols)
			}
			w[wt.Name] = data
		}
	}
	if s.Bias {
		w[WeightBias] = make([]float32, s.Out)
	}
	return w
}

// svdThin factors the rows×cols row-major matrix a as P·diag(S)·Qᵀ (thin SVD, float64).
func svdThin(a []float32, rows, cols int) (p, q *mat.Dense, sv []float64) {
	data := make([]float64, len(a))
	for i, v := range a {
		data[i] = float64(v)
	}
	var svd mat.SVD
	if !svd.Factorize(mat.NewDense(rows, cols, data), mat.SVDThin) {
		panic(fmt.Sprintf("linear: SVD of a %d×%d matrix did not converge", rows, cols))
	}
	p, q = &mat.Dense{}, &mat.Dense{}
	svd.UTo(p)
	svd.VTo(q)
	return p, q, svd.Values(nil)
}

// lowRankSplit returns V [r, n] and U [m, r] with U·V the best rank-r approximation of w0 [m, n].
func lowRankSplit(w0 []float32, m, n, r int) (v, u []float32) {
	p, q, sv := svdThin(w0, m, n)
	v = make([]float32, r*n) // V[k, j] = sqrt(s_k)·Q[j, k]
	u = make([]float32, m*r) // U[i, k] = P[i, k]·sqrt(s_k)
	for k := range r {
		sq := math.Sqrt(sv[k])
		for j := range n {
			v[k*n+j] = float32(sq * q.At(j, k))
		}
		for i := range m {
			u[i*r+k] = float32(p.At(i, k) * sq)
		}
	}
	return v, u
}

// PolarFactor replaces the rows×cols row-major matrix a, in place, by its orthogonal polar factor
// P·Qᵀ where a = P·S·Qᵀ (thin SVD): the nearest matrix with orthonormal rows (rows <= cols) or
// orthonormal columns (rows >= cols).
func PolarFactor(a []float32, rows, cols int) {
	p, q, _ := svdThin(a, rows, cols)
	var pq mat.Dense
	pq.Mul(p, q.T())
	for i := range rows {
		for j := range cols {
			a[i*cols+j] = float32(pq.At(i, j))
		}
	}
}
