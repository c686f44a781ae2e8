package model

import (
	"encoding/json"
	"fmt"
	"math"
	"os"
	"strings"
	"testing"

	"github.com/gomlx/gomlx/backends"
	. "github.com/gomlx/gomlx/pkg/core/graph"
	"github.com/gomlx/gomlx/pkg/core/tensors"
	"github.com/gomlx/gomlx/pkg/ml/context"

	"github.com/structffn/structffn/internal/testbackend"
)

// referenceFile is written by testdata/gen_reference.py: an independent PyTorch implementation of
// the paper's decoder (float64), with random weights, tokens, logits, loss and two weight gradients.
const referenceFile = "testdata/reference.json"

type refTensor struct {
	Shape []int     `json:"shape"`
	Data  []float64 `json:"data"`
}

type refCase struct {
	Name    string               `json:"name"`
	Config  Config               `json:"config"`
	Tokens  [][]int32            `json:"tokens"`
	Targets [][]int32            `json:"targets"`
	Weights map[string]refTensor `json:"weights"`
	Logits  refTensor            `json:"logits"`
	Loss    float64              `json:"loss"`
	Grads   map[string]refTensor `json:"grads"`
}

func (r refTensor) float32s() []float32 {
	out := make([]float32, len(r.Data))
	for i, v := range r.Data {
		out[i] = float32(v)
	}
	return out
}

func maxDiff(got []float32, want []float64) float64 {
	var d float64
	for i := range got {
		d = max(d, math.Abs(float64(got[i])-want[i]))
	}
	return d
}

// TestMatchesPyTorchReference checks the Go model (float32) against the PyTorch reference (float64):
// logits within 1e-4, loss within 1e-5, gradients within 1e-5 (absolute), as llm.c does: OK / NOT OK
// with the max difference.
func TestMatchesPyTorchReference(t *testing.T) {
	raw, err := os.ReadFile(referenceFile)
	if err != nil {
		t.Fatalf("%v (regenerate with testdata/gen_reference.py, see testdata/README.md)", err)
	}
	var ref struct {
		Generator string    `json:"generator"`
		Cases     []refCase `json:"cases"`
	}
	if err := json.Unmarshal(raw, &ref); err != nil {
		t.Fatalf("%s: %v", referenceFile, err)
	}
	if len(ref.Cases) < 5 {
		t.Fatalf("%s has %d cases, want 5", referenceFile, len(ref.Cases))
	}
	for _, nb := range testbackend.All {
		for _, rc := range ref.Cases {
			t.Run(nb.Name+"/"+rc.Name, func(t *testing.T) {
				matchReference(t, nb.Backend(t), rc)
			})
		}
	}
}

// matchReference runs one reference case on backend and compares logits, loss and gradients.
func matchReference(t *testing.T, backend backends.Backend, rc refCase) {
	cfg := rc.Config
	cfg.Batch = len(rc.Tokens)
	if err := cfg.Validate(); err != nil {
		t.Fatal(err)
	}
	ctx := context.New()
	for key, w := range rc.Weights {
		scope, name := key[:strings.LastIndex(key, "/")], key[strings.LastIndex(key, "/")+1:]
		ctx.InAbsPath("/"+scope).VariableWithValue(name, tensors.FromFlatDataAndDimensions(w.float32s(), w.Shape...))
	}
	gradKeys := make([]string, 0, len(rc.Grads))
	for k := range rc.Grads {
		gradKeys = append(gradKeys, k)
	}
	exec := context.MustNewExec(backend, ctx, func(ctx *context.Context, tokens, targets *Node) []*Node {
		logits := Logits(ctx, cfg, tokens, Options{})
		loss := CrossEntropy(logits, targets)
		outs := []*Node{logits, loss}
		for _, k := range gradKeys {
			scope, name := k[:strings.LastIndex(k, "/")], k[strings.LastIndex(k, "/")+1:]
			v := ctx.GetVariableByScopeAndName("/"+scope, name)
			if v == nil {
				panic(fmt.Sprintf("no variable %s", k))
			}
			outs = append(outs, Gradient(loss, v.ValueGraph(tokens.Graph()))[0])
		}
		return outs
	})
	outs, err := exec.Exec(rc.Tokens, rc.Targets)
	if err != nil {
		t.Fatal(err)
	}
	var created int
	for range ctx.IterVariables() {
		created++
	}
	if created != len(rc.Weights) {
		t.Errorf("the model used %d variables, the reference defines %d: a weight name differs", created, len(rc.Weights))
	}
	logitsDiff := maxDiff(tensors.MustCopyFlatData[float32](outs[0]), rc.Logits.Data)
	lossDiff := math.Abs(float64(tensors.ToScalar[float32](outs[1])) - rc.Loss)
	report := func(what string, diff, tol float64) {
		status := "OK"
		if diff > tol {
			status = "NOT OK"
			t.Errorf("%s: %s max diff %.3g > %.0g", rc.Name, what, diff, tol)
		}
		t.Logf("%-8s %-28s max diff %.3g (tolerance %.0g)", status, what, diff, tol)
	}
	report("logits", logitsDiff, 1e-4)
	report("loss", lossDiff, 1e-5)
	for i, k := range gradKeys {
		report("d loss / d "+k, maxDiff(tensors.MustCopyFlatData[float32](outs[2+i]), rc.Grads[k].Data), 1e-5)
	}
}
