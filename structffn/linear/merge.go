package linear

import "fmt"

// Merge returns the dense M×N matrix (row-major, float32) that the structure computes: y = W x.
//
//   - LowRank: W = U·V.
//   - BlockDense: W = U·blockdiag(Bd).
//   - BlockShuffle and Monarch: W = P_out·blockdiag(B2)·P_mid·blockdiag(B1), both permutations
//     included (the reference code's merge leaves them out; this one is exact).
//   - BTT: W[j0·n1+j1, i1·m0+i0] = Σ_a C2[j0, j1, i1·R+a]·C1[i1, j0·R+a, i0].
//
// Sums are accumulated in float64. The bias is not part of W.
func (s Spec) Merge(w HostWeights) ([]float32, error) {
	if err := s.checkWeights(w); err != nil {
		return nil, err
	}
	n, m := s.In, s.Out
	out := make([]float32, m*n)
	switch s.Kind {
	case Dense:
		copy(out, w[WeightDense])
	case LowRank:
		matMul(out, w[WeightU], w[WeightV], m, s.Rank, n)
	case BlockDense:
		bd := blockDiag(w[WeightBd], s.NBlocks, s.Rank/s.NBlocks, n/s.NBlocks) // [R, N]
		matMul(out, w[WeightU], bd, m, s.Rank, n)
	case BlockShuffle, Monarch:
		mergeBlockShuffle(out, s, w[WeightB1], w[WeightB2])
	case BTT:
		mergeBTT(out, s, w[WeightC1], w[WeightC2])
	}
	return out, nil
}

// MergeReference is the reference code's guide initialisation: Merge for LowRank and BlockDense, but
// for BlockShuffle blockdiag(B2)·blockdiag(B1) with both permutations left out, which is not the
// operator the structured matrix computes. Self-guided training offers it (sgt_guide_init=reference)
// to reproduce the reference's runs; Merge is the exact one.
func (s Spec) MergeReference(w HostWeights) ([]float32, error) {
	if s.Kind != BlockShuffle {
		return s.Merge(w)
	}
	if err := s.checkWeights(w); err != nil {
		return nil, err
	}
	k := s.NBlocks
	p, q, so := s.In/k, s.blockShuffleInner(), s.Out/k
	bd1 := blockDiag(w[WeightB1], k, q, p)  // [k·q, N]
	bd2 := blockDiag(w[WeightB2], k, so, q) // [M, k·q]
	out := make([]float32, s.Out*s.In)
	matMul(out, bd2, bd1, s.Out, k*q, s.In)
	return out, nil
}

// mergeBlockShuffle writes W [M, N] of a BlockShuffle into out.
//
// With k = l = B blocks, p = N/B inputs per block, q the inner width and s = M/B outputs per block,
// input j = i·p + pp feeds h1flat[i·q + jq] through B1[i, jq, pp]; that flat index is read by stage-2
// block a = (i·q+jq) mod l at position c = (i·q+jq) div l, which feeds output m·l + a through
// B2[a, m, c]. So W[m·l+a, i·p+pp] = Σ_{jq: (i·q+jq) mod l = a} B2[a, m, (i·q+jq) div l]·B1[i, jq, pp].
func mergeBlockShuffle(out []float32, s Spec, b1, b2 []float32) {
	n := s.In
	k, l := s.NBlocks, s.NBlocks
	p, q, so := s.In/k, s.blockShuffleInner(), s.Out/l
	r := k * q / l
	acc := make([]float64, len(out))
	for i := range k {
		for jq := range q {
			flat := i*q + jq
			a, c := flat%l, flat/l
			for mm := range so {
				w2 := float64(b2[(a*so+mm)*r+c])
				row := (mm*l + a) * n
				for pp := range p {
					acc[row+i*p+pp] += w2 * float64(b1[(i*q+jq)*p+pp])
				}
			}
		}
	}
	for i, v := range acc {
		out[i] = float32(v)
	}
}

// mergeBTT writes W [M, N] of a BTT into out: input i1·m0+i0 reaches h[i1, j0·R+a] through
// C1[i1, j0·R+a, i0]; the transpose puts it at row i1·R+a of second-stage batch j0, which feeds output
// j0·n1+j1 through C2[j0, j1, i1·R+a].
func mergeBTT(out []float32, s Spec, c1, c2 []float32) {
	m0, m1, n0, n1 := s.bttDims()
	r := s.Rank
	acc := make([]float64, len(out))
	for j0 := range n0 {
		for j1 := range n1 {
			row := (j0*n1 + j1) * s.In
			for i1 := range m1 {
				for a := range r {
					w2 := float64(c2[(j0*n1+j1)*r*m1+i1*r+a])
					w1 := c1[(i1*r*n0+j0*r+a)*m0:][:m0]
					for i0, v := range w1 {
						acc[row+i1*m0+i0] += w2 * float64(v)
					}
				}
			}
		}
	}
	for i, v := range acc {
		out[i] = float32(v)
	}
}

// matMul sets out [m, n] = a [m, k] · b [k, n], accumulating in float64.
func matMul(out, a, b []float32, m, k, n int) {
	row := make([]float64, n)
	for i := range m {
		clear(row)
		for kk := range k {
			av := float64(a[i*k+kk])
			if av == 0 {
				continue
			}
			bRow := b[kk*n : (kk+1)*n]
			for j, bv := range bRow {
				row[j] += av * float64(bv)
			}
		}
		for j, v := range row {
			out[i*n+j] = float32(v)
		}
	}
}

// checkWeights validates the spec and that w holds every weight at its size.
func (s Spec) checkWeights(w HostWeights) error {
	if err := s.Validate(); err != nil {
		return err
	}
	for _, wt := range s.Weights() {
		if got := len(w[wt.Name]); got != wt.Size() {
			return fmt.Errorf("%s: weight %q has %d values, want %d (shape %v)", s, wt.Name, got, wt.Size(), wt.Shape)
		}
	}
	return nil
}

// blockDiag writes nb blocks [nb, rows, cols] (row-major) as the dense block-diagonal matrix
// [nb·rows, nb·cols]: block i at rows [i·rows, (i+1)·rows) and columns [i·cols, (i+1)·cols).
func blockDiag(blocks []float32, nb, rows, cols int) []float32 {
	width := nb * cols
	out := make([]float32, nb*rows*width)
	for i := range nb {
		for r := range rows {
			copy(out[(i*rows+r)*width+i*cols:], blocks[(i*rows+r)*cols:(i*rows+r+1)*cols])
		}
	}
	return out
}
