// Package linear implements the structured linear maps of the paper (docs/METHOD.md §1): Dense, LowRank,
// BlockDense and BlockShuffle; and two of its related work's: Monarch (Dao et al. 2022, with a free
// inner width) and Block Tensor-Train (BTT, Qiu et al. 2024). Each is a linear map y = W x from In (N) to Out (M) features with a
// cheaper parameterisation of W. For every structure the package offers
//
//   - Spec: the shape, its validation, parameter count and FLOPs per token;
//   - Init: the paper's initialisation, computed on the host (GoMLX has no SVD);
//   - Merge: the exact dense M×N matrix the structure computes;
//   - Layer / Apply: the GoMLX graph that computes it, for inputs with any leading dimensions.
//
// Weights are stored in the reference code's layouts (PyTorch's out×in convention), so a weight
// named in docs/METHOD.md §1 has the shape written there.
package linear

import (
	"fmt"
	"strings"
)

// Kind names a structure.
type Kind int

const (
	// Dense is the plain M×N matrix.
	Dense Kind = iota
	// LowRank is U (M×R) · V (R×N).
	LowRank
	// BlockDense is U (M×R) · blockdiag(Bd), Bd (B, R/B, N/B).
	BlockDense
	// BlockShuffle is the two-factor Monarch-like map P_out·bd(B2)·P_mid·bd(B1).
	BlockShuffle
	// Monarch is P_out·bd(B2)·P_mid·bd(B1) with B blocks in each factor and an inner width R (a
	// multiple of B) between them: B1 (B, R/B, N/B), B2 (B, M/B, R/B). BlockShuffle is Monarch with
	// R = min(N, M), the reference code's (and HazyResearch's MonarchLinear's) choice.
	Monarch
	// BTT is the two-core Block Tensor-Train of rank R: N = m0·m1, M = n0·n1 (each split as evenly as
	// its divisors allow, smaller factor first), cores C1 (m1, R·n0, m0) and C2 (n0, n1, R·m1) applied
	// as two batched matrix products with a transpose between. Rank 1 is Monarch-like (BlockShuffle
	// up to the order of the outputs).
	BTT
)

var kindNames = []string{"dense", "lowrank", "blockdense", "blockshuffle", "monarch", "btt"}

// Kinds lists every structure, dense first.
var Kinds = []Kind{Dense, LowRank, BlockDense, BlockShuffle, Monarch, BTT}

// PaperKinds are the paper's three structures (the ones its tables and this project's studies use).
var PaperKinds = []Kind{LowRank, BlockDense, BlockShuffle}

// String returns the lower-case name used on the command line and in JSON.
func (k Kind) String() string {
	if k < 0 || int(k) >= len(kindNames) {
		return fmt.Sprintf("Kind(%d)", int(k))
	}
	return kindNames[k]
}

// MarshalText implements encoding.TextMarshaler, so kinds read as names in JSON.
func (k Kind) MarshalText() ([]byte, error) { return []byte(k.String()), nil }

// UnmarshalText implements encoding.TextUnmarshaler.
func (k *Kind) UnmarshalText(b []byte) error {
	v, err := ParseKind(string(b))
	if err != nil {
		return err
	}
	*k = v
	return nil
}

// ParseKind parses a structure name (case-insensitive; "low_rank", "block-dense" and the like are accepted).
func ParseKind(s string) (Kind, error) {
	norm := strings.NewReplacer("_", "", "-", "", " ", "").Replace(strings.ToLower(s))
	if norm == "blocktensortrain" {
		return BTT, nil
	}
	for i, name := range kindNames {
		if norm == name {
			return Kind(i), nil
		}
	}
	return 0, fmt.Errorf("unknown structure %q: allowed values are %s", s, strings.Join(kindNames, ", "))
}

// Spec describes one linear map from In (N) to Out (M) features.
type Spec struct {
	Kind    Kind `json:"structure"`
	In      int  `json:"in"`                // N, input features.
	Out     int  `json:"out"`               // M, output features.
	Rank    int  `json:"rank,omitempty"`    // R: LowRank, BlockDense and Monarch (the width between the factors), BTT (its rank).
	NBlocks int  `json:"nblocks,omitempty"` // B: BlockDense, BlockShuffle and Monarch.
	Bias    bool `json:"bias"`              // A length-M bias added after the structured product.
}

// String is a compact human-readable form, e.g. "lowrank(768→3072, R=192)".
func (s Spec) String() string {
	switch s.Kind {
	case LowRank:
		return fmt.Sprintf("lowrank(%d→%d, R=%d)", s.In, s.Out, s.Rank)
	case BlockDense:
		return fmt.Sprintf("blockdense(%d→%d, R=%d, B=%d)", s.In, s.Out, s.Rank, s.NBlocks)
	case BlockShuffle:
		return fmt.Sprintf("blockshuffle(%d→%d, B=%d)", s.In, s.Out, s.NBlocks)
	case Monarch:
		return fmt.Sprintf("monarch(%d→%d, R=%d, B=%d)", s.In, s.Out, s.Rank, s.NBlocks)
	case BTT:
		m0, m1, n0, n1 := s.bttDims()
		return fmt.Sprintf("btt(%d×%d→%d×%d, R=%d)", m0, m1, n0, n1, s.Rank)
	default:
		return fmt.Sprintf("dense(%d→%d)", s.In, s.Out)
	}
}

// Validate checks the constraints of docs/METHOD.md §1 and returns an error naming the one that fails.
func (s Spec) Validate() error {
	if s.In <= 0 || s.Out <= 0 {
		return fmt.Errorf("%s: in and out features must be positive (got in=%d, out=%d)", s, s.In, s.Out)
	}
	switch s.Kind {
	case Dense:
		return nil
	case LowRank:
		if s.Rank <= 0 || s.Rank > min(s.In, s.Out) {
			return fmt.Errorf("%s: rank must satisfy 0 < R <= min(in, out) = %d (got R=%d)",
				s, min(s.In, s.Out), s.Rank)
		}
	case BlockDense:
		if s.Rank <= 0 || s.Rank > min(s.In, s.Out) {
			return fmt.Errorf("%s: rank must satisfy 0 < R <= min(in, out) = %d (got R=%d)",
				s, min(s.In, s.Out), s.Rank)
		}
		if s.NBlocks <= 0 {
			return fmt.Errorf("%s: nblocks must be positive (got B=%d)", s, s.NBlocks)
		}
		if s.In%s.NBlocks != 0 || s.Rank%s.NBlocks != 0 {
			return fmt.Errorf("%s: nblocks must divide both in and rank (in %% B = %d, R %% B = %d)",
				s, s.In%s.NBlocks, s.Rank%s.NBlocks)
		}
	case BlockShuffle:
		if s.NBlocks <= 0 {
			return fmt.Errorf("%s: nblocks must be positive (got B=%d)", s, s.NBlocks)
		}
		if s.In%s.NBlocks != 0 || s.Out%s.NBlocks != 0 {
			return fmt.Errorf("%s: nblocks must divide both in and out (in %% B = %d, out %% B = %d)",
				s, s.In%s.NBlocks, s.Out%s.NBlocks)
		}
	case Monarch:
		if s.NBlocks <= 0 || s.Rank <= 0 {
			return fmt.Errorf("%s: rank (the width between the factors) and nblocks must be positive (got R=%d, B=%d)", s, s.Rank, s.NBlocks)
		}
		if s.In%s.NBlocks != 0 || s.Out%s.NBlocks != 0 || s.Rank%s.NBlocks != 0 {
			return fmt.Errorf("%s: nblocks must divide in, out and rank (in %% B = %d, out %% B = %d, R %% B = %d)",
				s, s.In%s.NBlocks, s.Out%s.NBlocks, s.Rank%s.NBlocks)
		}
	case BTT:
		if s.Rank <= 0 || s.Rank > min(s.In, s.Out) {
			return fmt.Errorf("%s: rank must satisfy 0 < R <= min(in, out) = %d (got R=%d)", s, min(s.In, s.Out), s.Rank)
		}
		if s.NBlocks != 0 {
			return fmt.Errorf("%s: btt takes a rank and no nblocks (its cores' sizes follow from in and out; got B=%d)", s, s.NBlocks)
		}
	default:
		return fmt.Errorf("unknown structure %d", int(s.Kind))
	}
	return nil
}

// bttDims splits In = m0·m1 and Out = n0·n1, each as evenly as its divisors allow with the smaller
// factor first (m0 <= m1, n0 <= n1).
func (s Spec) bttDims() (m0, m1, n0, n1 int) {
	m0, n0 = evenDivisor(s.In), evenDivisor(s.Out)
	return m0, s.In / m0, n0, s.Out / n0
}

// evenDivisor is the largest divisor of n not above √n (1 for primes and n < 4).
func evenDivisor(n int) int {
	best := 1
	for d := 1; d*d <= n; d++ {
		if n%d == 0 {
			best = d
		}
	}
	return best
}

// Weight names one weight tensor of a structure and gives its shape.
type Weight struct {
	Name  string
	Shape []int
}

// Size is the number of elements of the weight.
func (w Weight) Size() int {
	n := 1
	for _, d := range w.Shape {
		n *= d
	}
	return n
}

// Names of the weights, as they appear as GoMLX variables in the layer's scope.
const (
	WeightDense = "weights" // Dense: W [M, N].
	WeightV     = "v"       // LowRank: V [R, N].
	WeightU     = "u"       // LowRank and BlockDense: U [M, R].
	WeightBd    = "blocks"  // BlockDense: Bd [B, R/B, N/B].
	WeightB1    = "b1"      // BlockShuffle: first block-diagonal factor [B, q, N/B].
	WeightB2    = "b2"      // BlockShuffle: second block-diagonal factor [B, M/B, q]; Monarch's B1 and B2 as well.
	WeightC1    = "core1"   // BTT: first core [m1, R·n0, m0].
	WeightC2    = "core2"   // BTT: second core [n0, n1, R·m1].
	WeightBias  = "bias"    // Bias [M], when Spec.Bias.
)

// blockShuffleInner is q, the per-block width between the two factors: for BlockShuffle N/B when
// expanding (N < M), M/B otherwise (the reference code's choice); for Monarch R/B.
func (s Spec) blockShuffleInner() int {
	if s.Kind == Monarch {
		return s.Rank / s.NBlocks
	}
	if s.In < s.Out {
		return s.In / s.NBlocks
	}
	return s.Out / s.NBlocks
}

// Weights lists the structure's weight tensors (bias excluded) in a fixed order.
// The Spec must be valid.
func (s Spec) Weights() []Weight {
	n, m, r, b := s.In, s.Out, s.Rank, s.NBlocks
	switch s.Kind {
	case LowRank:
		return []Weight{{WeightV, []int{r, n}}, {WeightU, []int{m, r}}}
	case BlockDense:
		return []Weight{{WeightBd, []int{b, r / b, n / b}}, {WeightU, []int{m, r}}}
	case BlockShuffle, Monarch:
		q := s.blockShuffleInner()
		return []Weight{{WeightB1, []int{b, q, n / b}}, {WeightB2, []int{b, m / b, q}}}
	case BTT:
		m0, m1, n0, n1 := s.bttDims()
		return []Weight{{WeightC1, []int{m1, r * n0, m0}}, {WeightC2, []int{n0, n1, r * m1}}}
	default:
		return []Weight{{WeightDense, []int{m, n}}}
	}
}

// Params is the number of weight parameters, bias excluded (the paper's FFN parameter count).
// It equals the multiply-accumulates per token.
func (s Spec) Params() int64 {
	var p int64
	for _, w := range s.Weights() {
		p += int64(w.Size())
	}
	return p
}

// BiasParams is the number of bias parameters (0 or Out).
func (s Spec) BiasParams() int64 {
	if s.Bias {
		return int64(s.Out)
	}
	return 0
}

// FLOPsPerToken is the forward FLOPs per input vector: 2 × multiply-accumulates, bias excluded
// (the paper's convention, docs/METHOD.md §4).
func (s Spec) FLOPsPerToken() int64 { return 2 * s.Params() }

// DenseParams is M·N, the parameter count of the dense matrix this structure replaces.
func (s Spec) DenseParams() int64 { return int64(s.In) * int64(s.Out) }
