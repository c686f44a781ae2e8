package scaling

import (
	"fmt"
	"math"
	"slices"
	"strings"
)

// Family is the model family of a sweep result, its run name without the size and the seed (and FLOP
// budget): "dense", "lowrank32", "lowrank32-sgtflops". One curve is fitted per family.
func Family(r Result) string {
	parts := strings.Split(r.Name, "-")
	if len(parts) > 0 {
		parts = parts[1:] // the size
	}
	parts = slices.DeleteFunc(parts, func(p string) bool {
		return len(p) > 1 && (p[0] == 's' && isDigits(p[1:]) || p[0] == 'c' && strings.ContainsAny(p, "e0123456789") && !strings.HasPrefix(p, "sgt"))
	})
	return strings.Join(parts, "-")
}

func isDigits(s string) bool {
	for _, c := range s {
		if c < '0' || c > '9' {
			return false
		}
	}
	return s != ""
}

// FamilyFit is one family's scaling law with its bootstrap, compared with the reference family.
type FamilyFit struct {
	Family string
	Points []Point
	Boot   BootstrapResult
	// Alpha − the reference's Alpha, with a 95% interval (NaN for the reference itself).
	SlopeDiff, SlopeLo, SlopeHi float64
	// Crossing is where this family's fitted curve crosses the reference's, searched from the
	// smallest measured compute to 1e4 × the largest (0 when they do not cross there).
	Crossing float64
}

// Analyze fits every family of results (validation loss against training FLOPs; seeds are separate
// points at the same compute) with a residual bootstrap of samples draws, and compares each with the
// reference family (usually "dense"). Families are returned in order of their names, the reference
// first; a family with fewer than 4 runs or 3 distinct compute values (a sweep still running) is
// left out: the residual bootstrap needs residuals (Families lists every family present).
func Analyze(results []Result, reference string, samples int, seed uint64) ([]FamilyFit, error) {
	points := map[string][]Point{}
	for _, r := range results {
		f := Family(r)
		points[f] = append(points[f], Point{C: r.TrainFLOPs, L: r.ValLoss})
	}
	if _, ok := points[reference]; !ok {
		return nil, fmt.Errorf("no %q runs in the results: the comparison needs them (-reference)", reference)
	}
	names := make([]string, 0, len(points))
	for n := range points {
		names = append(names, n)
	}
	slices.SortFunc(names, func(a, b string) int {
		if (a == reference) != (b == reference) {
			if a == reference {
				return -1
			}
			return 1
		}
		return strings.Compare(a, b)
	})
	var out []FamilyFit
	var ref FamilyFit
	for i, n := range names {
		ps := points[n]
		if distinctC(ps) < 3 || len(ps) < 4 {
			if n == reference {
				return nil, fmt.Errorf("the reference %q has %d runs at %d sizes: a fit with intervals needs 4 runs at 3 sizes or more", reference, len(ps), distinctC(ps))
			}
			continue
		}
		slices.SortFunc(ps, func(a, b Point) int { return compareFloat(a.C, b.C) })
		boot, err := Bootstrap(ps, samples, seed+uint64(i))
		if err != nil {
			return nil, fmt.Errorf("family %s: %v", n, err)
		}
		ff := FamilyFit{Family: n, Points: ps, Boot: boot, SlopeDiff: math.NaN(), SlopeLo: math.NaN(), SlopeHi: math.NaN()}
		if n == reference {
			ref = ff
		} else {
			ff.SlopeDiff, ff.SlopeLo, ff.SlopeHi = CompareSlopes(boot, ref.Boot)
			lo, hi := min(ps[0].C, ref.Points[0].C), 1e4*max(ps[len(ps)-1].C, ref.Points[len(ref.Points)-1].C)
			if c, ok := Crossing(boot.Fit, ref.Boot.Fit, lo, hi); ok {
				ff.Crossing = c
			}
		}
		out = append(out, ff)
	}
	return out, nil
}

func compareFloat(a, b float64) int {
	switch {
	case a < b:
		return -1
	case a > b:
		return 1
	}
	return 0
}

// Markdown renders the fits as a table: family, points, fitted law, α with its interval, the
// difference from the reference's α with its interval, and the crossing compute.
func Markdown(fits []FamilyFit) string {
	var b strings.Builder
	b.WriteString("| family | points | fit L(C) = E + A·C^-α | α (95% CI) | α − α_ref (95% CI) | crosses ref at C |\n|---|---|---|---|---|---|\n")
	for _, f := range fits {
		diff, cross := "(reference)", "-"
		if !math.IsNaN(f.SlopeDiff) {
			diff = fmt.Sprintf("%+.3f (%+.3f, %+.3f)", f.SlopeDiff, f.SlopeLo, f.SlopeHi)
			if f.Crossing > 0 {
				cross = fmt.Sprintf("%.2g", f.Crossing)
			}
		}
		fmt.Fprintf(&b, "| %s | %d | E=%.3f A=%.3g α=%.3f | %.3f (%.3f, %.3f) | %s | %s |\n", f.Family, len(f.Points),
			f.Boot.Fit.E, f.Boot.Fit.A, f.Boot.Fit.Alpha, f.Boot.Fit.Alpha, f.Boot.AlphaLo, f.Boot.AlphaHi, diff, cross)
	}
	return b.String()
}

// Verdict says in words whether a family's curve is steeper than the reference's: "steeper" when
// the 95% interval of α − α_ref lies above 0, "shallower" when below, else "not distinguishable".
func Verdict(f FamilyFit) string {
	switch {
	case math.IsNaN(f.SlopeDiff):
		return f.Family + ": the reference"
	case f.SlopeLo > 0:
		return fmt.Sprintf("%s: steeper than the reference (α − α_ref = %+.3f, 95%% CI %+.3f to %+.3f)", f.Family, f.SlopeDiff, f.SlopeLo, f.SlopeHi)
	case f.SlopeHi < 0:
		return fmt.Sprintf("%s: shallower than the reference (α − α_ref = %+.3f, 95%% CI %+.3f to %+.3f)", f.Family, f.SlopeDiff, f.SlopeLo, f.SlopeHi)
	}
	return fmt.Sprintf("%s: not distinguishable from the reference (α − α_ref = %+.3f, 95%% CI %+.3f to %+.3f)", f.Family, f.SlopeDiff, f.SlopeLo, f.SlopeHi)
}

// Families lists the families present in results, sorted.
func Families(results []Result) []string {
	var out []string
	for _, r := range results {
		if f := Family(r); !slices.Contains(out, f) {
			out = append(out, f)
		}
	}
	slices.Sort(out)
	return out
}
