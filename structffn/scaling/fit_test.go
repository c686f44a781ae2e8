package scaling

import (
	"math"
	"math/rand/v2"
	"slices"
	"strings"
	"testing"
)

// curve samples n points of L = e + a·C^(−alpha) at C log-spaced over [lo, hi], adding Gaussian
// noise of standard deviation sigma drawn from seed.
func curve(e, a, alpha, lo, hi float64, n int, sigma float64, seed uint64) []Point {
	rng := rand.New(rand.NewPCG(seed, 1))
	truth := Fit{E: e, A: a, Alpha: alpha}
	pts := make([]Point, n)
	for i := range pts {
		c := math.Exp(math.Log(lo) + (math.Log(hi)-math.Log(lo))*float64(i)/float64(n-1))
		pts[i] = Point{C: c, L: truth.Loss(c) + sigma*rng.NormFloat64()}
	}
	return pts
}

func relErr(got, want float64) float64 { return math.Abs(got-want) / math.Abs(want) }

func TestFitPowerLawRecoversNoiseFree(t *testing.T) {
	cases := []struct {
		name           string
		e, a, alpha    float64
		lo, hi         float64
		n              int
		alphaTol, eTol float64
	}{
		{"brief example", 1.8, 2e3, 0.12, 1e12, 1e16, 7, 1e-3, 1e-3},
		{"LM-like losses", 1.69, 409, 0.15, 1e15, 1e19, 6, 1e-3, 1e-3},
		{"pure power law E=0", 0, 50, 0.08, 1e12, 1e16, 6, 1e-3, 1e-3},
		{"steep, four sizes", 2.0, 1e6, 0.35, 1e14, 1e17, 4, 1e-3, 1e-3},
		{"three points fit exactly", 1.5, 300, 0.1, 1e13, 1e15, 3, 1e-3, 1e-3},
		{"shallow", 2.2, 30, 0.05, 1e16, 1e20, 8, 1e-3, 1e-3},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			pts := curve(tc.e, tc.a, tc.alpha, tc.lo, tc.hi, tc.n, 0, 0)
			f, err := FitPowerLaw(pts)
			if err != nil {
				t.Fatal(err)
			}
			if math.Abs(f.Alpha-tc.alpha) > tc.alphaTol {
				t.Errorf("Alpha = %.6g, want %g ± %g", f.Alpha, tc.alpha, tc.alphaTol)
			}
			if math.Abs(f.E-tc.e) > tc.eTol {
				t.Errorf("E = %.6g, want %g ± %g", f.E, tc.e, tc.eTol)
			}
			if relErr(f.A, tc.a) > 1e-2 {
				t.Errorf("A = %.6g, want %g within 1%%", f.A, tc.a)
			}
			if f.RMSE > 1e-6 || f.N != tc.n {
				t.Errorf("RMSE %g over %d points, want ~0 over %d", f.RMSE, f.N, tc.n)
			}
			for _, pt := range pts {
				if relErr(f.Loss(pt.C), pt.L) > 1e-6 {
					t.Errorf("Loss(%g) = %g, want %g", pt.C, f.Loss(pt.C), pt.L)
				}
			}
		})
	}
}

func TestFitPowerLawRepeatedSizes(t *testing.T) {
	// Three seeds at each of four sizes: 12 points, 4 distinct C.
	var pts []Point
	for seed := range uint64(3) {
		pts = append(pts, curve(1.7, 400, 0.15, 1e15, 1e18, 4, 0.005, seed)...)
	}
	f, err := FitPowerLaw(pts)
	if err != nil {
		t.Fatal(err)
	}
	if f.N != 12 || math.Abs(f.Alpha-0.15) > 0.05 {
		t.Errorf("got %v, want Alpha ≈ 0.15 over 12 points", f)
	}
}

func TestFitPowerLawKeepsEInRange(t *testing.T) {
	// Losses that still fall steeply in log-log at the largest C pull an unconstrained E below 0
	// (the pure-power-law case with noise) or the curve towards an asymptote above the data.
	cases := []struct {
		name string
		pts  []Point
	}{
		{"convex in log-log", []Point{{1e12, 10}, {1e13, 5}, {1e14, 2.6}, {1e15, 1.2}, {1e16, 0.55}}},
		{"noisy pure power law", curve(0, 50, 0.08, 1e12, 1e16, 6, 0.05, 7)},
		{"flattening fast", []Point{{1e12, 3.0}, {1e13, 2.2}, {1e14, 2.01}, {1e15, 2.0}, {1e16, 2.0}}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			f, err := FitPowerLaw(tc.pts)
			if err != nil {
				t.Fatal(err)
			}
			minL := math.Inf(1)
			for _, p := range tc.pts {
				minL = min(minL, p.L)
			}
			if f.E < 0 || f.E > minL || !(f.A > 0) || !(f.Alpha > 0) {
				t.Errorf("got %v, want 0 ≤ E ≤ %g, A > 0, Alpha > 0", f, minL)
			}
		})
	}
}

func TestFitPowerLawErrors(t *testing.T) {
	good := curve(1.8, 2e3, 0.12, 1e12, 1e16, 6, 0, 0)
	with := func(i int, p Point) []Point {
		pts := slices.Clone(good)
		pts[i] = p
		return pts
	}
	cases := []struct {
		name string
		pts  []Point
		want string
	}{
		{"no points", nil, "0 distinct"},
		{"two points", good[:2], "2 distinct"},
		{"three points, two distinct C", []Point{good[0], good[1], {good[1].C, good[1].L + 0.1}}, "2 distinct"},
		{"negative C", with(3, Point{-1e14, 3}), "point 3 has compute"},
		{"zero C", with(0, Point{0, 3}), "point 0 has compute"},
		{"infinite C", with(2, Point{math.Inf(1), 3}), "point 2 has compute"},
		{"NaN loss", with(4, Point{1e15, math.NaN()}), "point 4 has loss"},
		{"negative loss", with(1, Point{1e13, -2}), "point 1 has loss"},
		{"rising loss", []Point{{1e12, 2}, {1e13, 2.5}, {1e14, 3}, {1e15, 3.5}}, "does not fall"},
		{"flat loss", []Point{{1e12, 2}, {1e13, 2}, {1e14, 2}, {1e15, 2}}, "does not fall"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			_, err := FitPowerLaw(tc.pts)
			if err == nil || !strings.Contains(err.Error(), tc.want) || strings.Contains(err.Error(), "\n") {
				t.Errorf("error %v, want one line containing %q", err, tc.want)
			}
		})
	}
}

func TestLossAndString(t *testing.T) {
	f := Fit{E: 1.8, A: 2e3, Alpha: 0.12, RMSE: 0.003, N: 6}
	cases := []struct{ c, want float64 }{
		{1e12, 1.8 + 2e3*math.Pow(1e12, -0.12)},
		{1e16, 1.8 + 2e3*math.Pow(1e16, -0.12)},
		{1e300, 1.8 + 2e3*math.Pow(1e300, -0.12)},
	}
	for _, tc := range cases {
		if got := f.Loss(tc.c); relErr(got, tc.want) > 1e-12 {
			t.Errorf("Loss(%g) = %.15g, want %.15g", tc.c, got, tc.want)
		}
	}
	if got := (Fit{E: 2}).Loss(1e20); got != 2 {
		t.Errorf("Loss with A = 0 is %g, want E = 2", got)
	}
	if got, want := f.String(), "L = 1.8 + 2000·C^-0.12 (RMSE 0.003, 6 points)"; got != want {
		t.Errorf("String() = %q, want %q", got, want)
	}
}

// bootstrapMethods are the two bootstraps, for tests that run each.
var bootstrapMethods = []struct {
	name string
	run  func([]Point, int, uint64) (BootstrapResult, error)
}{
	{"residual", Bootstrap},
	{"pairs", BootstrapPairs},
}

func TestBootstrapCoversTruth(t *testing.T) {
	const e, a, alpha = 1.69, 409.0, 0.15
	pts := curve(e, a, alpha, 1e15, 1e19, 6, 0.01, 3)
	for _, tc := range bootstrapMethods {
		t.Run(tc.name, func(t *testing.T) {
			r, err := tc.run(pts, 300, 11)
			if err != nil {
				t.Fatal(err)
			}
			if r.Method != tc.name || r.Samples != 300 || len(r.Alphas) != 300 || len(r.Es) != 300 {
				t.Fatalf("method %q, %d samples (%d alphas, %d Es), want %q and 300", r.Method, r.Samples, len(r.Alphas), len(r.Es), tc.name)
			}
			if !(r.AlphaLo <= r.Fit.Alpha && r.Fit.Alpha <= r.AlphaHi) {
				t.Errorf("fitted Alpha %g outside its CI [%g, %g]", r.Fit.Alpha, r.AlphaLo, r.AlphaHi)
			}
			if !(r.AlphaLo <= alpha && alpha <= r.AlphaHi) {
				t.Errorf("true Alpha %g outside the CI [%g, %g]", alpha, r.AlphaLo, r.AlphaHi)
			}
			if !(r.ELo <= e && e <= r.EHi) {
				t.Errorf("true E %g outside the CI [%g, %g]", e, r.ELo, r.EHi)
			}
			if !(r.AlphaHi-r.AlphaLo > 0) {
				t.Errorf("degenerate CI [%g, %g]", r.AlphaLo, r.AlphaHi)
			}
		})
	}
}

func TestBootstrapCoverage(t *testing.T) {
	// Over many noisy data sets the residual bootstrap's 95% interval should cover the true
	// exponent most of the time. With 6 points (3 residual degrees of freedom) percentile
	// intervals under-cover: ~83% over 200 such data sets, as a normal interval with an estimated
	// σ does (P(|t₃| < 1.96) ≈ 0.86), so the bar here is 70%.
	const e, a, alpha, trials = 1.69, 409.0, 0.15, 40
	covered := 0
	for seed := range uint64(trials) {
		pts := curve(e, a, alpha, 1e15, 1e19, 6, 0.01, 100+seed)
		r, err := Bootstrap(pts, 200, seed)
		if err != nil {
			t.Fatal(err)
		}
		if r.AlphaLo <= alpha && alpha <= r.AlphaHi {
			covered++
		}
	}
	t.Logf("covered in %d of %d", covered, trials)
	if covered < trials*7/10 {
		t.Errorf("the 95%% CI covered the true Alpha in %d of %d data sets, want at least 70%%", covered, trials)
	}
}

func TestBootstrapDeterministic(t *testing.T) {
	pts := curve(1.8, 2e3, 0.12, 1e12, 1e16, 5, 0.2, 5)
	for _, tc := range bootstrapMethods {
		t.Run(tc.name, func(t *testing.T) {
			r1, err1 := tc.run(pts, 50, 42)
			r2, err2 := tc.run(pts, 50, 42)
			r3, err3 := tc.run(pts, 50, 43)
			if err1 != nil || err2 != nil || err3 != nil {
				t.Fatal(err1, err2, err3)
			}
			if !slices.Equal(r1.Alphas, r2.Alphas) || !slices.Equal(r1.Es, r2.Es) || r1.AlphaLo != r2.AlphaLo {
				t.Error("same seed, different samples")
			}
			if slices.Equal(r1.Alphas, r3.Alphas) {
				t.Error("different seeds, same samples")
			}
		})
	}
}

func TestBootstrapPairsSkipsDegenerateResamples(t *testing.T) {
	// With 4 sizes about a third of the resamples have fewer than 3 distinct C.
	pts := curve(1.8, 2e3, 0.12, 1e12, 1e16, 4, 0.1, 9)
	r, err := BootstrapPairs(pts, 100, 1)
	if err != nil {
		t.Fatal(err)
	}
	if r.Samples != 100 || r.Skipped == 0 {
		t.Errorf("%d samples, %d skipped: want 100 and some skipped", r.Samples, r.Skipped)
	}
}

func TestBootstrapErrors(t *testing.T) {
	good := curve(1.8, 2e3, 0.12, 1e12, 1e16, 6, 0.1, 0)
	cases := []struct {
		name    string
		run     func([]Point, int, uint64) (BootstrapResult, error)
		pts     []Point
		samples int
		want    string
	}{
		{"no samples", Bootstrap, good, 0, "0 samples"},
		{"negative samples", BootstrapPairs, good, -5, "-5 samples"},
		{"bad point", Bootstrap, append(slices.Clone(good), Point{-1, 2}), 10, "point 6 has compute"},
		{"residual with 3 points", Bootstrap, good[:3], 10, "at least 4 points"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			_, err := tc.run(tc.pts, tc.samples, 1)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("error %v, want one containing %q", err, tc.want)
			}
		})
	}
}

func TestSlopeAt(t *testing.T) {
	cases := []struct {
		name string
		f    Fit
		c    float64
	}{
		{"brief example", Fit{E: 1.8, A: 2e3, Alpha: 0.12}, 1e14},
		{"pure power law", Fit{E: 0, A: 50, Alpha: 0.08}, 1e13},
		{"near the asymptote", Fit{E: 2, A: 10, Alpha: 0.3}, 1e20},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			const h = 1e-4 // central difference in log C
			lc := math.Log(tc.c)
			want := (math.Log(tc.f.Loss(math.Exp(lc+h))) - math.Log(tc.f.Loss(math.Exp(lc-h)))) / (2 * h)
			got := SlopeAt(tc.f, tc.c)
			if math.Abs(got-want) > 1e-7 {
				t.Errorf("SlopeAt = %.10g, numeric %.10g", got, want)
			}
			if got >= 0 || got < -tc.f.Alpha {
				t.Errorf("SlopeAt = %g, want in [−Alpha, 0) = [%g, 0)", got, -tc.f.Alpha)
			}
		})
	}
	if got := SlopeAt(Fit{A: 50, Alpha: 0.08}, 1e15); math.Abs(got+0.08) > 1e-15 {
		t.Errorf("pure power law slope %g, want −Alpha = −0.08", got)
	}
}

func TestCrossing(t *testing.T) {
	// Same E: A1·c^−α1 = A2·c^−α2 at c* exactly when A2 = A1·c*^(α2−α1).
	dense := Fit{E: 1.8, A: 2e3, Alpha: 0.10}
	cStar := 3e14
	steep := Fit{E: 1.8, A: 2e3 * math.Pow(cStar, 0.14-0.10), Alpha: 0.14}
	// Different E: E1 + A1·c^−α = E2 + A2·c^−α crosses at c = ((A1−A2)/(E2−E1))^(1/α).
	lowE := Fit{E: 1.6, A: 900, Alpha: 0.12}
	highE := Fit{E: 1.9, A: 300, Alpha: 0.12}
	cE := math.Pow((900.0-300)/(1.9-1.6), 1/0.12)
	cases := []struct {
		name   string
		a, b   Fit
		lo, hi float64
		want   float64
		ok     bool
	}{
		{"steeper overtakes dense", dense, steep, 1e12, 1e18, cStar, true},
		{"order does not matter", steep, dense, 1e12, 1e18, cStar, true},
		{"different asymptotes", lowE, highE, 1e20, 1e30, cE, true},
		{"crossing outside the range", dense, steep, 1e15, 1e18, 0, false},
		{"identical slopes never cross", dense, Fit{E: 1.7, A: 2e3, Alpha: 0.10}, 1e10, 1e20, 0, false},
		{"empty range", dense, steep, 1e18, 1e12, 0, false},
		{"non-positive lo", dense, steep, 0, 1e18, 0, false},
		{"lo = hi at the crossing", dense, steep, cStar, cStar, cStar, true},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			c, ok := Crossing(tc.a, tc.b, tc.lo, tc.hi)
			if ok != tc.ok {
				t.Fatalf("ok = %v (c = %g), want %v", ok, c, tc.ok)
			}
			if ok && relErr(c, tc.want) > 1e-6 {
				t.Errorf("crossing at %.10g, want %.10g", c, tc.want)
			}
		})
	}
}

func TestIsoFLOP(t *testing.T) {
	fits := map[string]Fit{
		"dense":    {E: 1.8, A: 2e3, Alpha: 0.10},
		"lowrank":  {E: 1.8, A: 9e3, Alpha: 0.14},
		"blockdia": {E: 1.7, A: 2e3, Alpha: 0.10},
	}
	budgets := []float64{1e18, 1e14}
	rows, err := IsoFLOP(fits, "dense", budgets)
	if err != nil {
		t.Fatal(err)
	}
	want := []struct {
		budget float64
		name   string
	}{
		{1e14, "blockdia"}, {1e14, "dense"}, {1e14, "lowrank"},
		{1e18, "blockdia"}, {1e18, "dense"}, {1e18, "lowrank"},
	}
	if len(rows) != len(want) {
		t.Fatalf("%d rows, want %d", len(rows), len(want))
	}
	for i, w := range want {
		r := rows[i]
		if r.Budget != w.budget || r.Name != w.name {
			t.Errorf("row %d is (%g, %s), want (%g, %s)", i, r.Budget, r.Name, w.budget, w.name)
			continue
		}
		f := fits[w.name]
		wantDelta := f.Loss(w.budget) - fits["dense"].Loss(w.budget)
		if r.Loss != f.Loss(w.budget) || math.Abs(r.Delta-wantDelta) > 1e-12 {
			t.Errorf("row %d: loss %g Δ %g, want %g Δ %g", i, r.Loss, r.Delta, f.Loss(w.budget), wantDelta)
		}
		switch w.name {
		case "dense":
			if r.Delta != 0 {
				t.Errorf("reference Δ = %g, want 0", r.Delta)
			}
		case "blockdia":
			if math.Abs(r.Delta+0.1) > 1e-12 {
				t.Errorf("blockdia Δ = %g, want −0.1 (E lower by 0.1)", r.Delta)
			}
		}
	}
	// lowrank is worse than dense at 1e14 and better at 1e18 (they cross at 4.5^25 ≈ 2.4e16).
	if rows[2].Delta <= 0 || rows[5].Delta >= 0 {
		t.Errorf("lowrank Δ %g at 1e14 and %g at 1e18, want + then −", rows[2].Delta, rows[5].Delta)
	}
	if !slices.Equal(budgets, []float64{1e18, 1e14}) {
		t.Error("IsoFLOP reordered the caller's budgets")
	}
}

func TestIsoFLOPErrors(t *testing.T) {
	fits := map[string]Fit{"dense": {E: 1.8, A: 2e3, Alpha: 0.1}, "lowrank": {E: 1.8, A: 6e3, Alpha: 0.14}}
	cases := []struct {
		name    string
		ref     string
		budgets []float64
		want    string
	}{
		{"unknown reference", "Dense", []float64{1e15}, `no fit named "Dense": use one of [dense, lowrank]`},
		{"zero budget", "dense", []float64{1e15, 0}, "budget 1 is 0"},
		{"NaN budget", "dense", []float64{math.NaN()}, "budget 0 is NaN"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			_, err := IsoFLOP(fits, tc.ref, tc.budgets)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("error %v, want one containing %q", err, tc.want)
			}
		})
	}
}

func TestCompareSlopes(t *testing.T) {
	seq := func(start, step float64, n int) []float64 {
		xs := make([]float64, n)
		for i := range xs {
			xs[i] = start + step*float64(i)
		}
		return xs
	}
	cases := []struct {
		name         string
		a, b         BootstrapResult
		diff, lo, hi float64
		nanInterval  bool
	}{
		{
			// a.Alphas[i] − b.Alphas[i] = 0.02 + 0.0001·i for i < 101: percentiles at 2.5 and 97.5.
			name: "paired differences",
			a:    BootstrapResult{Fit: Fit{Alpha: 0.15}, Alphas: seq(0.12, 0.0002, 101)},
			b:    BootstrapResult{Fit: Fit{Alpha: 0.10}, Alphas: seq(0.10, 0.0001, 101)},
			diff: 0.05, lo: 0.02 + 0.0001*2.5, hi: 0.02 + 0.0001*97.5,
		},
		{
			name: "pairs over the shorter",
			a:    BootstrapResult{Fit: Fit{Alpha: 0.15}, Alphas: seq(0.12, 0.0002, 101)},
			b:    BootstrapResult{Fit: Fit{Alpha: 0.10}, Alphas: seq(0.10, 0.0001, 51)},
			diff: 0.05, lo: 0.02 + 0.0001*1.25, hi: 0.02 + 0.0001*48.75,
		},
		{
			name:        "no samples",
			a:           BootstrapResult{Fit: Fit{Alpha: 0.15}},
			b:           BootstrapResult{Fit: Fit{Alpha: 0.10}, Alphas: []float64{0.1}},
			diff:        0.05,
			nanInterval: true,
		},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			diff, lo, hi := CompareSlopes(tc.a, tc.b)
			if math.Abs(diff-tc.diff) > 1e-12 {
				t.Errorf("diff = %g, want %g", diff, tc.diff)
			}
			if tc.nanInterval {
				if !math.IsNaN(lo) || !math.IsNaN(hi) {
					t.Errorf("interval [%g, %g], want NaN", lo, hi)
				}
				return
			}
			if math.Abs(lo-tc.lo) > 1e-12 || math.Abs(hi-tc.hi) > 1e-12 {
				t.Errorf("interval [%.12g, %.12g], want [%.12g, %.12g]", lo, hi, tc.lo, tc.hi)
			}
		})
	}
}

func TestCompareSlopesDetectsSteeperCurve(t *testing.T) {
	// End to end: a structured family with a clearly larger exponent than dense.
	dense := curve(1.7, 400, 0.12, 1e15, 1e19, 6, 0.005, 21)
	structured := curve(1.7, 2500, 0.17, 1e15, 1e19, 6, 0.005, 22)
	rd, err := Bootstrap(dense, 200, 1)
	if err != nil {
		t.Fatal(err)
	}
	rs, err := Bootstrap(structured, 200, 2)
	if err != nil {
		t.Fatal(err)
	}
	diff, lo, hi := CompareSlopes(rs, rd)
	if !(lo > 0 && lo <= diff && diff <= hi) || math.Abs(diff-0.05) > 0.03 {
		t.Errorf("Alpha difference %g [%g, %g], want ≈ 0.05 with an interval above 0", diff, lo, hi)
	}
}
