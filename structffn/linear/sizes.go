package linear

import (
	"fmt"
	"math"
)

// The paper's two parameter budgets per replaced FFN (docs/METHOD.md §2).
const (
	Fraction63 = 0.625  // "63%": LowRank R = d/2; BlockShuffle B = 2; BlockDense (2d/3, 2).
	Fraction32 = 0.3125 // "32%": LowRank R = d/4; BlockShuffle B = 4; BlockDense (d/3, 2).
)

// FractionName is the paper's label of a fraction ("63%", "32%"), or the percentage with one decimal.
func FractionName(f float64) string {
	switch f {
	case Fraction63:
		return "63%"
	case Fraction32:
		return "32%"
	case 1:
		return "100%"
	}
	return fmt.Sprintf("%.1f%%", 100*f)
}

// FFNSpecs returns the specs of an FFN's two matrices, fc1: d→f and fc2: f→d, both with bias and the
// same structure, rank and number of blocks (docs/METHOD.md §2).
func FFNSpecs(kind Kind, d, f, rank, nblocks int) (fc1, fc2 Spec) {
	fc1 = Spec{Kind: kind, In: d, Out: f, Rank: rank, NBlocks: nblocks, Bias: true}
	fc2 = Spec{Kind: kind, In: f, Out: d, Rank: rank, NBlocks: nblocks, Bias: true}
	return fc1, fc2
}

// FFNFraction is the parameter count of a structured FFN (fc1 + fc2, biases excluded) divided by
// the dense FFN's 2·d·f.
func FFNFraction(kind Kind, d, f, rank, nblocks int) float64 {
	fc1, fc2 := FFNSpecs(kind, d, f, rank, nblocks)
	return float64(fc1.Params()+fc2.Params()) / float64(2*d*f)
}

// SizeFor returns the rank and number of blocks that give an FFN of width d→f→d the requested
// fraction of the dense FFN's parameters, following the paper's rules (docs/METHOD.md §2):
//
//   - LowRank: R = fraction·d·f/(d+f), rounded to the nearest integer (d/2 and d/4 at f = 4d).
//   - BlockShuffle: B = (d+f)/(f·fraction), which must come out a whole number dividing d and f
//     (2 and 4 at f = 4d).
//   - BlockDense: B = 2 and R = 2·fraction·d·f/((d+f)(1+1/B)) when that is a whole multiple of B
//     (2d/3 and d/3 at f = 4d); otherwise B = 4 and R rounded down to a multiple of d/8, which gives
//     the paper's m and xl choices (768/384 at d = 1024, 1536/768 at d = 2048).
//   - Monarch (not in the paper): B the divisor of d and f nearest √d (Monarch's √n blocks of √n),
//     and the inner width R = fraction·B·d·f/(d+f) rounded to a multiple of B: at f = 4d, R = B·d/4
//     at 32% and B·d/2 at 63% (d = 64: B = 8, R = 128 and 256). Where that R would exceed f, R = f
//     and B = (d+f)/(d·fraction) instead (d = 384 at 63%: R = 1536, B = 8). BlockShuffle's maps are
//     Monarch's with R = d (B = 4 at 32%, B = 2 at 63%).
//   - BTT (not in the paper): the rank R nearest to fraction·2df over the parameters per unit of
//     rank of fc1 and fc2 (at least 1), so the fraction is met as closely as a whole rank allows.
//   - Dense: fraction must be 1; rank and nblocks are 0.
//
// The result is validated for both matrices; an unreachable fraction is an error naming the reason.
func SizeFor(kind Kind, d, f int, fraction float64) (rank, nblocks int, err error) {
	if d <= 0 || f <= 0 {
		return 0, 0, fmt.Errorf("FFN widths must be positive (got d=%d, f=%d)", d, f)
	}
	if !(fraction > 0 && fraction <= 1) {
		return 0, 0, fmt.Errorf("parameter fraction must be in (0, 1] (got %g)", fraction)
	}
	const eps = 1e-9
	switch kind {
	case Dense:
		if fraction != 1 {
			return 0, 0, fmt.Errorf("a dense FFN has fraction 1 (got %g): pick a structure to reduce parameters", fraction)
		}
	case LowRank:
		rank = int(math.Round(fraction * float64(d) * float64(f) / float64(d+f)))
	case BlockShuffle:
		exact := float64(d+f) / (float64(f) * fraction)
		nblocks = int(math.Round(exact))
		if math.Abs(exact-float64(nblocks)) > eps {
			return 0, 0, fmt.Errorf("blockshuffle: fraction %g needs B = (d+f)/(f·fraction) = %.3f blocks, not a whole number",
				fraction, exact)
		}
	case BlockDense:
		exactRank := func(b int) float64 {
			return 2 * fraction * float64(d) * float64(f) / (float64(d+f) * (1 + 1/float64(b)))
		}
		nblocks = 2
		r := exactRank(nblocks)
		rank = int(math.Round(r))
		if math.Abs(r-float64(rank)) > eps || rank%nblocks != 0 {
			nblocks = 4
			granule := d / 8
			if d%32 != 0 || granule < nblocks {
				granule = nblocks
			}
			rank = int(math.Floor(exactRank(nblocks)/float64(granule)+eps)) * granule
		}
	case Monarch:
		nblocks = sqrtDivisor(d, f)
		exact := fraction * float64(nblocks) * float64(d) * float64(f) / float64(d+f)
		rank = max(1, int(math.Round(exact/float64(nblocks)))) * nblocks
		if rank > f {
			rank, nblocks = f, max(1, int(math.Round(float64(d+f)/(float64(d)*fraction))))
		}
	case BTT:
		fc1, fc2 := FFNSpecs(kind, d, f, 1, 0)
		perRank := fc1.Params() + fc2.Params()
		rank = max(1, int(math.Round(fraction*float64(2*d*f)/float64(perRank))))
	default:
		return 0, 0, fmt.Errorf("unknown structure %d", int(kind))
	}
	fc1, fc2 := FFNSpecs(kind, d, f, rank, nblocks)
	if err := fc1.Validate(); err != nil {
		return 0, 0, fmt.Errorf("fraction %g of a %d→%d FFN: %w", fraction, d, f, err)
	}
	if err := fc2.Validate(); err != nil {
		return 0, 0, fmt.Errorf("fraction %g of a %d→%d FFN: %w", fraction, d, f, err)
	}
	return rank, nblocks, nil
}

// sqrtDivisor is the common divisor of d and f nearest √d (the smaller of two equally near).
func sqrtDivisor(d, f int) int {
	best, root := 1, math.Sqrt(float64(d))
	for b := 1; b <= d; b++ {
		if d%b == 0 && f%b == 0 && math.Abs(float64(b)-root) < math.Abs(float64(best)-root) {
			best = b
		}
	}
	return best
}
