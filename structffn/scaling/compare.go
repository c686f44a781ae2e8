package scaling

import (
	"fmt"
	"maps"
	"math"
	"slices"
	"strings"
)

// SlopeAt is the local log-log slope of the fitted loss at compute c: d log L / d log C =
// −Alpha·(L − E)/L, which tends to −Alpha where the reducible loss dominates and to 0 as L
// approaches E. (The slope of the reducible loss L − E alone is −Alpha everywhere.)
func SlopeAt(f Fit, c float64) float64 {
	l := f.Loss(c)
	return -f.Alpha * (l - f.E) / l
}

// crossingGrid is the number of log-spaced points Crossing scans for a sign change.
const crossingGrid = 512

// Crossing is the compute in [lo, hi] where the fitted curves a and b cross (a.Loss = b.Loss),
// found by scanning a log grid for a sign change of the difference and bisecting in log C. Two such
// curves cross at most twice; Crossing returns the lower crossing. ok is false when the difference
// has no sign change on the grid (including a touch without crossing) or when the range is not
// 0 < lo ≤ hi.
func Crossing(a, b Fit, lo, hi float64) (c float64, ok bool) {
	if !(lo > 0 && hi >= lo) || math.IsInf(hi, 0) {
		return 0, false
	}
	diff := func(logC float64) float64 {
		c := math.Exp(logC)
		return a.Loss(c) - b.Loss(c)
	}
	logLo, logHi := math.Log(lo), math.Log(hi)
	x0, d0 := logLo, diff(logLo)
	if d0 == 0 {
		return lo, true
	}
	for k := 1; k < crossingGrid; k++ {
		x1 := logLo + (logHi-logLo)*float64(k)/(crossingGrid-1)
		d1 := diff(x1)
		if d1 == 0 {
			return math.Exp(x1), true
		}
		if math.Signbit(d0) != math.Signbit(d1) {
			for range 200 {
				m := (x0 + x1) / 2
				if m <= x0 || m >= x1 {
					break
				}
				dm := diff(m)
				if dm == 0 {
					return math.Exp(m), true
				}
				if math.Signbit(dm) == math.Signbit(d0) {
					x0, d0 = m, dm
				} else {
					x1 = m
				}
			}
			return math.Exp((x0 + x1) / 2), true
		}
		x0, d0 = x1, d1
	}
	return 0, false
}

// IsoRow is one curve at one compute budget: its predicted Loss and Delta = Loss minus the
// reference curve's loss at that budget (negative: better than the reference).
type IsoRow struct {
	Budget float64
	Name   string
	Loss   float64
	Delta  float64
}

// IsoFLOP predicts each fitted curve's loss at each compute budget and its difference to the curve
// named reference (e.g. "dense"), which is among the rows with Delta 0. Rows are ordered by budget,
// then name. Budgets must be positive and finite.
func IsoFLOP(fits map[string]Fit, reference string, budgets []float64) ([]IsoRow, error) {
	names := slices.Sorted(maps.Keys(fits))
	ref, ok := fits[reference]
	if !ok {
		return nil, fmt.Errorf("iso-FLOP: no fit named %q: use one of [%s]", reference, strings.Join(names, ", "))
	}
	for i, b := range budgets {
		if !(b > 0) || math.IsInf(b, 0) {
			return nil, fmt.Errorf("iso-FLOP: budget %d is %g FLOPs: give finite positive budgets", i, b)
		}
	}
	sorted := slices.Clone(budgets)
	slices.Sort(sorted)
	rows := make([]IsoRow, 0, len(sorted)*len(names))
	for _, b := range sorted {
		r := ref.Loss(b)
		for _, name := range names {
			l := fits[name].Loss(b)
			rows = append(rows, IsoRow{Budget: b, Name: name, Loss: l, Delta: l - r})
		}
	}
	return rows, nil
}

// CompareSlopes is the difference a.Fit.Alpha − b.Fit.Alpha in compute exponents (positive: a's
// loss falls faster) with a 95% percentile interval lo–hi from the bootstrap exponents, pairing
// a.Alphas[i] with b.Alphas[i] over the shorter of the two. The two bootstraps should come from
// independent data (separate model families), so pairing by index is a valid draw from the joint
// distribution; give them different seeds. lo and hi are NaN when either has no samples.
func CompareSlopes(a, b BootstrapResult) (diff, lo, hi float64) {
	diff = a.Fit.Alpha - b.Fit.Alpha
	n := min(len(a.Alphas), len(b.Alphas))
	d := make([]float64, n)
	for i := range d {
		d[i] = a.Alphas[i] - b.Alphas[i]
	}
	lo, hi = interval(d)
	return diff, lo, hi
}
