package main

import (
	"fmt"
	"math"
	"strings"

	"github.com/structffn/structffn/structffn/bench"
	"github.com/structffn/structffn/structffn/train"
)

// runCheck implements `structffn check`: the same seeded model on the pure-Go backend and on
// -backend, logits and loss compared (the first thing to run on a new machine or GPU).
func runCheck(args []string) error {
	fs := newFlagSet("check", "[-backend NAME] [-set \"k=v;...\"] [-batch N] [-tolerance T] [-json]")
	backendName := fs.String("backend", "", backendHelp)
	settings := fs.String("set", "preset=tiny", "the model, as for train")
	batch := fs.Int("batch", 2, "sequences of the full context")
	tolerance := fs.Float64("tolerance", 1e-3, "largest accepted |Δlogit| and |Δloss| (GPUs may multiply float32 in TF32)")
	seed := fs.Uint64("seed", 1, "weights and tokens seed")
	asJSON := fs.Bool("json", false, "print the result as one JSON object")
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	ctx := train.DefaultContext()
	if _, err := train.ApplySettings(ctx, *settings); err != nil {
		return err
	}
	cfg, err := train.ModelConfig(ctx)
	if err != nil {
		return err
	}
	if err := checkFlags(flagRange{"batch", float64(*batch), 1, math.Inf(1)}, flagRange{"tolerance", *tolerance, 0, math.Inf(1)}); err != nil {
		return err
	}
	ref, refName, err := newBackend("go")
	if err != nil {
		return err
	}
	defer ref.Finalize()
	test, testName, err := newBackend(train.BackendName(ctx, *backendName))
	if err != nil {
		return err
	}
	defer test.Finalize()
	if strings.HasPrefix(testName, "go") {
		fmt.Fprintf(stderr, "check: -backend resolved to %s, the reference itself; pass -backend xla:cpu or xla:cuda\n", testName)
	}
	res, err := bench.CheckBackends(ref, test, refName, testName, cfg, *batch, *seed, *tolerance)
	if err != nil {
		return err
	}
	if *asJSON {
		printJSONLine(stdout, res)
	} else {
		fmt.Fprintln(stdout, res)
	}
	if !res.OK {
		return fmt.Errorf("%s differs from %s beyond %g: see above", testName, refName, *tolerance)
	}
	return nil
}
