package linear

// Factor is one factor of a structured matrix written out as a dense matrix: Data is Rows×Cols,
// row-major.
type Factor struct {
	Name       string
	Rows, Cols int
	Data       []float32
}

// Factors writes the structure as the product of dense factors, applied right to left
// (y = F[k-1] ··· F[1]·F[0]·x), so that their product is Merge's matrix:
//
//   - Dense: W.
//   - LowRank: V (R×N), then U (M×R).
//   - BlockDense: blockdiag(Bd) (R×N), then U (M×R).
//   - BlockShuffle and Monarch: blockdiag(B1) (Bq×N), the shuffle P_mid (a permutation),
//     blockdiag(B2) (M×Bq), and the output shuffle P_out: the four steps of docs/METHOD.md §1.
//   - BTT: blockdiag(C1[i1]) (m1·R·n0 × N), the transpose P (a permutation) and blockdiag(C2[j0])
//     (M × n0·R·m1).
//
// It is for looking at the structure (notebook heat maps); Merge computes the product directly.
func (s Spec) Factors(w HostWeights) ([]Factor, error) {
	if err := s.checkWeights(w); err != nil {
		return nil, err
	}
	n, m, b := s.In, s.Out, s.NBlocks
	dense := func(name string, rows, cols int, data []float32) Factor {
		return Factor{Name: name, Rows: rows, Cols: cols, Data: append([]float32(nil), data...)}
	}
	switch s.Kind {
	case LowRank:
		return []Factor{dense("V", s.Rank, n, w[WeightV]), dense("U", m, s.Rank, w[WeightU])}, nil
	case BlockDense:
		bd := Factor{Name: "blockdiag(Bd)", Rows: s.Rank, Cols: n, Data: blockDiag(w[WeightBd], b, s.Rank/b, n/b)}
		return []Factor{bd, dense("U", m, s.Rank, w[WeightU])}, nil
	case BTT:
		m0, m1, n0, n1 := s.bttDims()
		r := s.Rank
		h := m1 * r * n0
		f1 := Factor{Name: "blockdiag(C1)", Rows: h, Cols: n, Data: blockDiag(w[WeightC1], m1, r*n0, m0)}
		perm := Factor{Name: "P", Rows: h, Cols: h, Data: make([]float32, h*h)}
		for i1 := range m1 {
			for j0 := range n0 {
				for a := range r {
					perm.Data[(j0*m1*r+i1*r+a)*h+i1*r*n0+j0*r+a] = 1
				}
			}
		}
		f2 := Factor{Name: "blockdiag(C2)", Rows: m, Cols: h, Data: blockDiag(w[WeightC2], n0, n1, r*m1)}
		return []Factor{f1, perm, f2}, nil
	case BlockShuffle, Monarch:
		// Index conventions of mergeBlockShuffle: input i·p+pp → h1 flat i·q+jq via B1[i, jq, pp];
		// flat f goes to stage-2 block a = f mod B at position c = f div B; block a's output mm is
		// output mm·B + a, via B2[a, mm, c].
		p, q, so := n/b, s.blockShuffleInner(), m/b
		h := b * q // width between the factors
		r := h / b // stage-2 block input width
		f1 := Factor{Name: "blockdiag(B1)", Rows: h, Cols: n, Data: blockDiag(w[WeightB1], b, q, p)}
		mid := Factor{Name: "P_mid", Rows: h, Cols: h, Data: make([]float32, h*h)}
		for f := range h {
			mid.Data[((f%b)*r+f/b)*h+f] = 1
		}
		f2 := Factor{Name: "blockdiag(B2)", Rows: m, Cols: h, Data: blockDiag(w[WeightB2], b, so, r)}
		out := Factor{Name: "P_out", Rows: m, Cols: m, Data: make([]float32, m*m)}
		for a := range b {
			for mm := range so {
				out.Data[(mm*b+a)*m+a*so+mm] = 1
			}
		}
		return []Factor{f1, mid, f2, out}, nil
	default:
		return []Factor{dense("W", m, n, w[WeightDense])}, nil
	}
}
