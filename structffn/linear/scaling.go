package linear

import (
	"fmt"
	"math"
	"math/rand/v2"
)

// Structure-aware scaling of initialisation and learning rate, as Compute Better Spent (Qiu et al.
// 2024) prescribes for structured layers (its µP-style rules), as an option: the paper's runs use
// neither (Init, and one learning rate for every weight).
//
// With scaling "cbs", each factor F of a structured matrix (every weight but a Dense one's; blocks
// and core slices count by their own shape) is treated as a dense map from fanIn(F) to fanOut(F)
// inputs and outputs, the last two dimensions of its [..., out, in] shape:
//
//   - initialisation: N(0, σ_F²) with σ_F = min(1, √(fanOut/fanIn))/√fanIn, the spectral-µP scale
//     (each factor's spectral norm about √(fanOut/fanIn));
//   - Adam learning rate: the base rate times In/(n·fanIn(F)), n the number of factors (the layer's
//     dense learning rate spread over its factors, each in proportion to 1/fan-in).
//
// Dense matrices, biases and everything outside the FFNs keep the paper's initialisation and the base
// learning rate, so a dense model trains exactly as without the option.

// ParamScaling is the context hyperparameter (string) choosing the scaling: ScalingOff or ScalingCBS.
const ParamScaling = "lr_scaling"

// Scalings.
const (
	ScalingOff = "off" // the paper's initialisation (Init) and one learning rate
	ScalingCBS = "cbs" // Compute Better Spent's structure-aware initialisation and per-factor learning rates
)

// CheckScaling returns an error naming the allowed values when s is not a scaling.
func CheckScaling(s string) error {
	if s != ScalingOff && s != ScalingCBS {
		return fmt.Errorf("-set %s=%s: allowed values are %s (the paper's) and %s (Compute Better Spent's structure-aware init and learning rates)",
			ParamScaling, s, ScalingOff, ScalingCBS)
	}
	return nil
}

// fans is a weight's fan-in and fan-out: the last two dimensions of its [..., out, in] shape.
func fans(w Weight) (in, out int) {
	return w.Shape[len(w.Shape)-1], w.Shape[len(w.Shape)-2]
}

// InitCBS draws the structure's weights at Compute Better Spent's scale (σ_F above, Gaussian); a
// Dense spec gets Init's N(0, std²). The bias, if any, is zero.
func (s Spec) InitCBS(rng *rand.Rand, std float64) HostWeights {
	if s.Kind == Dense {
		return s.Init(rng, std)
	}
	w := HostWeights{}
	for _, wt := range s.Weights() {
		in, out := fans(wt)
		sigma := math.Min(1, math.Sqrt(float64(out)/float64(in))) / math.Sqrt(float64(in))
		w[wt.Name] = Normal(rng, wt.Size(), sigma)
	}
	if s.Bias {
		w[WeightBias] = make([]float32, s.Out)
	}
	return w
}

// LRMultipliers is, under "cbs", each weight's learning-rate multiplier In/(n·fanIn) by name (n the
// number of factors); nil for a Dense spec (every multiplier 1). Weights not listed (the bias) keep 1.
func (s Spec) LRMultipliers() map[string]float64 {
	if s.Kind == Dense {
		return nil
	}
	ws := s.Weights()
	out := make(map[string]float64, len(ws))
	for _, wt := range ws {
		in, _ := fans(wt)
		out[wt.Name] = float64(s.In) / (float64(len(ws)) * float64(in))
	}
	return out
}
