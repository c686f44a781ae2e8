package guide

import "testing"

func TestNewPlan(t *testing.T) {
	cases := []struct {
		n       int64
		p       float64
		want    Plan
		wantErr bool
	}{
		{100, 0.3, Plan{100, 30, 130}, false},
		{4196, 0.30075, Plan{4196, 1262, 5458}, false}, // round(1261.9)
		{10, 0.25, Plan{10, 3, 13}, false},             // round half away from zero: 2.5 → 3
		{10, 0, Plan{10, 0, 10}, false},
		{0, 0.3, Plan{}, true},
		{10, -0.1, Plan{}, true},
		{10, 1.5, Plan{}, true},
	}
	for _, c := range cases {
		got, err := NewPlan(c.n, c.p)
		if (err != nil) != c.wantErr {
			t.Errorf("NewPlan(%d, %g) error = %v, want error %v", c.n, c.p, err, c.wantErr)
			continue
		}
		if got != c.want {
			t.Errorf("NewPlan(%d, %g) = %+v, want %+v", c.n, c.p, got, c.want)
		}
	}
}

// TestNewPlanFloor: the reference's window int(N·p) for p given with two decimals; the s preset's
// 4196 steps at p = 0.30 guide 1258 (the exact p's round gives 1262, TestNewPlan).
func TestNewPlanFloor(t *testing.T) {
	for _, c := range []struct {
		n    int64
		p    float64
		want Plan
	}{
		{4196, 0.30, Plan{4196, 1258, 5454}},
		{100, 0.29, Plan{100, 28, 128}}, // 100·0.29 = 28.999999999999996 in float64, as in Python
		{10, 0.25, Plan{10, 2, 12}},
	} {
		got, err := NewPlanFloor(c.n, c.p)
		if err != nil || got != c.want {
			t.Errorf("NewPlanFloor(%d, %g) = %+v, %v; want %+v", c.n, c.p, got, err, c.want)
		}
	}
	if _, err := NewPlanFloor(10, 1.5); err == nil {
		t.Error("NewPlanFloor accepted p = 1.5")
	}
}

func TestPlanMapping(t *testing.T) {
	p := Plan{BaseSteps: 10, GuidedSteps: 3, TotalSteps: 13}
	cases := []struct {
		step   int64
		data   int64
		guided bool
	}{
		{0, 0, true},
		{2, 2, true},
		{3, 3, false},
		{9, 9, false},
		{10, 0, false}, // replay of step 0, unguided
		{11, 1, false},
		{12, 2, false},
	}
	for _, c := range cases {
		if got := p.DataStep(c.step); got != c.data {
			t.Errorf("DataStep(%d) = %d, want %d", c.step, got, c.data)
		}
		if got := p.Guided(c.step); got != c.guided {
			t.Errorf("Guided(%d) = %v, want %v", c.step, got, c.guided)
		}
	}
}

func TestPlanCoversData(t *testing.T) {
	// Every base batch is seen once, the guided batches exactly twice, nothing beyond N.
	plan, err := NewPlan(1000, 0.43)
	if err != nil {
		t.Fatal(err)
	}
	seen := make([]int, plan.BaseSteps)
	guided := 0
	for step := range plan.TotalSteps {
		d := plan.DataStep(step)
		if d < 0 || d >= plan.BaseSteps {
			t.Fatalf("DataStep(%d) = %d outside [0, %d)", step, d, plan.BaseSteps)
		}
		seen[d]++
		if plan.Guided(step) {
			guided++
		}
	}
	for d, n := range seen {
		want := 1
		if int64(d) < plan.GuidedSteps {
			want = 2
		}
		if n != want {
			t.Fatalf("data step %d trained %d times, want %d", d, n, want)
		}
	}
	if int64(guided) != plan.GuidedSteps {
		t.Errorf("%d guided steps, want %d", guided, plan.GuidedSteps)
	}
	if s := plan.Schedule(); s.Kind != Cosine || s.Steps != plan.GuidedSteps {
		t.Errorf("Schedule() = %+v, want cosine over %d steps", s, plan.GuidedSteps)
	}
}
