package guide

import (
	"fmt"
	"strings"
)

// Mode is how a run uses self-guided training (docs/METHOD.md §3): not at all, over a fixed share of the
// steps at the baseline's tokens, or matched to the dense model's training FLOPs.
type Mode int

const (
	// Off trains the structured model plainly.
	Off Mode = iota
	// FixedSteps guides over the first sgt_ratio of the steps (the paper's 50%); same tokens as the
	// baseline, so the guides' FLOPs come on top.
	FixedSteps
	// FixedFLOPs guides over the first p·N of N steps and replays those steps' data at the end
	// without guide: N(1+p) steps at the dense model's training FLOPs.
	FixedFLOPs
)

var modeNames = []string{"off", "steps", "flops"}

// String is the setting's value: "off", "steps" or "flops".
func (m Mode) String() string {
	if m < 0 || int(m) >= len(modeNames) {
		return fmt.Sprintf("Mode(%d)", int(m))
	}
	return modeNames[m]
}

// ParseMode reads an sgt setting: off ("" and "none" too), steps or flops, in any case.
func ParseMode(s string) (Mode, error) {
	switch strings.ToLower(strings.TrimSpace(s)) {
	case "", "off", "none":
		return Off, nil
	case "steps":
		return FixedSteps, nil
	case "flops":
		return FixedFLOPs, nil
	}
	return Off, fmt.Errorf("unknown sgt %q: allowed values are off, steps, flops", s)
}

// MarshalText implements encoding.TextMarshaler (JSON writes the name).
func (m Mode) MarshalText() ([]byte, error) { return []byte(m.String()), nil }

// UnmarshalText implements encoding.TextUnmarshaler.
func (m *Mode) UnmarshalText(b []byte) error {
	v, err := ParseMode(string(b))
	if err != nil {
		return err
	}
	*m = v
	return nil
}

// SkipRule is which guides one skip draw decides.
type SkipRule int

const (
	// PerMatrix draws u ~ U(0,1) for every guided matrix on every forward call, as the reference
	// code does: each guide runs with probability α, independently of the others.
	PerMatrix SkipRule = iota
	// Shared draws one u per forward call for all guided matrices: every guide runs, or none, with
	// probability α. The expected guide cost is the same; a step either computes the guides or not.
	Shared
)

// ParseSkipRule reads an sgt_skip setting: matrix (default) or shared.
func ParseSkipRule(s string) (SkipRule, error) {
	switch strings.ToLower(strings.TrimSpace(s)) {
	case "", "matrix":
		return PerMatrix, nil
	case "shared":
		return Shared, nil
	}
	return PerMatrix, fmt.Errorf("unknown sgt_skip %q: allowed values are matrix, shared", s)
}

// String is the setting's value.
func (r SkipRule) String() string {
	if r == Shared {
		return "shared"
	}
	return "matrix"
}

// DrawUnit is how often the skip decisions are drawn when a step runs in micro-batches.
type DrawUnit int

const (
	// PerStep draws once per optimizer step: every micro-batch of a step (grad_accum) sees the same
	// decisions, so grad_accum changes memory use and nothing else.
	PerStep DrawUnit = iota
	// PerMicroBatch draws on every forward call, as the reference code does under gradient
	// accumulation: a guide skipped in one micro-batch and drawn in another is updated with the
	// gradient of the micro-batches it ran in (the others contribute zero to the mean).
	PerMicroBatch
)

// ParseDrawUnit reads an sgt_draw setting: step (default) or micro.
func ParseDrawUnit(s string) (DrawUnit, error) {
	switch strings.ToLower(strings.TrimSpace(s)) {
	case "", "step":
		return PerStep, nil
	case "micro", "microbatch", "micro-batch", "call":
		return PerMicroBatch, nil
	}
	return PerStep, fmt.Errorf("unknown sgt_draw %q: allowed values are step, micro", s)
}

// String is the setting's value.
func (u DrawUnit) String() string {
	if u == PerMicroBatch {
		return "micro"
	}
	return "step"
}

// InitRule is how a guide is initialised from its structured matrix.
type InitRule int

const (
	// MergedInit sets the guide to the exact dense operator of the structured matrix (linear.Spec.Merge).
	MergedInit InitRule = iota
	// ReferenceInit reproduces the reference code: the same as MergedInit except for BlockShuffle,
	// whose guide is blockdiag(B2)·blockdiag(B1) without the two permutations (not the operator the
	// structured matrix computes).
	ReferenceInit
)

// ParseInitRule reads an sgt_guide_init setting: merged (default) or reference.
func ParseInitRule(s string) (InitRule, error) {
	switch strings.ToLower(strings.TrimSpace(s)) {
	case "", "merged", "exact":
		return MergedInit, nil
	case "reference":
		return ReferenceInit, nil
	}
	return MergedInit, fmt.Errorf("unknown sgt_guide_init %q: allowed values are merged, reference", s)
}

// String is the setting's value.
func (r InitRule) String() string {
	if r == ReferenceInit {
		return "reference"
	}
	return "merged"
}
