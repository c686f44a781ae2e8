package linear

import (
	"fmt"
	"slices"
	"sync"
	"testing"

	"github.com/gomlx/gomlx/pkg/core/dtypes"
	. "github.com/gomlx/gomlx/pkg/core/graph"
	"github.com/gomlx/gomlx/pkg/core/shapes"
	"github.com/gomlx/gomlx/pkg/core/tensors"
	"github.com/gomlx/gomlx/pkg/ml/context"
)

// variableValues builds Layer for each spec in scopes "m0", "m1", ... of a fresh context with the
// given seed, calling PrepareInit first when prepare is set, and returns every variable's values
// (by scope/name) in the order the variables were created.
func variableValues(t *testing.T, specs []Spec, seed int, prepare bool) (names []string, values map[string][]float32) {
	t.Helper()
	ctx := context.New()
	ctx.SetParam(ParamSeed, seed)
	scopes := make([]*context.Context, len(specs))
	for i := range specs {
		scopes[i] = ctx.Inf("m%d", i)
	}
	g := NewGraph(backend(t), "prepare")
	structured := 0
	for _, spec := range specs {
		if spec.Kind != Dense {
			structured++
		}
	}
	if prepare {
		release := PrepareInit(scopes, specs)
		defer release()
		if n := preparedCount(); n != structured {
			t.Fatalf("%d initialisations prepared, want %d (one per structured spec)", n, structured)
		}
	}
	for i, spec := range specs {
		Layer(scopes[i], spec, Parameter(g, fmt.Sprintf("x%d", i), shapes.Make(dtypes.Float32, spec.In)))
	}
	if n := preparedCount(); n != 0 {
		t.Fatalf("%d prepared initialisations not taken by Layer", n)
	}
	values = map[string][]float32{}
	ctx.EnumerateVariables(func(v *context.Variable) {
		key := v.Scope() + "/" + v.Name()
		names = append(names, key)
		values[key] = tensors.MustCopyFlatData[float32](v.MustValue())
	})
	return names, values
}

// TestPrepareInitGivesTheSameWeights: the weights PrepareInit computes ahead are Spec.Init's, bit for
// bit, for every structure, and the variables are created in the same order as without it.
func TestPrepareInitGivesTheSameWeights(t *testing.T) {
	specs := []Spec{
		{Kind: Dense, In: 16, Out: 24, Bias: true},
		{Kind: LowRank, In: 16, Out: 24, Rank: 5, Bias: true},
		{Kind: LowRank, In: 24, Out: 16, Rank: 5, Bias: true},
		{Kind: BlockDense, In: 16, Out: 24, Rank: 8, NBlocks: 4, Bias: true},
		{Kind: BlockShuffle, In: 16, Out: 24, NBlocks: 4, Bias: true},
		{Kind: Monarch, In: 16, Out: 24, Rank: 8, NBlocks: 4, Bias: true},
		{Kind: BTT, In: 16, Out: 24, Rank: 2, Bias: true},
	}
	for _, seed := range []int{0, 7} {
		plainNames, plain := variableValues(t, specs, seed, false)
		prepNames, prep := variableValues(t, specs, seed, true)
		if !slices.Equal(plainNames, prepNames) {
			t.Fatalf("seed %d: variables created in another order:\n%v\n%v", seed, plainNames, prepNames)
		}
		for _, k := range plainNames {
			if !slices.Equal(plain[k], prep[k]) {
				t.Errorf("seed %d: %s differs: %v vs %v", seed, k, plain[k], prep[k])
			}
		}
	}
}

func preparedCount() (n int) {
	prepared.Range(func(any, any) bool { n++; return true })
	return n
}

// TestPrepareInitSkipsExistingAndReleases: scopes that already hold weights are not prepared, and
// release drops what no Layer took.
func TestPrepareInitSkipsExistingAndReleases(t *testing.T) {
	spec := Spec{Kind: LowRank, In: 16, Out: 24, Rank: 5}
	ctx := context.New()
	a, b := ctx.In("a"), ctx.In("b")
	Layer(a, spec, Parameter(NewGraph(backend(t), "existing"), "x", shapes.Make(dtypes.Float32, spec.In)))
	release := PrepareInit([]*context.Context{a, b}, []Spec{spec, spec})
	keys := func() (ks []string) {
		prepared.Range(func(k, _ any) bool { ks = append(ks, fmt.Sprint(k)); return true })
		return ks
	}
	if ks := keys(); len(ks) != 1 || ks[0] != initKey(b, spec) {
		t.Errorf("prepared %v, want only %s", ks, initKey(b, spec))
	}
	release()
	if ks := keys(); len(ks) != 0 {
		t.Errorf("after release: %v", ks)
	}
	// Concurrent graphs of the same model share one computation and get the same weights.
	var wg sync.WaitGroup
	got := make([]HostWeights, 4)
	rel := PrepareInit([]*context.Context{b}, []Spec{spec})
	defer rel()
	for i := range got {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if w := takePrepared(b, spec); w != nil {
				got[i] = w
			} else {
				got[i] = spec.Init(RNG(b), InitStd)
			}
		}()
	}
	wg.Wait()
	for i := range got {
		if !slices.Equal(got[i][WeightV], got[0][WeightV]) {
			t.Errorf("graph %d got other weights", i)
		}
	}
}

// mapLoader is a checkpoint-like context.Loader over a map of variable parameter names.
type mapLoader map[string]*tensors.Tensor

func (l mapLoader) LoadVariable(_ *context.Context, scope, name string) (*tensors.Tensor, bool) {
	key := context.VariableParameterNameFromScopeAndName(scope, name)
	v, ok := l[key]
	delete(l, key)
	return v, ok
}
func (l mapLoader) DeleteVariable(_ *context.Context, scope, name string) error {
	delete(l, context.VariableParameterNameFromScopeAndName(scope, name))
	return nil
}
func (l mapLoader) LoadedVariables() map[string]*tensors.Tensor { return l }

// TestPrepareInitLeavesCheckpointedScopes: a scope whose weights a checkpoint holds is neither
// prepared nor loaded early (loading creates the variable, and creation order must stay the graph's).
func TestPrepareInitLeavesCheckpointedScopes(t *testing.T) {
	spec := Spec{Kind: LowRank, In: 16, Out: 24, Rank: 5}
	ctx := context.New()
	loader := mapLoader{}
	for _, w := range spec.Weights() {
		loader[context.VariableParameterNameFromScopeAndName("/saved", w.Name)] = tensors.FromShape(shapes.Make(dtypes.Float32, w.Shape...))
	}
	ctx.SetLoader(loader)
	saved, fresh := ctx.In("saved"), ctx.In("fresh")
	release := PrepareInit([]*context.Context{saved, fresh}, []Spec{spec, spec})
	defer release()
	if n := preparedCount(); n != 1 {
		t.Errorf("%d scopes prepared, want 1 (only the one the checkpoint lacks)", n)
	}
	for _, w := range spec.Weights() {
		if ctx.InspectVariableIfLoaded("/saved", w.Name) != nil {
			t.Errorf("PrepareInit loaded /saved/%s from the checkpoint", w.Name)
		}
	}
	if len(loader) != len(spec.Weights()) {
		t.Errorf("the loader gave away %d values", len(spec.Weights())-len(loader))
	}
}
