package main

import (
	"encoding/json"
	"fmt"
	"io"
	"os"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/gomlx/gomlx/backends"
	"github.com/gomlx/gomlx/ui/commandline"

	"github.com/structffn/structffn/internal/dotgrad"
	"github.com/structffn/structffn/structffn/backend"
	"github.com/structffn/structffn/structffn/bench"
	"github.com/structffn/structffn/structffn/linear"
	"github.com/structffn/structffn/structffn/train"
)

var benchCommands = map[string]func(args []string) error{
	"ffn":   runBenchFFN,
	"train": runBenchTrain,
}

func runBench(args []string) error {
	names := make([]string, 0, len(benchCommands))
	for n := range benchCommands {
		names = append(names, n)
	}
	sort.Strings(names)
	if len(args) == 0 || strings.HasPrefix(args[0], "-") {
		return fmt.Errorf("which benchmark? usage: structffn bench <%s> [flags]", strings.Join(names, "|"))
	}
	run, ok := benchCommands[args[0]]
	if !ok {
		return fmt.Errorf("unknown benchmark %q: allowed values are %s", args[0], strings.Join(names, ", "))
	}
	return run(args[1:])
}

func runBenchFFN(args []string) error {
	fs := newFlagSet("bench ffn", "[-backend NAME] [-widths LIST] [-tokens LIST] [-structures LIST] [-fractions LIST] [-passes LIST] [-json]")
	backendName := fs.String("backend", "", backendHelp)
	structures := fs.String("structures", "dense,lowrank,blockdense,blockshuffle", "FFN structures, comma-separated")
	fractions := fs.String("fractions", "0.625,0.3125", "parameter fractions of the structured FFNs (the paper's 63% and 32%)")
	widths := fs.String("widths", "", "model widths d (FFN 4d); default 256,512,1024 on go, 256,512,1024,2048,4096 on XLA")
	tokens := fs.String("tokens", "", "tokens in flight; default 16,256,1024 on go, 16,256,1024,4096,8192 on XLA")
	passes := fs.String("passes", bench.Forward+","+bench.Backward, "passes: fwd, fwd+bwd")
	minTime := fs.Duration("min_time", bench.DefaultTiming.MinTime, "measure each case for at least this long")
	minReps := fs.Int("min_reps", bench.DefaultTiming.MinReps, "and at least this many runs (median reported)")
	asJSON := fs.Bool("json", false, "print one JSON object per case (JSON Lines) instead of a table")
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	b, config, err := backend.New(*backendName)
	if err != nil {
		return err
	}
	defer b.Finalize()
	onGo := strings.HasPrefix(config, "go")
	grid := bench.FFNGrid{Passes: strings.Split(*passes, ",")}
	for _, s := range strings.Split(*structures, ",") {
		k, err := linear.ParseKind(strings.TrimSpace(s))
		if err != nil {
			return fmt.Errorf("-structures: %v", err)
		}
		grid.Structures = append(grid.Structures, k)
	}
	if grid.Fractions, err = parseFloats("-fractions", *fractions); err != nil {
		return err
	}
	if grid.Widths, err = parseInts("-widths", *widths, pick(onGo, "256,512,1024", "256,512,1024,2048,4096")); err != nil {
		return err
	}
	if grid.Tokens, err = parseInts("-tokens", *tokens, pick(onGo, "16,256,1024", "16,256,1024,4096,8192")); err != nil {
		return err
	}
	for _, p := range grid.Passes {
		if p != bench.Forward && p != bench.Backward {
			return fmt.Errorf("-passes: unknown pass %q: allowed values are %s, %s", p, bench.Forward, bench.Backward)
		}
	}
	fmt.Fprintf(stderr, "bench ffn on %s: %d cases\n", config, len(grid.Cases()))
	const row = "%-12s %8s %6v %6v %7v %-8s %10v %9v %9v\n"
	if !*asJSON {
		fmt.Fprintf(stdout, row, "structure", "fraction", "d", "ffn", "tokens", "pass", "ms", "GFLOP/s", "speed-up")
	}
	_, err = bench.RunFFN(b, config, grid.Cases(), bench.Timing{MinReps: *minReps, MinTime: *minTime}, func(r bench.FFNResult) {
		if *asJSON {
			printJSONLine(stdout, r)
			return
		}
		fmt.Fprintf(stdout, row, r.Structure, linear.FractionName(r.Fraction), r.Width, r.FFN, r.Tokens, r.Pass,
			fmt.Sprintf("%.3f", r.Ms), fmt.Sprintf("%.1f", r.GFLOPs), fmt.Sprintf("%.2fx", r.Speedup))
	})
	return err
}

func runBenchTrain(args []string) error {
	fs := newFlagSet("bench train", "[-set \"k=v;...\"] [-backend NAME] [-steps N] [-min_time D] [-peak_tflops F] [-stock] [-json]")
	settings := fs.String("set", "", "model and hyperparameters as for train, e.g. -set=\"preset=mini;structure=dense\" (see structffn train -params)")
	backendName := fs.String("backend", "", backendHelp)
	steps := fs.Int("steps", 5, "measure at least this many training steps")
	minTime := fs.Duration("min_time", 10*time.Second, "and at least this long")
	warmup := fs.Int("warmup", 2, "untimed steps first (compilation)")
	peak := fs.Float64("peak_tflops", 0, "peak TFLOP/s for MFU (default on CPU: an estimate, cores × 32 FLOP/cycle × 3.5 GHz)")
	stock := fs.Bool("stock", false, "GoMLX v0.26.0 as shipped: its own DotGeneral gradient (and on go its default options), the baseline the fixes are measured against")
	asJSON := fs.Bool("json", false, "print the result as one JSON object")
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	ctx := train.DefaultContext()
	if _, err := commandline.ParseContextSettings(ctx, *settings); err != nil {
		return fmt.Errorf("-set: %v", err)
	}
	var b backends.Backend
	var config string
	var err error
	if *stock {
		// GoMLX's own DotGeneral gradient, and on the pure-Go backend its default options.
		dotgrad.Uninstall()
		defer dotgrad.Install()
	}
	if cfg, _ := backend.Resolve(*backendName); *stock && strings.HasPrefix(cfg, "go") {
		config = "go (stock v0.26.0)"
		if b, err = backends.NewWithConfig("go"); err != nil {
			return err
		}
	} else if b, config, err = backend.New(*backendName); err != nil {
		return err
	} else if *stock {
		config += " (stock DotGeneral gradient)"
	}
	defer b.Finalize()
	if *peak == 0 {
		*peak = backend.PeakTFLOPs(config)
	}
	fmt.Fprintf(stderr, "bench train on %s ...\n", config)
	r, err := bench.Train(b, config, ctx, *warmup, *steps, *minTime, *peak)
	if err != nil {
		return err
	}
	if *asJSON {
		printJSONLine(stdout, r)
		return nil
	}
	fmt.Fprintf(stdout, "%s %s (%s params; L=%d d=%d heads=%d ffn=%d ctx=%d batch=%d vocab=%d R=%d B=%d) on %s: %.0f tok/s, %.1f ms/step, MFU %.2f%% of %.3g TFLOP/s, %d steps\n",
		r.Preset, r.Structure, strconv.FormatInt(r.Params, 10), r.Layers, r.DModel, r.Heads, r.FFN, r.Ctx, r.Batch, r.Vocab,
		r.Rank, r.NBlocks, r.Backend, r.TokPerS, r.MsPerStep, 100*r.MFU, r.PeakTFLOPs, r.Steps)
	return nil
}

func printJSONLine(w io.Writer, v any) {
	b, err := json.Marshal(v)
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return
	}
	fmt.Fprintln(w, string(b))
}

func pick(cond bool, a, b string) string {
	if cond {
		return a
	}
	return b
}

func parseInts(flagName, s, def string) ([]int, error) {
	if s == "" {
		s = def
	}
	var out []int
	for _, f := range strings.Split(s, ",") {
		n, err := strconv.Atoi(strings.TrimSpace(f))
		if err != nil || n <= 0 {
			return nil, fmt.Errorf("%s: %q is not a positive integer (want a comma-separated list such as %s)", flagName, f, def)
		}
		out = append(out, n)
	}
	return out, nil
}

func parseFloats(flagName, s string) ([]float64, error) {
	var out []float64
	for _, f := range strings.Split(s, ",") {
		x, err := strconv.ParseFloat(strings.TrimSpace(f), 64)
		if err != nil || x <= 0 || x > 1 {
			return nil, fmt.Errorf("%s: %q is not a fraction in (0, 1] (e.g. 0.625,0.3125)", flagName, f)
		}
		out = append(out, x)
	}
	return out, nil
}
