package model

import (
	"fmt"
	"strings"
)

// Ablation removes one kind of work from the model's graph and puts a stand-in of the same shape in
// its place, for time breakdowns of a training step (bench.Breakdown): the step's time without it,
// subtracted from the whole step's, is what that work costs forward and backward. A model with an
// ablation is not the paper's model; nothing but the breakdown uses them.
type Ablation int

const (
	// NoAblation is the whole model.
	NoAblation Ablation = iota
	// AblateSoftmax drops the causal mask and the softmax: the attention weights are the scaled scores.
	AblateSoftmax
	// AblateAttention drops the attention core (QKᵀ, mask, softmax, AV): each query head's output is
	// its key/value head's v.
	AblateAttention
	// AblateRoPE leaves q and k unrotated.
	AblateRoPE
	// AblateProjections drops the Q, K, V and O projections: q = k = v = x and the output is the
	// heads' concatenation (needs attention and key/value widths equal to d_model).
	AblateProjections
	// AblateGELU computes fc2(fc1(x)).
	AblateGELU
	// AblateFFN drops the FFN: FFN(x) = x.
	AblateFFN
	// AblateNorm makes every LayerNorm the identity.
	AblateNorm
	// AblateHead drops the tied LM head and the cross-entropy: the loss is the mean of h·c over
	// positions, h the final hidden states and c a fixed vector.
	AblateHead
)

var ablationNames = []string{"none", "softmax", "attention", "rope", "projections", "gelu", "ffn", "norm", "head"}

// Ablations lists every ablation but NoAblation.
var Ablations = []Ablation{AblateSoftmax, AblateAttention, AblateRoPE, AblateProjections, AblateGELU, AblateFFN, AblateNorm, AblateHead}

// String is the ablation's name (as bench breakdown and the PyTorch reference's --ablate spell it).
func (a Ablation) String() string {
	if a < 0 || int(a) >= len(ablationNames) {
		return fmt.Sprintf("Ablation(%d)", int(a))
	}
	return ablationNames[a]
}

// ParseAblation reads an ablation's name.
func ParseAblation(s string) (Ablation, error) {
	for i, n := range ablationNames {
		if strings.EqualFold(strings.TrimSpace(s), n) {
			return Ablation(i), nil
		}
	}
	return NoAblation, fmt.Errorf("unknown ablation %q: allowed values are %s", s, strings.Join(ablationNames, ", "))
}

// CheckAblation reports an ablation cfg's shapes do not allow.
func (c Config) CheckAblation(a Ablation) error {
	if a == AblateProjections && (c.AttnWidth() != c.DModel || c.KVWidth() != c.DModel) {
		return fmt.Errorf("ablation %s needs attention and key/value widths equal to d_model (%d, %d, %d)", a, c.AttnWidth(), c.KVWidth(), c.DModel)
	}
	return nil
}
