package linear

import (
	"fmt"
	"runtime"
	"sync"

	"github.com/gomlx/gomlx/pkg/core/tensors"
	"github.com/gomlx/gomlx/pkg/ml/context"
)

// The paper's initialisation of a structured matrix is a host computation (LowRank: a thin SVD of
// the dense draw; the block structures: a polar factor per block) that costs seconds per matrix at
// the paper's sizes (a 3072×768 SVD takes about 4 s in gonum, and the s model's 11 LowRank FFNs have
// 22 of them). Variables creates weights one scope at a time while the graph is built, so those
// seconds add up in sequence. PrepareInit computes them ahead, one goroutine per matrix on every
// core, and Variables takes the result when it reaches the scope: the values are the same bits
// (each matrix's draw depends only on the seed and its scope, RNG), and the variables are still
// created in the graph's order.

// initFuture is one matrix's initial weights being computed by PrepareInit.
type initFuture struct {
	done chan struct{}
	w    HostWeights
	err  any // a panic of the computation, re-raised where the weights are taken
}

// prepared holds the futures of PrepareInit by initKey, until Variables takes them.
var prepared sync.Map // string -> *initFuture

// initKey names everything the paper's initial weights depend on: the scope (RNG's stream), the
// seed and the Spec.
func initKey(ctx *context.Context, spec Spec) string {
	return fmt.Sprintf("%s|%d|%+v", ctx.Scope(), context.GetParamOr(ctx, ParamSeed, 0), spec)
}

// PrepareInit starts computing the initial weights of each structured map specs[i] whose scope
// scopes[i] has no weights yet, on up to GOMAXPROCS goroutines, for Variables to take when the
// graph reaches that scope. Dense specs (a Gaussian draw, cheap) and lr_scaling=cbs (also Gaussian)
// are left to Variables. The returned release drops whatever was not taken (a graph built only
// partly); call it when the graph is built.
func PrepareInit(scopes []*context.Context, specs []Spec) (release func()) {
	if len(scopes) != len(specs) {
		panic(fmt.Errorf("linear.PrepareInit: %d scopes for %d specs", len(scopes), len(specs)))
	}
	var keys []string
	sem := make(chan struct{}, runtime.GOMAXPROCS(0))
	for i, spec := range specs {
		ctx := scopes[i]
		if spec.Kind == Dense || context.GetParamOr(ctx, ParamScaling, ScalingOff) == ScalingCBS || hasWeights(ctx, spec) {
			continue
		}
		key := initKey(ctx, spec)
		f := &initFuture{done: make(chan struct{})}
		if _, loaded := prepared.LoadOrStore(key, f); loaded {
			continue // another graph of the same model is preparing it: the same weights
		}
		keys = append(keys, key)
		rng := RNG(ctx)
		go func() {
			sem <- struct{}{}
			defer func() {
				f.err = recover()
				<-sem
				close(f.done)
			}()
			f.w = spec.Init(rng, InitStd)
		}()
	}
	return func() {
		for _, k := range keys {
			prepared.Delete(k)
		}
	}
}

// takePrepared returns the weights PrepareInit computed for spec in ctx's scope (waiting for them),
// or nil when none were prepared.
func takePrepared(ctx *context.Context, spec Spec) HostWeights {
	v, ok := prepared.LoadAndDelete(initKey(ctx, spec))
	if !ok {
		return nil
	}
	f := v.(*initFuture)
	<-f.done
	if f.err != nil {
		panic(f.err)
	}
	return f.w
}

// hasWeights reports whether ctx's scope already holds any of spec's weights, or its checkpoint
// loader does (a run resuming). It never loads a variable itself: loading creates it, and the order
// in which variables are created must stay the graph's (it is, for example, the order of the sums in
// gradient clipping's global norm), so that a resumed run computes what an uninterrupted one does.
func hasWeights(ctx *context.Context, spec Spec) bool {
	loader := ctx.Loader()
	var pending map[string]*tensors.Tensor
	if loader != nil {
		lv, ok := loader.(interface {
			LoadedVariables() map[string]*tensors.Tensor
		})
		if !ok {
			return true // a loader that cannot be asked: leave the scope to Variables
		}
		pending = lv.LoadedVariables()
	}
	for _, w := range spec.Weights() {
		if ctx.InspectVariableIfLoaded(ctx.Scope(), w.Name) != nil {
			return true
		}
		if _, ok := pending[context.VariableParameterNameFromScopeAndName(ctx.Scope(), w.Name)]; ok {
			return true
		}
	}
	return false
}
