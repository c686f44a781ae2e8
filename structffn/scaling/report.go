package scaling

import (
	"fmt"
	"math"
	"slices"
	"strconv"
	"strings"
)

// Family is the model family of a sweep result, its run name without the size and the seed (and FLOP
// or token budget): "dense", "lowrank32", "lowrank32-sgtflops", "lowrank32-eqflops". One curve is fitted per family.
func Family(r Result) string {
	parts := strings.Split(r.Name, "-")
	if len(parts) > 0 {
		parts = parts[1:] // the size
	}
	parts = slices.DeleteFunc(parts, func(p string) bool {
		return len(p) > 1 && (p[0] == 's' && isDigits(p[1:]) || p[0] == 'c' && strings.ContainsAny(p, "e0123456789") && !strings.HasPrefix(p, "sgt") ||
			p[0] == 't' && isNumber(p[1:]))
	})
	return strings.Join(parts, "-")
}

// isNumber reports whether s is a plain decimal number (a sweep's "-tK" token budget, e.g. 2 or 0.5).
func isNumber(s string) bool {
	_, err := strconv.ParseFloat(s, 64)
	return err == nil && isDigits(strings.Replace(s, ".", "", 1))
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
	// Line is the log-log line (E = 0) and LineDiff its slope minus the reference's, with a 95%
	// interval: the plain slope comparison, informative where the 3-parameter fit's E is poorly
	// determined (few sizes).
	Line                     LogLogLine
	LineDiff, LineLo, LineHi float64
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
		line, err := FitLogLogLine(ps)
		if err != nil {
			return nil, fmt.Errorf("family %s: %v", n, err)
		}
		ff := FamilyFit{Family: n, Points: ps, Boot: boot, SlopeDiff: math.NaN(), SlopeLo: math.NaN(), SlopeHi: math.NaN(),
			Line: line, LineDiff: math.NaN(), LineLo: math.NaN(), LineHi: math.NaN()}
		if n == reference {
			ref = ff
		} else {
			ff.SlopeDiff, ff.SlopeLo, ff.SlopeHi = CompareSlopes(boot, ref.Boot)
			ff.LineDiff, ff.LineLo, ff.LineHi = SlopeDifference(line, ref.Line)
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
	b.WriteString("| family | points | fit L(C) = E + A·C^-α | α (95% CI) | α − α_ref (95% CI) | log-log slope (95% CI) | slope − ref (95% CI) | crosses ref at C |\n|---|---|---|---|---|---|---|---|\n")
	for _, f := range fits {
		diff, lineDiff, cross := "(reference)", "(reference)", "-"
		if !math.IsNaN(f.SlopeDiff) {
			diff = fmt.Sprintf("%+.3f (%+.3f, %+.3f)", f.SlopeDiff, f.SlopeLo, f.SlopeHi)
			lineDiff = fmt.Sprintf("%+.4f (%+.4f, %+.4f)", f.LineDiff, f.LineLo, f.LineHi)
			if f.Crossing > 0 {
				cross = fmt.Sprintf("%.2g", f.Crossing)
			}
		}
		fmt.Fprintf(&b, "| %s | %d | E=%.3f A=%.3g α=%.3f | %.3f (%.3f, %.3f) | %s | %.4f (%.4f, %.4f) | %s | %s |\n", f.Family, len(f.Points),
			f.Boot.Fit.E, f.Boot.Fit.A, f.Boot.Fit.Alpha, f.Boot.Fit.Alpha, f.Boot.AlphaLo, f.Boot.AlphaHi, diff,
			f.Line.Slope, f.Line.Lo, f.Line.Hi, lineDiff, cross)
	}
	return b.String()
}

// Verdict says in words whether a family's curve is steeper than the reference's, by the log-log
// slope difference: "steeper" when its 95% interval lies above 0, "shallower" when below, else "not
// distinguishable"; the 3-parameter fit's α difference follows in brackets.
func Verdict(f FamilyFit) string {
	if math.IsNaN(f.LineDiff) {
		return f.Family + ": the reference"
	}
	word := "not distinguishable from"
	switch {
	case f.LineLo > 0:
		word = "steeper than"
	case f.LineHi < 0:
		word = "shallower than"
	}
	return fmt.Sprintf("%s: %s the reference (log-log slope − ref = %+.4f, 95%% CI %+.4f to %+.4f; fitted α − α_ref = %+.3f, %+.3f to %+.3f)",
		f.Family, word, f.LineDiff, f.LineLo, f.LineHi, f.SlopeDiff, f.SlopeLo, f.SlopeHi)
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

// LogLogLine is the least-squares line log L = b − s·log C through a family's runs (the pure power
// law, E = 0): its slope s with a 95% t-interval (n−2 degrees of freedom) and standard error.
type LogLogLine struct {
	Slope, Lo, Hi, SE float64
	N                 int
}

// tQuantile975 is the 97.5% quantile of Student's t for 1..30 degrees of freedom (then 1.96).
var tQuantile975 = []float64{12.706, 4.303, 3.182, 2.776, 2.571, 2.447, 2.365, 2.306, 2.262, 2.228,
	2.201, 2.179, 2.160, 2.145, 2.131, 2.120, 2.110, 2.101, 2.093, 2.086, 2.080, 2.074, 2.069, 2.064, 2.060,
	2.056, 2.052, 2.048, 2.045, 2.042}

func t975(df int) float64 {
	if df < 1 {
		return math.NaN()
	}
	if df <= len(tQuantile975) {
		return tQuantile975[df-1]
	}
	return 1.96
}

// FitLogLogLine fits the log-log line; it needs 3 points at 2 or more distinct C.
func FitLogLogLine(points []Point) (LogLogLine, error) {
	n := len(points)
	if n < 3 || distinctC(points) < 2 {
		return LogLogLine{}, fmt.Errorf("log-log line: %d points at %d compute values: give at least 3 points at 2 values", n, distinctC(points))
	}
	var mx, my float64
	for _, p := range points {
		if !(p.C > 0) || !(p.L > 0) {
			return LogLogLine{}, fmt.Errorf("log-log line: C and L must be positive (got C=%g, L=%g)", p.C, p.L)
		}
		mx += math.Log(p.C) / float64(n)
		my += math.Log(p.L) / float64(n)
	}
	var sxx, sxy float64
	for _, p := range points {
		dx := math.Log(p.C) - mx
		sxx += dx * dx
		sxy += dx * (math.Log(p.L) - my)
	}
	b := sxy / sxx
	var sse float64
	for _, p := range points {
		r := math.Log(p.L) - (my + b*(math.Log(p.C)-mx))
		sse += r * r
	}
	se := math.Sqrt(sse / float64(n-2) / sxx)
	t := t975(n - 2)
	return LogLogLine{Slope: -b, SE: se, Lo: -b - t*se, Hi: -b + t*se, N: n}, nil
}

// SlopeDifference is a.Slope − b.Slope with a 95% interval from their standard errors (Welch's
// degrees of freedom): positive when a's loss falls faster with compute.
func SlopeDifference(a, b LogLogLine) (diff, lo, hi float64) {
	diff = a.Slope - b.Slope
	va, vb := a.SE*a.SE, b.SE*b.SE
	se := math.Sqrt(va + vb)
	df := 1
	if den := va*va/float64(a.N-2) + vb*vb/float64(b.N-2); den > 0 {
		df = max(1, int(math.Floor((va+vb)*(va+vb)/den)))
	}
	t := t975(df)
	return diff, diff - t*se, diff + t*se
}
