package main

import (
	stdctx "context"
	"errors"
	"fmt"
	"os/signal"
	"strings"
	"time"

	"github.com/gomlx/gomlx/backends"

	"github.com/structffn/structffn/structffn/bench"
	"github.com/structffn/structffn/structffn/guide"
	"github.com/structffn/structffn/structffn/linear"
	"github.com/structffn/structffn/structffn/model"
	"github.com/structffn/structffn/structffn/scaling"
	"github.com/structffn/structffn/structffn/train"
)

// runSweep implements `structffn sweep`: expand a plan, then train its runs (or one shard of them)
// into -out, collecting results.jsonl; -dry-run prints the plan with FLOPs and estimated times.
func runSweep(args []string) error {
	fs := newFlagSet("sweep", "[-out DIR] [-sizes LIST] [-structures LIST] [-fractions LIST] [-sgt LIST] [-seeds LIST] [-tokens_per_param LIST [-equal_flops] | -flops LIST] [-set BASE] [-shard i/n] [-dry-run] [-backend NAME]")
	out := fs.String("out", "runs/sweep", "sweep directory: one run directory per run, and results.jsonl")
	sizes := fs.String("sizes", "2x64,2x128,4x128,4x192", "model sizes: presets (tiny, mini, small, ...) or LxD (L layers of width D, heads of 32, FFN 4D, tiny's vocabulary and context)")
	structures := fs.String("structures", "dense,lowrank,blockdense,blockshuffle", "FFN structures (also monarch, btt)")
	fractions := fs.String("fractions", "0.625,0.3125", "FFN parameter fractions of the structured runs")
	sgts := fs.String("sgt", "off", "self-guided training settings to cross with the structured runs: off, steps, flops (e.g. off,flops)")
	seeds := fs.String("seeds", "0", "seeds")
	tokensPerParam := fs.String("tokens_per_param", "20", "token budgets per size: K × the size's dense parameter count for each K (same tokens for every structure), e.g. 2,5,10,20")
	equalFLOPs := fs.Bool("equal_flops", false, "with -tokens_per_param: also train each structured run without SGT at the dense model's training FLOPs (more tokens; names end in -eqflops)")
	flops := fs.String("flops", "", "instead of -tokens_per_param: training FLOP budgets, each run's steps chosen to meet each (e.g. 1e13,3e13)")
	base := fs.String("set", "", "settings applied to every run first, as for train (e.g. \"corpus=sotu;eval_every=0\")")
	shard := fs.String("shard", "", "run only shard i of n (i/n, 0-based): every n-th run from the i-th, for array jobs")
	dryRun := fs.Bool("dry-run", false, "print the plan (steps, tokens, FLOPs, estimated time) and train nothing")
	estimate := fs.Bool("estimate", true, "with -dry-run: time a few training steps of each distinct model on the backend to estimate wall time")
	backendName := fs.String("backend", "", backendHelp)
	cache := fs.String("cache", "", "cache directory for corpora and tokenizers (default $STRUCTFFN_CACHE or the user cache dir)")
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	plan := scaling.Plan{Base: *base}
	for _, s := range strings.Split(*sizes, ",") {
		size, err := scaling.ParseSize(s)
		if err != nil {
			return fmt.Errorf("-sizes: %v", err)
		}
		plan.Sizes = append(plan.Sizes, size)
	}
	for _, s := range strings.Split(*structures, ",") {
		k, err := linear.ParseKind(strings.TrimSpace(s))
		if err != nil {
			return fmt.Errorf("-structures: %v", err)
		}
		plan.Structures = append(plan.Structures, k)
	}
	var err error
	if plan.Fractions, err = parseFloats("-fractions", *fractions); err != nil {
		return err
	}
	for _, s := range strings.Split(*sgts, ",") {
		mode, err := guide.ParseMode(s)
		if err != nil {
			return fmt.Errorf("-sgt: %v", err)
		}
		plan.SGT = append(plan.SGT, mode)
	}
	for _, s := range strings.Split(*seeds, ",") {
		var seed int
		if _, err := fmt.Sscan(strings.TrimSpace(s), &seed); err != nil || seed < 0 {
			return fmt.Errorf("-seeds: %q is not a non-negative integer", s)
		}
		plan.Seeds = append(plan.Seeds, seed)
	}
	if *flops != "" {
		if plan.FLOPBudgets, err = parsePositiveFloats("-flops", *flops); err != nil {
			return err
		}
		if *equalFLOPs {
			return errors.New("-equal_flops matches the dense model's FLOPs at each -tokens_per_param budget: drop -flops or -equal_flops")
		}
	} else if plan.TokensPerParam, err = parsePositiveFloats("-tokens_per_param", *tokensPerParam); err != nil {
		return err
	}
	plan.EqualFLOPs = *equalFLOPs
	runs, err := plan.Runs()
	if err != nil {
		return err
	}
	total := len(runs)
	if *shard != "" {
		i, n, err := scaling.ParseShard(*shard)
		if err != nil {
			return err
		}
		if runs, err = scaling.Shard(runs, i, n); err != nil {
			return err
		}
	}
	ctx := train.DefaultContext()
	if _, err := train.ApplySettings(ctx, *base); err != nil {
		return err
	}
	b, config, err := newBackend(train.BackendName(ctx, *backendName))
	if err != nil {
		return err
	}
	defer b.Finalize()
	fmt.Fprintf(stderr, "sweep: %d runs (of %d in the plan) into %s on %s\n", len(runs), total, *out, config)
	if *dryRun {
		return printPlan(runs, b, config, *estimate)
	}
	goctx, stop := signal.NotifyContext(stdctx.Background(), stopSignals...)
	defer stop()
	err = scaling.Execute(goctx, runs, *out, scaling.ExecOptions{Backend: b, BackendName: config, CacheDir: *cache, Log: stderr})
	if errors.Is(err, train.ErrInterrupted) {
		return fmt.Errorf("interrupted: rerun the same command to resume (finished runs are skipped)")
	}
	return err
}

// printPlan prints the runs with steps, tokens and FLOPs, and (with estimate) the wall time at the
// training speed measured for each distinct model on this backend.
func printPlan(runs []scaling.Run, b backends.Backend, config string, estimate bool) error {
	speed := map[string]float64{} // model key -> tokens/s
	const row = "%-34s %10s %8s %10s %11s %10s\n"
	fmt.Fprintf(stdout, row, "run", "params", "steps", "tokens", "train FLOPs", "est. time")
	var totalFLOPs, totalS float64
	for _, r := range runs {
		cfg := r.Planned.Config
		est := "-"
		if estimate {
			key := fmt.Sprintf("%s/%s/%d/%d/%s", r.Size, cfg.Structure, cfg.Rank, cfg.NBlocks, r.SGT)
			if _, ok := speed[key]; !ok {
				ctx := train.DefaultContext()
				if _, err := train.ApplySettings(ctx, r.Settings); err != nil {
					return err
				}
				fmt.Fprintf(stderr, "sweep: timing %s on %s ...\n", r.Name, config)
				res, err := bench.Train(b, config, ctx, 1, 2, 0, 1)
				if err != nil {
					return err
				}
				speed[key] = res.TokPerS
			}
			s := float64(r.Planned.Tokens) / speed[key]
			totalS += s
			est = (time.Duration(s) * time.Second).Round(time.Second).String()
		}
		totalFLOPs += r.Planned.TrainFLOPs
		fmt.Fprintf(stdout, row, r.Name, model.ParamCount(cfg.Params().Total), fmt.Sprint(r.Planned.Steps),
			model.ParamCount(r.Planned.Tokens), fmt.Sprintf("%.3g", r.Planned.TrainFLOPs), est)
	}
	fmt.Fprintf(stdout, "total: %d runs, %.3g training FLOPs", len(runs), totalFLOPs)
	if estimate {
		fmt.Fprintf(stdout, ", about %s on %s (SGT steps timed as plain ones)", (time.Duration(totalS) * time.Second).Round(time.Minute), config)
	}
	fmt.Fprintln(stdout)
	return nil
}
