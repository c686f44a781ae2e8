package guide

import (
	"fmt"
	"math"
)

// Plan is the fixed-FLOPs mode's step plan (docs/METHOD.md §3): guide over the first GuidedSteps optimizer
// steps, train on the base data for BaseSteps, then replay the data of the first GuidedSteps steps
// without guide, for TotalSteps = BaseSteps + GuidedSteps in all (the LR schedule spans TotalSteps).
type Plan struct {
	BaseSteps   int64 `json:"base_steps"`   // N, the steps of the baseline's data.
	GuidedSteps int64 `json:"guided_steps"` // round(p·N) (NewPlanFloor: floor), guided at the start and replayed at the end.
	TotalSteps  int64 `json:"total_steps"`  // N + GuidedSteps.
}

// NewPlan builds the plan for N base steps and the fraction p (from SolveP); p must be in [0, 1].
func NewPlan(n int64, p float64) (Plan, error) {
	if n <= 0 {
		return Plan{}, fmt.Errorf("guide plan: base steps must be positive (got %d)", n)
	}
	if !(p >= 0 && p <= 1) {
		return Plan{}, fmt.Errorf("guide plan: p must be in [0, 1] (got %g)", p)
	}
	g := int64(math.Round(p * float64(n)))
	return Plan{BaseSteps: n, GuidedSteps: g, TotalSteps: n + g}, nil
}

// NewPlanFloor is NewPlan with the window floor(p·N), as the reference code computes it
// (int(max_step · ratio)) from the p it is given with two decimals (0.30 for s gives 1258 guided
// steps of 4196 where the exact p gives 1262).
func NewPlanFloor(n int64, p float64) (Plan, error) {
	pl, err := NewPlan(n, p)
	if err != nil {
		return pl, err
	}
	pl.GuidedSteps = int64(math.Floor(p * float64(n)))
	pl.TotalSteps = n + pl.GuidedSteps
	return pl, nil
}

// Schedule is the cosine α schedule over the plan's guided window.
func (p Plan) Schedule() Schedule { return Schedule{Kind: Cosine, Steps: p.GuidedSteps} }

// DataStep maps an optimizer step to the data step whose batch it trains on: steps below
// BaseSteps train on their own batch, steps BaseSteps..TotalSteps−1 replay batches
// 0..GuidedSteps−1. The result for a step outside [0, TotalSteps) is not meaningful.
func (p Plan) DataStep(step int64) int64 {
	if step < p.BaseSteps {
		return step
	}
	return step - p.BaseSteps
}

// Guided reports whether the step is inside the guided window [0, GuidedSteps); the replayed
// steps at the end are never guided.
func (p Plan) Guided(step int64) bool { return step >= 0 && step < p.GuidedSteps }
