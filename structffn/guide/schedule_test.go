package guide

import (
	"math"
	"math/rand/v2"
	"testing"
)

func TestAlpha(t *testing.T) {
	const T = 100
	cases := []struct {
		name string
		s    Schedule
		step int64
		want float64
	}{
		{"cosine at 0", Schedule{Cosine, T}, 0, 1},
		{"cosine at T/2", Schedule{Cosine, T}, T / 2, 0.5},
		{"cosine at T/4", Schedule{Cosine, T}, T / 4, 0.5 * (1 + math.Sqrt2/2)},
		{"cosine at T", Schedule{Cosine, T}, T, 0},
		{"cosine at T+1", Schedule{Cosine, T}, T + 1, 0},
		{"default kind is cosine", Schedule{"", T}, T / 4, 0.5 * (1 + math.Sqrt2/2)},
		{"linear at 0", Schedule{Linear, T}, 0, 1},
		{"linear at T/2", Schedule{Linear, T}, T / 2, 0.5},
		{"linear at T/4", Schedule{Linear, T}, T / 4, 0.75},
		{"linear at T", Schedule{Linear, T}, T, 0},
		{"linear at T+1", Schedule{Linear, T}, T + 1, 0},
		{"no guidance at 0", Schedule{Cosine, 0}, 0, 0},
		{"no guidance later", Schedule{Linear, 0}, 7, 0},
		{"negative step is step 0", Schedule{Cosine, T}, -3, 1},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			if got := c.s.Alpha(c.step); math.Abs(got-c.want) > 1e-12 {
				t.Errorf("Alpha(%d) = %v, want %v", c.step, got, c.want)
			}
		})
	}
}

func TestAlphaMonotone(t *testing.T) {
	for _, kind := range []string{Cosine, Linear} {
		s := Schedule{kind, 37}
		prev := math.Inf(1)
		for step := int64(0); step <= s.Steps+2; step++ {
			a := s.Alpha(step)
			if a < 0 || a > 1 || a > prev {
				t.Fatalf("%s: α(%d) = %v after %v: want non-increasing in [0, 1]", kind, step, a, prev)
			}
			prev = a
		}
	}
}

func TestValidate(t *testing.T) {
	cases := []struct {
		s       Schedule
		wantErr bool
	}{
		{Schedule{Cosine, 10}, false},
		{Schedule{Linear, 0}, false},
		{Schedule{"", 5}, false},
		{Schedule{"exp", 5}, true},
		{Schedule{Cosine, -1}, true},
	}
	for _, c := range cases {
		if err := c.s.Validate(); (err != nil) != c.wantErr {
			t.Errorf("%+v.Validate() = %v, want error %v", c.s, err, c.wantErr)
		}
	}
}

func TestWindow(t *testing.T) {
	cases := []struct {
		total int64
		ratio float64
		want  int64
	}{
		{4196, 0.5, 2098},
		{101, 0.5, 50}, // floored
		{1000, 0.3, 300},
		{7, 1, 7},
		{100, 0, 0},
		{0, 0.5, 0},
		{-5, 0.5, 0},
	}
	for _, c := range cases {
		if got := Window(c.total, c.ratio); got != c.want {
			t.Errorf("Window(%d, %g) = %d, want %d", c.total, c.ratio, got, c.want)
		}
	}
}

func TestExpectedGuideFraction(t *testing.T) {
	// Over [0, T) both schedules average exactly 0.5 + 1/(2T): cos(πt/T) cancels in pairs t, T−t,
	// leaving cos 0 = 1; and 1 − t/T averages 1 − (T−1)/(2T).
	cases := []struct {
		name     string
		s        Schedule
		from, to int64
		want     float64
	}{
		{"cosine over the window", Schedule{Cosine, 1000}, 0, 1000, 0.5 + 0.5/1000},
		{"linear over the window", Schedule{Linear, 1000}, 0, 1000, 0.5 + 0.5/1000},
		{"cosine over twice the window", Schedule{Cosine, 1000}, 0, 2000, (0.5 + 0.5/1000) / 2},
		{"after the window", Schedule{Cosine, 1000}, 1000, 3000, 0},
		{"first step only", Schedule{Linear, 10}, 0, 1, 1},
		{"empty range", Schedule{Cosine, 10}, 5, 5, 0},
		{"no guidance", Schedule{Cosine, 0}, 0, 100, 0},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			if got := ExpectedGuideFraction(c.s, c.from, c.to); math.Abs(got-c.want) > 1e-9 {
				t.Errorf("ExpectedGuideFraction = %v, want %v", got, c.want)
			}
		})
	}
	if got := ExpectedGuideFraction(Schedule{Cosine, 4096}, 0, 4096); math.Abs(got-0.5) > 1e-3 {
		t.Errorf("cosine mean α over [0, T) = %v, want ≈ 0.5", got)
	}
}

func TestSkipStatistics(t *testing.T) {
	const n = 200_000
	rng := rand.New(rand.NewPCG(1, 2))
	for _, alpha := range []float64{0, 0.01, 0.25, 0.5, 0.9, 1} {
		ran := 0
		for range n {
			if !Skip(rng.Float64(), alpha) {
				ran++
			}
		}
		got := float64(ran) / n
		se := math.Sqrt(alpha * (1 - alpha) / n)
		if math.Abs(got-alpha) > 4*se+1e-12 {
			t.Errorf("α = %v: guide ran in %.5f of draws, want %v ± %.5f (4 s.e.)", alpha, got, alpha, 4*se)
		}
	}
}

func TestSkipEdges(t *testing.T) {
	cases := []struct {
		u, alpha float64
		want     bool
	}{
		{0, 0, true},       // α = 0: always skip
		{0.999, 1, false},  // α = 1: never skip (u < 1)
		{0.5, 0.5, true},   // u ≥ α skips
		{0.49, 0.5, false}, // u < α runs the guide
	}
	for _, c := range cases {
		if got := Skip(c.u, c.alpha); got != c.want {
			t.Errorf("Skip(%v, %v) = %v, want %v", c.u, c.alpha, got, c.want)
		}
	}
}
