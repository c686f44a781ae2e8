package bench

import (
	"fmt"
	"math"
	"math/rand/v2"

	"github.com/gomlx/gomlx/backends"
	. "github.com/gomlx/gomlx/pkg/core/graph" //nolint:staticcheck // graph code reads like math.
	"github.com/gomlx/gomlx/pkg/core/tensors"
	"github.com/gomlx/gomlx/pkg/ml/context"

	"github.com/structffn/structffn/structffn/linear"
	"github.com/structffn/structffn/structffn/model"
	"github.com/structffn/structffn/structffn/train"
)

// CheckResult compares one model's forward pass on two backends: the largest logit difference and
// the loss difference, against a tolerance.
type CheckResult struct {
	Preset     string  `json:"preset"`
	Structure  string  `json:"structure"`
	Reference  string  `json:"reference"` // backend taken as the truth (usually go)
	Backend    string  `json:"backend"`
	Tokens     int     `json:"tokens"`
	MaxLogit   float64 `json:"max_logit_diff"`
	LossRef    float64 `json:"loss_reference"`
	LossTest   float64 `json:"loss_backend"`
	LossDiff   float64 `json:"loss_diff"`
	Tolerance  float64 `json:"tolerance"`
	OK         bool    `json:"ok"`
	Parameters int64   `json:"params"`
}

// String is llm.c's style: OK or NOT OK with the differences.
func (c CheckResult) String() string {
	verdict := "OK"
	if !c.OK {
		verdict = "NOT OK"
	}
	return fmt.Sprintf("%s %s: %s vs %s: %s, max |Δlogit| = %.3g, |Δloss| = %.3g (tolerance %.3g)",
		c.Preset, c.Structure, c.Backend, c.Reference, verdict, c.MaxLogit, c.LossDiff, c.Tolerance)
}

// CheckBackends runs the same seeded model (weights from seed, batch random sequences of the full
// context) on ref and test and compares logits and loss: the check that a new backend (a GPU) computes
// what the reference does. Accelerators may multiply float32 in reduced precision (TF32), hence the
// tolerance on logits, which are O(1).
func CheckBackends(ref, test backends.Backend, refName, testName string, cfg model.Config, batch int, seed uint64, tolerance float64) (res CheckResult, err error) {
	defer train.RecoverAs(&err, fmt.Sprintf("check %s", testName))
	res = CheckResult{Preset: cfg.Name, Structure: cfg.Structure.String(), Reference: refName, Backend: testName,
		Tokens: batch * cfg.Context, Tolerance: tolerance, Parameters: cfg.Params().Total}
	rng := rand.New(rand.NewPCG(seed, 7))
	ids := make([]int32, batch*(cfg.Context+1))
	for i := range ids {
		ids[i] = int32(rng.IntN(cfg.Vocab))
	}
	inputs, targets := make([]int32, 0, batch*cfg.Context), make([]int32, 0, batch*cfg.Context)
	for b := range batch {
		row := ids[b*(cfg.Context+1) : (b+1)*(cfg.Context+1)]
		inputs, targets = append(inputs, row[:cfg.Context]...), append(targets, row[1:]...)
	}
	run := func(b backends.Backend) ([]float32, float64, error) {
		ctx := context.New()
		ctx.SetParam(linear.ParamSeed, int64(seed))
		exec, err := context.NewExec(b, ctx, func(ctx *context.Context, tok, tgt *Node) (*Node, *Node) {
			logits := model.Logits(ctx, cfg, tok, model.Options{}) // [batch, context, vocab]
			return logits, model.CrossEntropy(logits, tgt)
		})
		if err != nil {
			return nil, 0, err
		}
		defer exec.Finalize()
		out, err := exec.Exec(tensors.FromFlatDataAndDimensions(inputs, batch, cfg.Context), tensors.FromFlatDataAndDimensions(targets, batch, cfg.Context))
		if err != nil {
			return nil, 0, err
		}
		logits, err := tensors.CopyFlatData[float32](out[0])
		if err != nil {
			return nil, 0, err
		}
		return logits, float64(tensors.ToScalar[float32](out[1])), nil
	}
	lr, lossR, err := run(ref)
	if err != nil {
		return res, fmt.Errorf("%s: %v", refName, err)
	}
	lt, lossT, err := run(test)
	if err != nil {
		return res, fmt.Errorf("%s: %v", testName, err)
	}
	for i := range lr {
		res.MaxLogit = math.Max(res.MaxLogit, math.Abs(float64(lr[i]-lt[i])))
	}
	res.LossRef, res.LossTest, res.LossDiff = lossR, lossT, math.Abs(lossR-lossT)
	res.OK = res.MaxLogit <= tolerance && res.LossDiff <= tolerance && !math.IsNaN(res.MaxLogit)
	return res, nil
}
