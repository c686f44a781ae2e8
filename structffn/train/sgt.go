package train

import (
	"fmt"

	"github.com/gomlx/gomlx/pkg/ml/context"

	"github.com/structffn/structffn/structffn/data"
	"github.com/structffn/structffn/structffn/guide"
	"github.com/structffn/structffn/structffn/linear"
	"github.com/structffn/structffn/structffn/model"
)

// Self-guided training hyperparameters (PAPER.md §3).
const (
	ParamSGT         = "sgt"          // "off", "steps" (guide over the first sgt_ratio of the steps, same tokens) or "flops" (matched to the dense model's FLOPs: guided p·N steps replayed at the end).
	ParamSGTSchedule = "sgt_schedule" // α schedule over the guided window: cosine or linear.
	ParamSGTRatio    = "sgt_ratio"    // Guided fraction of the steps in "steps" mode (the paper's 0.5).
)

// sgtPlan is how a run guides: the α schedule (Steps = 0: no guide), and the step plan (the
// optimizer steps, and which data step each trains on).
type sgtPlan struct {
	mode     string
	schedule guide.Schedule
	plan     guide.Plan
	matrices int // structured FFN matrices (each with a guide)
}

// newSGTPlan resolves ctx's SGT settings for a model of cfg trained n base steps.
func newSGTPlan(ctx *context.Context, cfg model.Config, n int64) (sgtPlan, error) {
	s := sgtPlan{mode: context.GetParamOr(ctx, ParamSGT, "off"), plan: guide.Plan{BaseSteps: n, TotalSteps: n},
		matrices: guide.GuidedMatrices(cfg)}
	kind := context.GetParamOr(ctx, ParamSGTSchedule, guide.Cosine)
	switch s.mode {
	case "off", "":
		s.mode = "off"
		return s, nil
	case "steps", "flops":
	default:
		return s, fmt.Errorf("unknown sgt %q: allowed values are off, steps, flops", s.mode)
	}
	if cfg.Structure == linear.Dense {
		return s, fmt.Errorf("sgt=%s needs a structured FFN to guide: -set structure=lowrank (or blockdense, blockshuffle)", s.mode)
	}
	if s.mode == "steps" {
		ratio := context.GetParamOr(ctx, ParamSGTRatio, 0.5)
		if !(ratio > 0 && ratio <= 1) {
			return s, fmt.Errorf("sgt_ratio %g must be in (0, 1]", ratio)
		}
		s.schedule = guide.Schedule{Kind: kind, Steps: guide.Window(n, ratio)}
		s.plan.GuidedSteps = s.schedule.Steps
	} else {
		dense, err := cfg.WithStructure(linear.Dense, 1)
		if err != nil {
			return s, err
		}
		p, err := guide.SolveP(dense, cfg)
		if err != nil {
			return s, err
		}
		if s.plan, err = guide.NewPlan(n, p); err != nil {
			return s, err
		}
		s.schedule = guide.Schedule{Kind: kind, Steps: s.plan.GuidedSteps}
	}
	return s, s.schedule.Validate()
}

// MaxPatternMatrices bounds the models whose skip decisions are drawn on the host, one compiled graph
// per pattern (2^n at most), so that a skipped guide costs nothing. Models with more structured
// matrices use one graph that draws u in-graph and masks the guide (same distribution, full cost).
const MaxPatternMatrices = 6

// spec is the trainer's graph key for an optimizer step: nil (the plain graph: outside the window,
// or every guide skipped), a guide.Pattern's string, or "guided" (the masked graph).
func (s sgtPlan) spec(seed uint64, step int64) any {
	if s.schedule.Steps == 0 || step >= s.schedule.Steps {
		return nil
	}
	if s.matrices > MaxPatternMatrices {
		return "guided"
	}
	p := s.schedule.DrawPattern(seed, step, s.matrices)
	if !p.Any() {
		return nil
	}
	return p.String()
}

// guideFLOPs is the expected training FLOPs of the guides over the first done steps.
func (s sgtPlan) guideFLOPs(cfg model.Config, done int64) float64 {
	if s.schedule.Steps == 0 {
		return 0
	}
	return guide.GuideTrainFLOPs(cfg, s.schedule, 0, done)
}

// Planned is what a run of a context's hyperparameters will do, worked out before any data is read:
// its model (with the vocabulary its tokenizer setting gives), its optimizer
// steps (with fixed-FLOPs SGT's replay), the tokens it trains on and its training FLOPs, the
// guides' expected cost included.
type Planned struct {
	Config     model.Config
	Steps      int64
	Tokens     int64
	TrainFLOPs float64
	SGT        string // off, steps or flops
}

// Plan resolves ctx's hyperparameters into a Planned run (sweeps use it for their dry run).
func Plan(ctx *context.Context) (Planned, error) {
	cfg, err := ModelConfig(ctx)
	if err != nil {
		return Planned{}, err
	}
	if n, ok := data.SpecVocabSize(TokenizerSpec(ctx, cfg)); ok {
		cfg.Vocab = n
	}
	if err := cfg.Validate(); err != nil {
		return Planned{}, err
	}
	base := cfg.Steps()
	if base <= 0 {
		return Planned{}, fmt.Errorf("the token budget %d buys no step of %d tokens: -set train_steps=N", cfg.Tokens, cfg.TokensPerStep())
	}
	s, err := newSGTPlan(ctx, cfg, base)
	if err != nil {
		return Planned{}, err
	}
	steps := s.plan.TotalSteps
	flops := float64(cfg.TrainFLOPsPerToken())*float64(cfg.TokensPerStep())*float64(steps) + s.guideFLOPs(cfg, steps)
	return Planned{Config: cfg, Steps: steps, Tokens: steps * cfg.TokensPerStep(), TrainFLOPs: flops, SGT: s.mode}, nil
}
