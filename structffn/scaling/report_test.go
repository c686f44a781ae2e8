package scaling

import (
	"math"
	"strings"
	"testing"
)

func TestFamily(t *testing.T) {
	for name, want := range map[string]string{
		"4x64-dense-s0":                  "dense",
		"4x128-lowrank32-sgtflops-s12":   "lowrank32-sgtflops",
		"tiny-blockdense63-c1.00e13-s1":  "blockdense63",
		"6x128-blockshuffle32-s0":        "blockshuffle32",
		"4x64-lowrank32-t2-eqflops-s0":   "lowrank32-eqflops",
		"4x96-dense-t0.5-s2":             "dense",
		"tiny-lowrank32-sgtsteps-t20-s1": "lowrank32-sgtsteps",
		"4x64-btt32-cbs-c4.12e12-s0":     "btt32-cbs",
	} {
		if got := Family(Result{Name: name}); got != want {
			t.Errorf("Family(%s) = %q, want %q", name, got, want)
		}
	}
}

func TestAnalyzeFindsTheSteeperFamily(t *testing.T) {
	dense := Fit{E: 1.5, A: 40, Alpha: 0.10}
	steep := Fit{E: 1.5, A: 90, Alpha: 0.13} // above dense at small C, below it from about 5e11
	var results []Result
	for i, c := range []float64{1e11, 3e11, 1e12, 3e12, 1e13, 3e13} {
		noise := 0.002 * math.Sin(float64(7*i))
		results = append(results,
			Result{Name: "4x64-dense-s0", TrainFLOPs: c, ValLoss: dense.Loss(c) + noise},
			Result{Name: "4x64-lowrank32-s0", TrainFLOPs: c, ValLoss: steep.Loss(c) - noise})
	}
	fits, err := Analyze(results, "dense", 300, 1)
	if err != nil {
		t.Fatal(err)
	}
	if len(fits) != 2 || fits[0].Family != "dense" || !math.IsNaN(fits[0].SlopeDiff) {
		t.Fatalf("families %+v", fits)
	}
	lr := fits[1]
	if lr.SlopeDiff < 0.01 || lr.SlopeLo <= 0 || math.Abs(lr.SlopeDiff-0.03) > 0.02 {
		t.Errorf("α difference %.3f (%.3f, %.3f), want about +0.03 with an interval above 0", lr.SlopeDiff, lr.SlopeLo, lr.SlopeHi)
	}
	// Where the true curves cross: 40·C^-0.10 = 90·C^-0.13.
	want := math.Pow(90.0/40.0, 1/0.03)
	if lr.Crossing == 0 || math.Abs(math.Log(lr.Crossing/want)) > 1 {
		t.Errorf("crossing %.3g, want about %.3g", lr.Crossing, want)
	}
	md := Markdown(fits)
	if !strings.Contains(md, "| dense | 6 |") || !strings.Contains(md, "| lowrank32 | 6 |") || !strings.Contains(md, "(reference)") {
		t.Errorf("markdown:\n%s", md)
	}
	if _, err := Analyze(results, "blockdense32", 10, 1); err == nil || !strings.Contains(err.Error(), `no "blockdense32" runs`) {
		t.Errorf("missing reference: %v", err)
	}
}

func TestVerdict(t *testing.T) {
	for _, tc := range []struct {
		f    FamilyFit
		want string
	}{
		{FamilyFit{Family: "dense", LineDiff: math.NaN()}, "dense: the reference"},
		{FamilyFit{Family: "a", LineDiff: 0.02, LineLo: 0.01, LineHi: 0.03}, "a: steeper"},
		{FamilyFit{Family: "b", LineDiff: -0.02, LineLo: -0.03, LineHi: -0.01}, "b: shallower"},
		{FamilyFit{Family: "c", LineDiff: 0.01, LineLo: -0.01, LineHi: 0.03}, "c: not distinguishable"},
	} {
		if got := Verdict(tc.f); !strings.HasPrefix(got, tc.want) {
			t.Errorf("Verdict = %q, want prefix %q", got, tc.want)
		}
	}
}

func TestAnalyzeLeavesOutUnfinishedFamilies(t *testing.T) {
	var rs []Result
	for _, c := range []float64{1e11, 1e12, 1e13, 1e14} {
		rs = append(rs, Result{Name: "4x64-dense-s0", TrainFLOPs: c, ValLoss: 1.5 + 40*math.Pow(c, -0.1)})
	}
	rs = append(rs, Result{Name: "4x64-lowrank32-s0", TrainFLOPs: 1e11, ValLoss: 3})
	fits, err := Analyze(rs, "dense", 20, 1)
	if err != nil || len(fits) != 1 || fits[0].Family != "dense" {
		t.Errorf("fits %+v, %v: want dense only", fits, err)
	}
	if got := Families(rs); strings.Join(got, ",") != "dense,lowrank32" {
		t.Errorf("Families = %v", got)
	}
	if _, err := Analyze(rs[2:], "dense", 20, 1); err == nil || !strings.Contains(err.Error(), "needs 4 runs at 3 sizes") {
		t.Errorf("reference with 1 size: %v", err)
	}
}

func TestLogLogLine(t *testing.T) {
	var exact, noisy []Point
	for i, c := range []float64{1e10, 1e11, 1e12, 1e13, 1e14} {
		exact = append(exact, Point{C: c, L: 30 * math.Pow(c, -0.08)})
		noisy = append(noisy, Point{C: c, L: 30 * math.Pow(c, -0.08) * math.Exp(0.01*math.Sin(float64(3*i)))})
	}
	line, err := FitLogLogLine(exact)
	if err != nil || math.Abs(line.Slope-0.08) > 1e-12 || line.SE > 1e-12 {
		t.Fatalf("exact power law: %+v, %v", line, err)
	}
	l2, err := FitLogLogLine(noisy)
	if err != nil || !(l2.Lo < 0.08 && 0.08 < l2.Hi) || l2.SE <= 0 {
		t.Errorf("noisy: %+v, %v: the interval should hold 0.08", l2, err)
	}
	steeper := make([]Point, len(exact))
	for i, p := range exact {
		steeper[i] = Point{C: p.C, L: 60 * math.Pow(p.C, -0.10) * math.Exp(0.01*math.Cos(float64(5*i)))}
	}
	l3, _ := FitLogLogLine(steeper)
	if d, lo, hi := SlopeDifference(l3, l2); math.Abs(d-0.02) > 0.01 || lo <= 0 || hi <= d {
		t.Errorf("slope difference %.4f (%.4f, %.4f), want about +0.02 above 0", d, lo, hi)
	}
	if _, err := FitLogLogLine(exact[:2]); err == nil {
		t.Errorf("two points accepted")
	}
}
