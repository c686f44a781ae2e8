package train

import (
	"math"

	"github.com/gomlx/gomlx/pkg/core/dtypes"
	. "github.com/gomlx/gomlx/pkg/core/graph" //nolint:staticcheck // graph code reads like math.
)

// Schedule is the paper's learning-rate schedule (docs/METHOD.md §4): linear warm-up over the first
// WarmupFraction of TotalSteps, then cosine decay to MinFraction × Peak at the last step.
type Schedule struct {
	Peak           float64
	TotalSteps     int64
	WarmupFraction float64
	MinFraction    float64
}

// warmupSteps is floor(WarmupFraction · TotalSteps), at least 1 when WarmupFraction > 0.
func (s Schedule) warmupSteps() int64 {
	w := int64(s.WarmupFraction * float64(s.TotalSteps))
	if w == 0 && s.WarmupFraction > 0 {
		w = 1
	}
	return w
}

// At is the learning rate used by optimizer step `step` (0-based: the first update uses At(0)).
// Warm-up: Peak·(step+1)/W for step < W; then Min + (Peak-Min)·(1+cos(π·(step-W)/(T-W)))/2.
func (s Schedule) At(step int64) float64 {
	w := s.warmupSteps()
	if step < w {
		return s.Peak * float64(step+1) / float64(w)
	}
	lo := s.MinFraction * s.Peak
	decay := s.TotalSteps - w
	if decay <= 0 {
		return s.Peak
	}
	progress := math.Min(1, float64(step-w)/float64(decay))
	return lo + (s.Peak-lo)*0.5*(1+math.Cos(math.Pi*progress))
}

// Graph computes At for a scalar step node (int64; the number of updates already applied) in float32.
func (s Schedule) Graph(step *Node) *Node {
	g := step.Graph()
	t := ConvertDType(step, dtypes.Float64)
	w := float64(s.warmupSteps())
	warm := MulScalar(AddScalar(t, 1), s.Peak/math.Max(w, 1))
	lo := s.MinFraction * s.Peak
	decay := math.Max(float64(s.TotalSteps)-w, 1)
	progress := MinScalar(DivScalar(AddScalar(t, -w), decay), 1)
	cosine := AddScalar(MulScalar(OnePlus(Cos(MulScalar(progress, math.Pi))), 0.5*(s.Peak-lo)), lo)
	lr := Where(LessThan(t, Scalar(g, dtypes.Float64, w)), warm, cosine)
	return ConvertDType(lr, dtypes.Float32)
}
