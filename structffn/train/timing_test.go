package train

import (
	"errors"
	"fmt"
	"math"
	"testing"
	"time"
)

func TestRecoverAs(t *testing.T) {
	run := func(panicWith any) (err error) {
		defer RecoverAs(&err, "bench test")
		if panicWith != nil {
			panic(panicWith)
		}
		return nil
	}
	for _, tc := range []struct {
		panicWith any
		want      string
	}{
		{nil, ""},
		{"shape mismatch", "bench test: shape mismatch"},
		{errors.New("backend gone"), "bench test: backend gone"},
	} {
		err := run(tc.panicWith)
		if got := fmt.Sprint(err); tc.want == "" && err != nil || tc.want != "" && got != tc.want {
			t.Errorf("panic(%v): err %v, want %q", tc.panicWith, err, tc.want)
		}
	}
}

func TestMedianTokPerS(t *testing.T) {
	ms := time.Millisecond
	for _, tc := range []struct {
		steps []time.Duration
		want  float64
	}{
		{nil, 0},
		{[]time.Duration{100 * ms}, 10_000},
		{[]time.Duration{100 * ms, 900 * ms, 100 * ms}, 10_000},           // one slowed step does not count
		{[]time.Duration{100 * ms, 300 * ms, 200 * ms, 5000 * ms}, 4_000}, // even count: the middle two's mean, 250 ms
	} {
		st := StepTiming{Tokens: 1000, PerStep: tc.steps}
		if got := st.MedianTokPerS(); math.Abs(got-tc.want) > 1e-6 {
			t.Errorf("%v: %.3f tok/s, want %.3f", tc.steps, got, tc.want)
		}
	}
}
