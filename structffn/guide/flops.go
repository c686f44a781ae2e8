package guide

import (
	"fmt"

	"github.com/structffn/structffn/structffn/linear"
	"github.com/structffn/structffn/structffn/model"
)

// GuideFLOPsPerToken is the forward FLOPs per token of all guides of cfg: each structured FFN
// matrix (M×N) has a dense guide costing 2·M·N per token, so each structured block adds
// 2·(d·f + f·d). Blocks whose FFN is dense (the first block unless cfg.AllStructured, or every block
// of a dense model) have no guide.
func GuideFLOPsPerToken(cfg model.Config) int64 {
	var total int64
	for _, s := range guidedSpecs(cfg) {
		total += 2 * s.DenseParams()
	}
	return total
}

// guidedSpecs lists cfg's structured FFN matrices, each of which has a guide, in build order.
func guidedSpecs(cfg model.Config) []linear.Spec {
	var specs []linear.Spec
	for layer := range cfg.Layers {
		fc1, fc2 := cfg.FFNSpecs(layer)
		for _, s := range []linear.Spec{fc1, fc2} {
			if s.Kind != linear.Dense {
				specs = append(specs, s)
			}
		}
	}
	return specs
}

// GuideTrainFLOPsPerToken is 3 × GuideFLOPsPerToken (forward + backward, the paper's convention):
// the training cost per token of running every guide on every step.
func GuideTrainFLOPsPerToken(cfg model.Config) int64 { return 3 * GuideFLOPsPerToken(cfg) }

// GuideTrainFLOPs is the expected training FLOPs of the guides of cfg over the optimizer steps
// [from, to) under schedule s and the Skip rule: 3 × forward × mean α × tokens.
func GuideTrainFLOPs(cfg model.Config, s Schedule, from, to int64) float64 {
	if to <= from {
		return 0
	}
	tokens := float64(to-from) * float64(cfg.TokensPerStep())
	return float64(GuideTrainFLOPsPerToken(cfg)) * ExpectedGuideFraction(s, from, to) * tokens
}

// SolveP is the fixed-FLOPs mode's p (docs/METHOD.md §3): the structured model trains N(1+p) steps and
// guides over the first p·N of them with a cosine α (mean α = 0.5), so that its training FLOPs
// match the dense model's N steps:
//
//	C_dense = C_struct·(1+p) + 0.5·G·p  ⇒  p = (C_dense − C_struct) / (C_struct + 0.5·G)
//
// with C the training FLOPs (3 × forward) and G the guides' training FLOPs (3 × forward), all per
// token: the number of tokens cancels. The result reproduces the paper's eight published p values
// (32% setting) when rounded to two decimals. It is an error when structured has no guides or is
// not cheaper than dense, or when the two configs differ outside the FFN structure.
func SolveP(dense, structured model.Config) (float64, error) {
	if err := sameShape(dense, structured); err != nil {
		return 0, err
	}
	g := float64(GuideTrainFLOPsPerToken(structured))
	if g == 0 {
		return 0, fmt.Errorf("guide: the structured config (%s) has no structured FFN, so nothing to guide", structured.Structure)
	}
	cd := float64(dense.TrainFLOPsPerToken())
	cs := float64(structured.TrainFLOPsPerToken())
	if cd <= cs {
		return 0, fmt.Errorf("guide: the structured model (%.4g FLOPs/token) is not cheaper than the dense one (%.4g): no FLOPs to spend on guiding", cs, cd)
	}
	return (cd - cs) / (cs + 0.5*g), nil
}

// sameShape checks that two configs differ at most in their FFN structure.
func sameShape(a, b model.Config) error {
	a.Name, b.Name = "", ""
	a.Structure, a.Rank, a.NBlocks, a.AllStructured = 0, 0, 0, false
	b.Structure, b.Rank, b.NBlocks, b.AllStructured = 0, 0, 0, false
	if a != b {
		return fmt.Errorf("guide: the dense and structured configs must differ only in FFN structure (dense %+v, structured %+v)", a, b)
	}
	return nil
}

// Cost is what self-guided training adds to a structured model's run, as training FLOPs relative
// to the plain run of the structured model over the same N base steps: by the paper's accounting
// (each guide at α × a dense layer in expectation) and as the guided graph computes it (every guide
// on every step of the window, the skipped ones masked; an upper bound, since steps whose draw
// skips every guide may run the plain graph).
type Cost struct {
	Matrices   int     `json:"matrices"`    // guided matrices
	GuideShare float64 `json:"guide_share"` // g: the guides' training FLOPs per token over the structured model's
	P          float64 `json:"p"`           // fixed-FLOPs p (SolveP)
	// Fixed-steps mode, guided over the first floor(N·ratio) of N steps.
	StepsExpected float64 `json:"steps_expected"`
	StepsComputed float64 `json:"steps_computed"`
	// Fixed-FLOPs mode: N(1+p) steps, guided over the first round(p·N).
	FLOPsExpected float64 `json:"flops_expected"`
	FLOPsComputed float64 `json:"flops_computed"`
}

// SGTCost is Cost for structured (the same shape as dense but for the FFN) trained n base steps,
// with the fixed-steps window ratio and the cosine schedule.
func SGTCost(dense, structured model.Config, n int64, ratio float64) (Cost, error) {
	p, err := SolveP(dense, structured)
	if err != nil {
		return Cost{}, err
	}
	plan, err := NewPlan(n, p)
	if err != nil {
		return Cost{}, err
	}
	c := Cost{Matrices: GuidedMatrices(structured), P: p}
	perToken := float64(structured.TrainFLOPsPerToken())
	c.GuideShare = float64(GuideTrainFLOPsPerToken(structured)) / perToken
	plain := perToken * float64(n) // per token of a step: tokens per step cancel
	steps := Schedule{Kind: Cosine, Steps: Window(n, ratio)}
	c.StepsExpected = 1 + c.GuideShare*ExpectedGuideFraction(steps, 0, n)
	c.StepsComputed = 1 + c.GuideShare*float64(steps.Steps)/float64(n)
	flops := plan.Schedule()
	base := perToken * float64(plan.TotalSteps)
	c.FLOPsExpected = (base + c.GuideShare*perToken*ExpectedGuideFraction(flops, 0, plan.TotalSteps)*float64(plan.TotalSteps)) / plain
	c.FLOPsComputed = (base + c.GuideShare*perToken*float64(plan.GuidedSteps)) / plain
	return c, nil
}
