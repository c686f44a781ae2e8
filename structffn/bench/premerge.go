package bench

import (
	"fmt"
	"io"
	"math"
	"strconv"

	"github.com/gomlx/gomlx/backends"
	"github.com/gomlx/gomlx/pkg/ml/context"

	"github.com/structffn/structffn/structffn/linear"
	"github.com/structffn/structffn/structffn/model"
)

// PreMergeChoices lists the values NewDecoder's premerge takes (`structffn sample -premerge`).
const PreMergeChoices = "auto, structured, merged or a crossover (tokens in flight, 0 or more)"

// NewDecoder returns what decodes the model cfg with the weights in ctx under a pre-merge choice: a
// plain decoder for dense models and for "structured"; otherwise a model.PreMerge switch whose
// crossover is "merged" (always), a number, or for "auto" measured with AutoCrossover at the sizes a
// sampling of a promptTokens-token prompt uses. It writes one line per timing and the choice made to
// log. `structffn sample` and notebook 05 both decode through it. A ctx without variables gets random
// weights (seeded by its linear.ParamSeed) from one structured step.
func NewDecoder(b backends.Backend, backendConfig string, ctx *context.Context, cfg model.Config, premerge string, promptTokens int, log io.Writer) (model.Stepper, error) {
	crossover := -1
	switch premerge {
	case "auto", "structured":
	case "merged":
		crossover = math.MaxInt
	default:
		n, err := strconv.Atoi(premerge)
		if err != nil || n < 0 {
			return nil, fmt.Errorf("-premerge %q: allowed values are %s", premerge, PreMergeChoices)
		}
		crossover = n
	}
	if cfg.Structure == linear.Dense || premerge == "structured" {
		return model.NewDecoder(b, ctx, cfg)
	}
	if ctx.NumVariables() == 0 {
		d, err := model.NewDecoder(b, ctx, cfg)
		if err != nil {
			return nil, err
		}
		if err := firstStep(d, cfg); err != nil {
			return nil, err
		}
	}
	pm, err := model.NewPreMerge(b, ctx, cfg, crossover)
	if err != nil {
		return nil, err
	}
	switch {
	case premerge == "auto":
		results, err := AutoCrossover(backendConfig, cfg, pm, promptTokens)
		if err != nil {
			return nil, err
		}
		for i := 0; i+1 < len(results); i += 2 {
			fmt.Fprintf(log, "pre-merge: %d tokens in flight: structured %.3f ms, merged %.3f ms\n",
				results[i].TokensInFlight, results[i].Ms, results[i+1].Ms)
		}
		fmt.Fprintf(log, "pre-merge: %s\n", DescribeCrossover(pm.Crossover))
	case pm.Crossover == math.MaxInt:
		fmt.Fprintf(log, "pre-merge: merged weights for every step (-premerge %s)\n", premerge)
	default:
		fmt.Fprintf(log, "pre-merge: merged weights for steps of fewer than %d tokens in flight, structured ones from %d on (-premerge %s)\n",
			pm.Crossover, pm.Crossover, premerge)
	}
	return pm, nil
}

// firstStep runs one single-token step of d, which creates its context's variables (random, from
// its seed) when they do not exist yet.
func firstStep(d model.Stepper, cfg model.Config) error {
	cache, err := model.NewKVCache(cfg, 1)
	if err != nil {
		return err
	}
	defer cache.Finalize()
	_, err = d.Step(cache, [][]int32{{0}})
	return err
}
