package train

import (
	"fmt"
	"strings"
	"time"

	"github.com/gomlx/gomlx/pkg/core/tensors"
	"github.com/gomlx/gomlx/pkg/ml/context"

	"github.com/structffn/structffn/structffn/data"
	"github.com/structffn/structffn/structffn/guide"
	"github.com/structffn/structffn/structffn/linear"
	"github.com/structffn/structffn/structffn/model"
)

// Self-guided training hyperparameters (docs/METHOD.md §3); their defaults and meanings are in defaults.
const (
	ParamSGT          = "sgt"
	ParamSGTSchedule  = "sgt_schedule"
	ParamSGTRatio     = "sgt_ratio"
	ParamSGTP         = "sgt_p"
	ParamSGTSkip      = "sgt_skip"
	ParamSGTDraw      = "sgt_draw"
	ParamSGTGuideInit = "sgt_guide_init"
)

// SGT is a run's self-guided training, resolved from its settings once: the mode, the α schedule
// (Steps = 0: no guide), the step plan (the optimizer steps, and the data step each trains on), the
// skip rules and the guides' initialisation.
type SGT struct {
	Mode     guide.Mode
	Schedule guide.Schedule
	Plan     guide.Plan
	P        float64 // flops mode: the p of the plan (given, or solved)
	Skip     guide.SkipRule
	Draw     guide.DrawUnit
	Init     guide.InitRule
	Matrices int // structured FFN matrices, each with a guide
}

// NewSGT resolves ctx's SGT settings for a model of cfg trained n base steps.
func NewSGT(ctx *context.Context, cfg model.Config, n int64) (SGT, error) {
	s := SGT{Plan: guide.Plan{BaseSteps: n, TotalSteps: n}, Matrices: guide.GuidedMatrices(cfg)}
	var err error
	if s.Mode, err = guide.ParseMode(Param[string](ctx, ParamSGT)); err != nil {
		return s, err
	}
	if s.Skip, err = guide.ParseSkipRule(Param[string](ctx, ParamSGTSkip)); err != nil {
		return s, err
	}
	if s.Draw, err = guide.ParseDrawUnit(Param[string](ctx, ParamSGTDraw)); err != nil {
		return s, err
	}
	if s.Init, err = guide.ParseInitRule(Param[string](ctx, ParamSGTGuideInit)); err != nil {
		return s, err
	}
	kind := strings.ToLower(strings.TrimSpace(Param[string](ctx, ParamSGTSchedule)))
	if s.Mode == guide.Off {
		return s, nil
	}
	if cfg.Structure == linear.Dense {
		return s, fmt.Errorf("sgt=%s needs a structured FFN to guide: -set structure=lowrank (or blockdense, blockshuffle, monarch, btt)", s.Mode)
	}
	switch s.Mode {
	case guide.FixedSteps:
		ratio := Param[float64](ctx, ParamSGTRatio)
		if !(ratio > 0 && ratio <= 1) {
			return s, fmt.Errorf("-set sgt_ratio=%g must be in (0, 1]", ratio)
		}
		s.Schedule = guide.Schedule{Kind: kind, Steps: guide.Window(n, ratio)}
		s.Plan.GuidedSteps = s.Schedule.Steps
	case guide.FixedFLOPs:
		if s.P = Param[float64](ctx, ParamSGTP); s.P != 0 {
			// The reference passes p rounded (0.30 for s) and guides int(N·p) steps.
			if s.Plan, err = guide.NewPlanFloor(n, s.P); err != nil {
				return s, fmt.Errorf("-set sgt_p=%g: %v", s.P, err)
			}
		} else {
			dense, err := cfg.WithStructure(linear.Dense, 1)
			if err != nil {
				return s, err
			}
			if s.P, err = guide.SolveP(dense, cfg); err != nil {
				return s, err
			}
			if s.Plan, err = guide.NewPlan(n, s.P); err != nil {
				return s, err
			}
		}
		s.Schedule = guide.Schedule{Kind: kind, Steps: s.Plan.GuidedSteps}
	}
	return s, s.Schedule.Validate()
}

// Guides returns the guided layers for this run's model (nil when nothing is guided).
func (s SGT) Guides() *guide.Guides {
	if s.Schedule.Steps == 0 {
		return nil
	}
	return guide.NewGuides(s.Matrices, s.Schedule, s.Init)
}

// InWindow reports whether the optimizer step is guided (α > 0 from its start).
func (s SGT) InWindow(step int64) bool { return step >= 0 && step < s.Schedule.Steps }

// Decisions are one optimizer step's skip decisions: On[k][i] for micro-batch k and matrix i, and
// Update[i], true when matrix i's guide ran in any micro-batch (the optimizer updates it).
type Decisions struct {
	On     [][]bool
	Update []bool
}

// Any reports whether any guide runs on the step.
func (d Decisions) Any() bool {
	for _, u := range d.Update {
		if u {
			return true
		}
	}
	return false
}

// Decide draws the step's decisions for micro micro-batches (Schedule.Draw: a pure function of
// seed and step): one draw shared by all micro-batches, or one per micro-batch (sgt_draw=micro).
// Outside the window every guide is off.
func (s SGT) Decide(seed uint64, step int64, micro int) Decisions {
	d := Decisions{On: make([][]bool, micro), Update: make([]bool, s.Matrices)}
	for k := range micro {
		if !s.InWindow(step) {
			d.On[k] = make([]bool, s.Matrices)
			continue
		}
		if k == 0 || s.Draw == guide.PerMicroBatch {
			d.On[k] = s.Schedule.Draw(seed, step, k, s.Matrices, s.Skip)
		} else {
			d.On[k] = d.On[0]
		}
		for i, on := range d.On[k] {
			d.Update[i] = d.Update[i] || on
		}
	}
	return d
}

// expectedGuideFLOPs is the paper's accounting of the guides over the first done steps: each guide
// costs α × a dense layer in expectation (docs/METHOD.md §3).
func (s SGT) expectedGuideFLOPs(cfg model.Config, done int64) float64 {
	if s.Schedule.Steps == 0 {
		return 0
	}
	return guide.GuideTrainFLOPs(cfg, s.Schedule, 0, done)
}

// BaseSteps is the number of optimizer steps cfg's token budget buys (N, before fixed-FLOPs SGT's
// replay), or an error naming the fix when it buys none.
func BaseSteps(cfg model.Config) (int64, error) {
	n := cfg.Steps()
	if n <= 0 {
		return 0, fmt.Errorf("the token budget %d buys no step of %d tokens: -set train_steps=N", cfg.Tokens, cfg.TokensPerStep())
	}
	return n, nil
}

// Planned is what a run of a context's hyperparameters will do, worked out before any data is read:
// its model (with the vocabulary its tokenizer setting gives), its optimizer steps (with
// fixed-FLOPs SGT's replay), the tokens it trains on and its training FLOPs in the paper's
// accounting (the guides at their expected cost).
type Planned struct {
	Config     model.Config
	Steps      int64
	Tokens     int64
	TrainFLOPs float64
	SGT        guide.Mode
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
	base, err := BaseSteps(cfg)
	if err != nil {
		return Planned{}, err
	}
	s, err := NewSGT(ctx, cfg, base)
	if err != nil {
		return Planned{}, err
	}
	steps := s.Plan.TotalSteps
	flops := float64(cfg.TrainFLOPsPerToken())*float64(cfg.TokensPerStep())*float64(steps) + s.expectedGuideFLOPs(cfg, steps)
	return Planned{Config: cfg, Steps: steps, Tokens: steps * cfg.TokensPerStep(), TrainFLOPs: flops, SGT: s.Mode}, nil
}

// PlanSettings is Plan of the default context with a -set string applied ("key=value;..."): what
// sweeps and notebook grids check every run with before anything trains.
func PlanSettings(settings string) (Planned, error) {
	ctx := DefaultContext()
	if _, err := ApplySettings(ctx, settings); err != nil {
		return Planned{}, err
	}
	return Plan(ctx)
}

// ParamSGTPlainGraph chooses the graph of the steps on which no guide runs (after the window, and
// window steps whose draw skips every guide): "auto" (default) compiles the plain model's graph
// for them when the time it saves, judged from the guided steps' measured times, exceeds the time
// it takes to compile; "always" and "never" fix the choice. Either way the arithmetic is the same
// up to float rounding: the guided graph with every guide masked off computes the plain model.
const ParamSGTPlainGraph = "sgt_plain_graph"

// SGTSteps runs a run's optimizer steps through its Stepper, choosing step by step which graph
// trains: the plain model's without SGT or outside its window, the guided one inside it (with the
// step's skip decisions set before each micro-batch); and for steps on which no guide runs, the
// plain or the guided graph as ParamSGTPlainGraph says, decided once, at the first such step.
// train.Run and the SGT benchmark take their steps through it.
type SGTSteps struct {
	sgt     SGT
	stepper *Stepper
	ctx     *context.Context
	seed    uint64
	total   int64
	policy  string
	plain   *bool           // decided: guide-free steps run the plain graph
	first   time.Duration   // this session's first guided step (compilation included)
	timed   []time.Duration // the later guided steps' durations
	Note    string          // the decision, explained (once, for the log)

	guidedFLOPsPerStep float64           // the guides' training FLOPs of one step, all computed
	plainFLOPsPerStep  float64           // the plain model's
	counter            *context.Variable // steps run with the guided graph, kept in checkpoints
}

// NewSGTSteps prepares the steps of a run of total steps under s (ctx holds the weights and settings).
func NewSGTSteps(ctx *context.Context, s SGT, cfg model.Config, st *Stepper, seed uint64, total int64) (*SGTSteps, error) {
	c := &SGTSteps{sgt: s, stepper: st, ctx: ctx, seed: seed, total: total,
		policy:             strings.ToLower(strings.TrimSpace(Param[string](ctx, ParamSGTPlainGraph))),
		guidedFLOPsPerStep: float64(guide.GuideTrainFLOPsPerToken(cfg)) * float64(cfg.TokensPerStep()),
		plainFLOPsPerStep:  float64(cfg.TrainFLOPsPerToken()) * float64(cfg.TokensPerStep()),
	}
	switch c.policy {
	case "auto", "always", "never":
	default:
		return nil, fmt.Errorf("-set %s=%s: allowed values are auto, always, never", ParamSGTPlainGraph, c.policy)
	}
	if s.Schedule.Steps > 0 {
		c.counter = ctx.InAbsPath(guide.DecisionScope).Checked(false).VariableWithValue("guided_graph_steps", int64(0)).SetTrainable(false)
	}
	return c, nil
}

// Run runs the 0-based optimizer step on a batch (inputs, targets [batch·context] flat) and returns
// its mean loss and whether it ran the guided graph.
func (c *SGTSteps) Run(step int64, inputs, targets []int32) (loss float64, guided bool, err error) {
	guided, d := c.choose(step)
	var before func(micro int) error
	if guided {
		before = func(k int) error { return c.stepper.Guides.SetDecisions(c.ctx, d.On[k], d.Update) }
	}
	t0 := time.Now()
	if loss, err = c.stepper.TrainStep(guided, inputs, targets, before); err != nil {
		return 0, guided, err
	}
	c.observe(guided, time.Since(t0))
	return loss, guided, nil
}

// choose returns the graph of the 0-based optimizer step (guided or plain) and, for the guided
// graph, the step's decisions.
func (c *SGTSteps) choose(step int64) (guided bool, d Decisions) {
	if c.sgt.Schedule.Steps == 0 {
		return false, d
	}
	d = c.sgt.Decide(c.seed, step, c.stepper.GradAccum)
	if c.sgt.InWindow(step) && d.Any() {
		return true, d
	}
	return !c.usePlain(step), d
}

// usePlain decides (once) whether guide-free steps run the plain graph.
func (c *SGTSteps) usePlain(step int64) bool {
	if c.plain != nil {
		return *c.plain
	}
	decide := func(plain bool, why string) bool {
		c.plain, c.Note = &plain, why
		return plain
	}
	switch {
	case c.policy == "always" || c.first == 0: // no guided graph in this session (resumed after the window)
		return decide(true, "")
	case c.policy == "never":
		return decide(false, fmt.Sprintf("sgt: the guided graph runs the %d steps without guide too (guides masked off; %s=never)", c.eligible(step), ParamSGTPlainGraph))
	case len(c.timed) < 2:
		return false // too few guided steps timed to judge: the guided graph, undecided
	}
	var sum time.Duration
	for _, d := range c.timed {
		sum += d
	}
	perStep := sum.Seconds() / float64(len(c.timed))
	compile := max(0, c.first.Seconds()-perStep)
	n := c.eligible(step)
	// The plain graph's step, estimated from the guided one's in proportion to the FLOPs computed.
	saving := float64(n) * perStep * c.guidedFLOPsPerStep / (c.plainFLOPsPerStep + c.guidedFLOPsPerStep)
	if saving > compile {
		return decide(true, fmt.Sprintf("sgt: the plain graph for the %d steps without guide (saves about %.1f s against %.1f s to compile it)", n, saving, compile))
	}
	return decide(false, fmt.Sprintf("sgt: the guided graph, guides masked off, for the %d steps without guide (compiling the plain one would take about %.1f s to save %.1f s)", n, compile, saving))
}

// eligible counts the guide-free steps from step to the end of the run.
func (c *SGTSteps) eligible(step int64) int64 {
	n := c.total - max(step, c.sgt.Schedule.Steps)
	for t := step; t < c.sgt.Schedule.Steps; t++ {
		if !c.sgt.Decide(c.seed, t, c.stepper.GradAccum).Any() {
			n++
		}
	}
	return n
}

// observe records a step's graph and duration: the session's first guided step (which compiled
// the guided graph) and the later ones, for usePlain's estimate.
func (c *SGTSteps) observe(guided bool, d time.Duration) {
	if !guided {
		return
	}
	if c.first == 0 {
		c.first = d
	} else {
		c.timed = append(c.timed, d)
	}
	c.counter.SetValue(tensors.FromScalar(c.GuidedSteps() + 1))
}

// guidedSteps is the number of steps run with the guided graph so far (this session and before).
func (c *SGTSteps) GuidedSteps() int64 {
	if c.counter == nil {
		return 0
	}
	return tensors.ToScalar[int64](c.counter.MustValue())
}

// computedFLOPs is the training FLOPs the graphs computed over the first done steps.
func (c *SGTSteps) ComputedFLOPs(done int64) float64 {
	return c.plainFLOPsPerStep*float64(done) + c.guidedFLOPsPerStep*float64(c.GuidedSteps())
}
