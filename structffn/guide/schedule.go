// Package guide is the host-side (non-graph) part of self-guided training (SGT, docs/METHOD.md §3): the
// α schedules that blend each structured matrix with its dense guide, the stochastic skip rule that
// makes guiding cost α × a dense layer on average, the FLOP accounting of the guides, the
// fixed-FLOPs solve for p (guide over the first p·N steps of N, matched to the dense model's FLOPs)
// and the replay plan that trains N(1+p) steps by replaying the data of the guided steps at the end.
package guide

import (
	"fmt"
	"math"
)

// Schedule kinds accepted by Schedule.Kind.
const (
	Cosine = "cosine" // α(t) = 0.5·(1+cos(π·t/T)); the paper's schedule and the default ("" too).
	Linear = "linear" // α(t) = 1 − t/T.
)

// Schedule is the guide weight α over optimizer steps (docs/METHOD.md §3). The output of a guided layer
// is α·W x + (1−α)·f_struct(x). After Steps optimizer steps α is 0 and the guide is switched off.
type Schedule struct {
	Kind  string `json:"kind"`  // Cosine (default, also when empty) or Linear.
	Steps int64  `json:"steps"` // T, the guided window in optimizer steps; 0 means no guidance.
}

// Validate reports an unknown kind or a negative window.
func (s Schedule) Validate() error {
	switch s.Kind {
	case "", Cosine, Linear:
	default:
		return fmt.Errorf("guide schedule: unknown kind %q: allowed values are %q and %q", s.Kind, Cosine, Linear)
	}
	if s.Steps < 0 {
		return fmt.Errorf("guide schedule: steps must be non-negative (got %d)", s.Steps)
	}
	return nil
}

// Alpha is α at the 0-based optimizer step: 1 at step 0, falling to 0 at step T and staying 0
// after. A zero (or negative) window gives 0 at every step; a negative step is treated as step 0.
// An unknown kind is treated as cosine (call Validate to reject it).
func (s Schedule) Alpha(step int64) float64 {
	if s.Steps <= 0 || step >= s.Steps {
		return 0
	}
	if step < 0 {
		step = 0
	}
	x := float64(step) / float64(s.Steps)
	if s.Kind == Linear {
		return 1 - x
	}
	return 0.5 * (1 + math.Cos(math.Pi*x))
}

// Window is the guided window T = floor(totalSteps·ratio) (docs/METHOD.md §3); ratio 0.5 is the paper's
// fixed-steps mode. Non-positive inputs give 0.
func Window(totalSteps int64, ratio float64) int64 {
	if totalSteps <= 0 || !(ratio > 0) {
		return 0
	}
	return int64(math.Floor(float64(totalSteps) * ratio))
}

// Skip is the paper's cost-saving rule: each layer, on each forward call, draws u ~ U(0,1) and
// skips its guide (o = f_struct(x)) when u ≥ α. The guide therefore runs with probability α.
func Skip(u, alpha float64) bool { return u >= alpha }

// ExpectedGuideFraction is the mean of α over the optimizer steps [from, to): the expected fraction
// of those steps in which a given layer runs its guide under Skip. An empty range gives 0.
func ExpectedGuideFraction(s Schedule, from, to int64) float64 {
	if to <= from {
		return 0
	}
	sum := 0.0
	for t := max(from, 0); t < min(to, s.Steps); t++ {
		sum += s.Alpha(t)
	}
	return sum / float64(to-from)
}
