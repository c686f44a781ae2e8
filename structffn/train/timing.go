package train

import (
	"fmt"
	"math/rand/v2"
	"slices"
	"time"

	"github.com/gomlx/gomlx/pkg/ml/context"

	"github.com/structffn/structffn/structffn/model"
)

// StepTiming is the measured throughput of a Stepper's plain training steps on random tokens
// (TimeSteps).
type StepTiming struct {
	FirstStep time.Duration // The first step's wall time, compilation included.
	Steps     int           // Steps timed after the warm-up.
	Elapsed   time.Duration // Their wall time.
	Loss      float64       // The last timed step's loss (random tokens: a sanity check only).
	Tokens    int64         // Tokens per step.
	// PerStep holds each timed step's wall time.
	PerStep []time.Duration
}

// TokPerS is the timed steps' training tokens per second.
func (t StepTiming) TokPerS() float64 {
	return float64(t.Steps) * float64(t.Tokens) / t.Elapsed.Seconds()
}

// MedianTokPerS is the tokens per second of the median timed step: unlike the mean, it ignores
// a few steps slowed by another process on a shared machine.
func (t StepTiming) MedianTokPerS() float64 {
	if len(t.PerStep) == 0 {
		return 0
	}
	s := slices.Clone(t.PerStep)
	slices.Sort(s)
	mid := s[len(s)/2]
	if len(s)%2 == 0 {
		mid = (s[len(s)/2-1] + mid) / 2
	}
	return float64(t.Tokens) / mid.Seconds()
}

// MsPerStep is the timed steps' mean wall time in milliseconds.
func (t StepTiming) MsPerStep() float64 {
	return t.Elapsed.Seconds() * 1000 / float64(t.Steps)
}

// TimeSteps runs warmup untimed plain training steps of st (at least one: the compilation), then
// at least minSteps timed steps and for at least minTime, on RandomBatches of st's model.
func TimeSteps(st *Stepper, warmup, minSteps int, minTime time.Duration) (StepTiming, error) {
	batch := RandomBatches(st.Config)
	step := func() (float64, error) {
		in, tg := batch()
		return st.TrainStep(false, in, tg, nil)
	}
	t := StepTiming{Tokens: st.Config.TokensPerStep()}
	for i := range max(1, warmup) {
		t0 := time.Now()
		if _, err := step(); err != nil {
			return t, err
		}
		if i == 0 {
			t.FirstStep = time.Since(t0)
		}
	}
	start := time.Now()
	for t.Steps < max(1, minSteps) || time.Since(start) < minTime {
		t0 := time.Now()
		l, err := step()
		if err != nil {
			return t, err
		}
		t.PerStep = append(t.PerStep, time.Since(t0))
		t.Loss = l
		t.Steps++
	}
	t.Elapsed = time.Since(start)
	return t, nil
}

// RandomBatches returns a generator of random training batches of cfg's shape (token ids and
// targets, [batch·context] each), the same sequence on every call of RandomBatches.
func RandomBatches(cfg model.Config) func() (inputs, targets []int32) {
	r := rand.New(rand.NewPCG(3, 3))
	ids := func() []int32 {
		v := make([]int32, cfg.Batch*cfg.Context)
		for i := range v {
			v[i] = int32(r.IntN(cfg.Vocab))
		}
		return v
	}
	return func() ([]int32, []int32) { return ids(), ids() }
}

// FreshContext is a new context with ctx's hyperparameters and none of its variables: a model built
// on it starts from its initialisation, and nothing done with it touches ctx.
func FreshContext(ctx *context.Context) *context.Context {
	fresh := context.New()
	ctx.EnumerateParams(func(scope, key string, value any) { fresh.InAbsPath(scope).SetParam(key, value) })
	return fresh.Checked(false)
}

// RecoverAs, deferred, turns a panic of the graph code (GoMLX reports shape and backend errors by
// panicking) into *err, prefixed with what was being done.
func RecoverAs(err *error, what string) {
	if e := recover(); e != nil {
		*err = fmt.Errorf("%s: %v", what, e)
	}
}
