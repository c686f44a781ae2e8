package main

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"maps"
	"math"
	"os"
	"os/exec"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/gomlx/gomlx/backends"
	"github.com/gomlx/gomlx/pkg/ml/context"

	"github.com/structffn/structffn/internal/dotgrad"
	"github.com/structffn/structffn/structffn/backend"
	"github.com/structffn/structffn/structffn/bench"
	"github.com/structffn/structffn/structffn/guide"
	"github.com/structffn/structffn/structffn/linear"
	"github.com/structffn/structffn/structffn/model"
	"github.com/structffn/structffn/structffn/train"
)

var benchCommands = map[string]func(args []string) error{
	"breakdown": runBenchBreakdown,
	"decode":    runBenchDecode,
	"ffn":       runBenchFFN,
	"train":     runBenchTrain,
}

func runBench(args []string) error {
	names := slices.Sorted(maps.Keys(benchCommands))
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
	fs := newFlagSet("bench ffn", "[-backend NAME] [-widths LIST] [-tokens LIST] [-structures LIST] [-fractions LIST] [-passes LIST] [-dtype T] [-json]")
	backendName := fs.String("backend", "", backendHelp)
	structures := fs.String("structures", "dense,lowrank,blockdense,blockshuffle,monarch,btt", "FFN structures, comma-separated")
	fractions := fs.String("fractions", "0.625,0.3125", "parameter fractions of the structured FFNs (the paper's 63% and 32%)")
	widths := fs.String("widths", "", "model widths d (FFN 4d); default 256,512,1024 on go, 256,512,1024,2048,4096 on XLA")
	tokens := fs.String("tokens", "", "tokens in flight; default 16,256,1024 on go, 16,256,1024,4096,8192 on XLA")
	passes := fs.String("passes", bench.Forward+","+bench.Backward, "passes: fwd, fwd+bwd")
	dtype := fs.String("dtype", "float32", "activation dtype: float32, or bfloat16 (weights cast from float32 masters, as -set dtype=bfloat16 trains)")
	minTime := fs.Duration("min_time", bench.DefaultTiming.MinTime, "measure each case for at least this long")
	minReps := fs.Int("min_reps", bench.DefaultTiming.MinReps, "and at least this many runs (median reported)")
	asJSON := fs.Bool("json", false, "print one JSON object per case (JSON Lines) instead of a table")
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	if err := checkFlags(flagRange{"min_time", minTime.Seconds(), 0, math.Inf(1)}, flagRange{"min_reps", float64(*minReps), 1, math.Inf(1)}); err != nil {
		return err
	}
	b, config, err := newBackend(*backendName)
	if err != nil {
		return err
	}
	defer b.Finalize()
	onGo := strings.HasPrefix(config, "go")
	grid := bench.FFNGrid{Passes: strings.Split(*passes, ",")}
	var ok bool
	if grid.Dtype, ok = train.ParseDtype(*dtype); !ok {
		return fmt.Errorf("-dtype %s: allowed values are float32, bfloat16", *dtype)
	}
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
	fmt.Fprintf(stderr, "bench ffn on %s (%s): %d cases\n", config, train.DtypeName(grid.Dtype), len(grid.Cases()))
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
	reference := fs.Bool("reference", false, "then run the PyTorch reference of the same model and step (structffn/bench/pytorch, with $"+torchPythonEnv+") back to back and print the ratio")
	script := fs.String("reference_script", "structffn/bench/pytorch/train_bench.py", "path of the PyTorch reference script")
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	if err := checkFlags(flagRange{"steps", float64(*steps), 1, math.Inf(1)}, flagRange{"min_time", minTime.Seconds(), 0, math.Inf(1)},
		flagRange{"warmup", float64(*warmup), 0, math.Inf(1)}, flagRange{"peak_tflops", *peak, 0, math.Inf(1)}); err != nil {
		return err
	}
	ctx := train.DefaultContext()
	if _, err := train.ApplySettings(ctx, *settings); err != nil {
		return err
	}
	var b backends.Backend
	var config string
	var err error
	if *stock {
		// GoMLX's own DotGeneral gradient, and on the pure-Go backend its default options.
		dotgrad.Uninstall()
		defer dotgrad.Install()
	}
	*backendName = train.BackendName(ctx, *backendName)
	if cfg, _ := backend.Resolve(*backendName); *stock && strings.HasPrefix(cfg, "go") {
		config = "go (stock v0.26.0)"
		if b, err = backends.NewWithConfig("go"); err != nil {
			return err
		}
	} else if b, config, err = newBackend(*backendName); err != nil {
		return err
	} else if *stock {
		config += " (stock DotGeneral gradient)"
	}
	defer b.Finalize()
	if *peak == 0 {
		*peak = backend.PeakTFLOPs(config)
	}
	if *reference {
		oneDevice(ctx)
	}
	if *reference && (train.Param[int](ctx, train.ParamDevices) != 1 || train.Param[int](ctx, train.ParamGradAccum) != 1) {
		return errors.New("-reference: the PyTorch reference runs its steps on one device in one batch: drop -reference, or the devices and grad_accum settings")
	}
	if mode, err := guide.ParseMode(train.Param[string](ctx, train.ParamSGT)); err != nil {
		return err
	} else if mode != guide.Off {
		if *reference {
			return errors.New("-reference: the PyTorch reference has no self-guided training: drop -reference, or -set sgt=off")
		}
		fmt.Fprintf(stderr, "bench train on %s: the SGT run's guided window, then the plain model's same steps, compilation included ...\n", config)
		r, err := bench.TrainSGT(b, config, ctx, *peak)
		if err != nil {
			return err
		}
		printTrain(r, *asJSON)
		return nil
	}
	fmt.Fprintf(stderr, "bench train on %s ...\n", config)
	r, err := bench.Train(b, config, ctx, *warmup, *steps, *minTime, *peak)
	if err != nil {
		return err
	}
	if r.DevicesChosen != "" {
		fmt.Fprintln(stderr, r.DevicesChosen)
	}
	printTrain(r, *asJSON)
	if !*reference {
		return nil
	}
	ref, err := runReference(*script, ctx, config, *warmup, *steps, *minTime, *peak)
	if err != nil {
		return err
	}
	printTrain(ref, *asJSON)
	if ref.Params != r.Params || ref.TrainFLOPsPerToken != r.TrainFLOPsPerToken {
		return fmt.Errorf("the reference built another model (%d params, %d FLOPs/token; ours %d, %d)",
			ref.Params, ref.TrainFLOPsPerToken, r.Params, r.TrainFLOPsPerToken)
	}
	fmt.Fprintf(stderr, "ratio %s / %s: %.2fx tokens/s\n", r.Backend, ref.Backend, r.TokPerS/ref.TokPerS)
	return nil
}

func runBenchDecode(args []string) error {
	fs := newFlagSet("bench decode", "[-set \"k=v;...\" | -ckpt DIR] [-backend NAME] [-modes LIST] [-batch LIST] [-new LIST] [-json]")
	settings := fs.String("set", "", "model as for train, e.g. -set=\"preset=mini;structure=lowrank;fraction=0.3125\" (random weights)")
	ckpt := fs.String("ckpt", "", "time a trained run's model and weights instead of -set")
	backendName := fs.String("backend", "", backendHelp)
	modes := fs.String("modes", bench.Structured+","+bench.MergedMode+","+bench.DenseMode, "decoding modes: structured (as trained), merged (pre-merged dense weights), dense (a dense model of the same shape)")
	batches := fs.String("batch", "", "sequences decoded together; default 1,2,4,...,64 on go, 1,2,4,...,256 on XLA")
	newTokens := fs.String("new", "1", "new tokens per sequence per step: 1 is token-by-token decoding, more is a prompt chunk")
	minTime := fs.Duration("min_time", 300*time.Millisecond, "measure each case for at least this long per mode")
	minReps := fs.Int("min_reps", 5, "and at least this many steps per mode (median reported)")
	asJSON := fs.Bool("json", false, "print one JSON object per case and mode (JSON Lines) instead of a table")
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	if err := checkFlags(flagRange{"min_time", minTime.Seconds(), 0, math.Inf(1)}, flagRange{"min_reps", float64(*minReps), 1, math.Inf(1)}); err != nil {
		return err
	}
	var cfg model.Config
	var weights *context.Context
	if *ckpt != "" {
		if *settings != "" {
			return fmt.Errorf("give -ckpt or -set, not both: a run directory fixes the model")
		}
		run, err := train.Load(*ckpt, "")
		if err != nil {
			return err
		}
		cfg, weights = run.Config, run.Ctx
	} else {
		ctx := train.DefaultContext()
		if _, err := train.ApplySettings(ctx, *settings); err != nil {
			return err
		}
		var err error
		if cfg, err = train.ModelConfig(ctx); err != nil {
			return err
		}
		*backendName = train.BackendName(ctx, *backendName)
		weights = context.New()
		weights.SetParam(linear.ParamSeed, train.Param[int](ctx, train.ParamSeed))
	}
	b, config, err := newBackend(*backendName)
	if err != nil {
		return err
	}
	defer b.Finalize()
	onGo := strings.HasPrefix(config, "go")
	var cases []bench.DecodeCase
	bs, err := parseInts("-batch", *batches, pick(onGo, "1,2,4,8,16,32,64", "1,2,4,8,16,32,64,128,256"))
	if err != nil {
		return err
	}
	ns, err := parseInts("-new", *newTokens, "1")
	if err != nil {
		return err
	}
	for _, n := range ns {
		for _, batch := range bs {
			cases = append(cases, bench.DecodeCase{Batch: batch, NewTokens: n})
		}
	}
	names := strings.Split(*modes, ",")
	if cfg.Structure == linear.Dense {
		names = slices.DeleteFunc(names, func(m string) bool { return m != bench.Structured })
	}
	fmt.Fprintf(stderr, "bench decode on %s: %s %s (L=%d d=%d ffn=%d ctx=%d vocab=%d), modes %s, %d cases\n",
		config, cfg.Name, cfg.Structure, cfg.Layers, cfg.DModel, cfg.FFN, cfg.Context, cfg.Vocab, strings.Join(names, ","), len(cases))
	decoders, err := bench.DecodeModes(b, weights, cfg, names)
	if err != nil {
		return err
	}
	const row = "%-10s %6v %6v %9v %9v %10v %12v\n"
	if !*asJSON {
		fmt.Fprintf(stdout, row, "mode", "batch", "new", "in flight", "position", "ms", "tok/s")
	}
	results, err := bench.Decode(config, cfg, decoders, cases, bench.Timing{MinReps: *minReps, MinTime: *minTime}, func(r bench.DecodeResult) {
		if *asJSON {
			printJSONLine(stdout, r)
			return
		}
		fmt.Fprintf(stdout, row, r.Mode, r.Batch, r.NewTokens, r.TokensInFlight, r.Position,
			fmt.Sprintf("%.3f", r.Ms), fmt.Sprintf("%.0f", r.TokPerS))
	})
	if err != nil {
		return err
	}
	if cfg.Structure != linear.Dense && slices.Contains(names, bench.Structured) && slices.Contains(names, bench.MergedMode) {
		fmt.Fprintln(stderr, bench.DescribeCrossover(bench.Crossover(results)))
	}
	return nil
}

func printTrain(r bench.TrainResult, asJSON bool) {
	if asJSON {
		printJSONLine(stdout, r)
		return
	}
	var extra string
	if r.Dtype != "" && r.Dtype != "float32" {
		extra += " " + r.Dtype
	}
	if r.Devices > 1 {
		extra += fmt.Sprintf(" devices=%d", r.Devices)
	}
	if r.GradAccum > 1 {
		extra += fmt.Sprintf(" grad_accum=%d", r.GradAccum)
	}
	if s := r.SGT; s != nil {
		extra += fmt.Sprintf(" sgt=%s skip=%s draw=%s", s.Mode, s.Skip, s.Draw)
	}
	fmt.Fprintf(stdout, "%s %s (%s params; L=%d d=%d heads=%d ffn=%d ctx=%d batch=%d vocab=%d R=%d B=%d%s) on %s: %.0f tok/s, %.1f ms/step, MFU %.2f%% of %.3g TFLOP/s, %d steps\n",
		r.Preset, r.Structure, strconv.FormatInt(r.Params, 10), r.Layers, r.DModel, r.Heads, r.FFN, r.Ctx, r.Batch, r.Vocab,
		r.Rank, r.NBlocks, extra, r.Backend, r.TokPerS, r.MsPerStep, 100*r.MFU, r.PeakTFLOPs, r.Steps)
	if s := r.SGT; s != nil {
		fmt.Fprintf(stdout, "sgt window: %d of %d steps (%d guided matrices), %d on the guided graph: %.2f s with SGT (%d graphs compiled), %.2f s plain (%d); FLOPs %.3fx (computed %.3fx); overhead %.3f = (%.2f / %.2f) / %.3f\n",
			s.WindowSteps, s.RunSteps, s.Matrices, s.GuidedGraphSteps, s.SGTWallS, s.SGTCompiles, s.PlainWallS, s.PlainCompiles,
			s.FLOPRatio, s.ComputedFLOPRatio, s.Overhead, s.SGTWallS, s.PlainWallS, s.FLOPRatio)
	}
}

// torchPythonEnv names the Python interpreter that has torch (default python3).
const torchPythonEnv = "STRUCTFFN_TORCH_PYTHON"

// runReference runs the PyTorch reference script on the model of ctx's hyperparameters and parses
// its JSON line. Shape overrides map to the script's flags (context -> --ctx, learning_rate -> --lr);
// the step runs where ours does (--device cuda when config, our resolved backend, is a GPU's) and in
// our compute dtype (--dtype bfloat16: torch.autocast, float32 master weights).
func runReference(script string, ctx *context.Context, config string, warmup, steps int, minTime time.Duration, peak float64, extra ...string) (bench.TrainResult, error) {
	var ref bench.TrainResult
	py := os.Getenv(torchPythonEnv)
	if py == "" {
		py = "python3"
	}
	dtype, err := train.ComputeDtype(ctx)
	if err != nil {
		return ref, err
	}
	args := []string{script,
		"--device", pick(strings.Contains(config, "cuda"), "cuda", "cpu"),
		"--dtype", train.DtypeName(dtype),
		"--preset", train.Param[string](ctx, train.ParamPreset),
		"--structure", train.Param[string](ctx, train.ParamStructure),
		"--fraction", strconv.FormatFloat(train.Param[float64](ctx, train.ParamFraction), 'g', -1, 64),
		"--warmup", strconv.Itoa(warmup), "--steps", strconv.Itoa(steps),
		"--min_time", strconv.FormatFloat(minTime.Seconds(), 'g', -1, 64),
		"--peak_tflops", strconv.FormatFloat(peak, 'g', -1, 64)}
	for _, p := range [][2]string{{train.ParamRank, "rank"}, {train.ParamNBlocks, "nblocks"}, {train.ParamLayers, "layers"},
		{train.ParamDModel, "d_model"}, {train.ParamHeads, "heads"}, {train.ParamKVHeads, "kv_heads"},
		{train.ParamHeadDim, "head_dim"}, {train.ParamFFN, "ffn"}, {train.ParamContext, "ctx"}, {train.ParamBatch, "batch"}} {
		if v := train.Param[int](ctx, p[0]); v != 0 {
			args = append(args, "--"+p[1], strconv.Itoa(v))
		}
	}
	if lr := train.Param[float64](ctx, train.ParamLearningRate); lr != 0 {
		args = append(args, "--lr", strconv.FormatFloat(lr, 'g', -1, 64))
	}
	args = append(args, extra...)
	fmt.Fprintf(stderr, "bench train: PyTorch reference: %s %s\n", py, strings.Join(args, " "))
	cmd := exec.Command(py, args...)
	cmd.Stderr = stderr
	out, err := cmd.Output()
	if err != nil {
		return ref, fmt.Errorf("PyTorch reference (%s %s) failed: %v; install it as structffn/bench/pytorch/README.md says and set %s",
			py, script, err, torchPythonEnv)
	}
	lines := strings.Split(strings.TrimSpace(string(out)), "\n")
	if err := json.Unmarshal([]byte(lines[len(lines)-1]), &ref); err != nil {
		return ref, fmt.Errorf("PyTorch reference printed no JSON result: %v", err)
	}
	return ref, nil
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

func runBenchBreakdown(args []string) error {
	fs := newFlagSet("bench breakdown", "[-set \"k=v;...\"] [-backend NAME] [-rounds N] [-steps N] [-min_time D] [-reference] [-json]")
	settings := fs.String("set", "", "model as for train, e.g. -set=\"preset=mini;structure=dense\"")
	backendName := fs.String("backend", "", backendHelp)
	rounds := fs.Int("rounds", 2, "time every variant this many times over, in turns; the fastest round counts")
	steps := fs.Int("steps", 5, "measure at least this many steps per variant and round")
	minTime := fs.Duration("min_time", 3*time.Second, "and at least this long")
	asJSON := fs.Bool("json", false, "print the breakdown(s) as JSON, one object per line")
	peakFlag := fs.Float64("peak_tflops", 0, "peak TFLOP/s for MFU (default on CPU: an estimate, cores × 32 FLOP/cycle × 3.5 GHz; on a GPU 0, no MFU)")
	reference := fs.Bool("reference", false, "break the PyTorch reference's step down the same way (its --ablate variants), side by side")
	script := fs.String("reference_script", "structffn/bench/pytorch/train_bench.py", "path of the PyTorch reference script")
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	if *rounds < 1 || *steps < 1 || *minTime < 0 || *peakFlag < 0 {
		return fmt.Errorf("-rounds and -steps must be at least 1, -min_time and -peak_tflops not negative (got %d, %d, %v, %g)", *rounds, *steps, *minTime, *peakFlag)
	}
	ctx := train.DefaultContext()
	if _, err := train.ApplySettings(ctx, *settings); err != nil {
		return err
	}
	if *reference {
		oneDevice(ctx)
	}
	b, config, err := newBackend(train.BackendName(ctx, *backendName))
	if err != nil {
		return err
	}
	defer b.Finalize()
	peak := *peakFlag
	if peak == 0 {
		peak = backend.PeakTFLOPs(config)
	}
	fmt.Fprintf(stderr, "bench breakdown on %s: %d rounds of every variant ...\n", config, *rounds)
	ours, err := bench.Breakdown(b, config, ctx, *steps, *minTime, *rounds, peak)
	if err != nil {
		return err
	}
	var ref *bench.BreakdownResult
	if *reference {
		r, err := referenceBreakdown(*script, ctx, ours, *steps, *minTime, *rounds, peak)
		if err != nil {
			return err
		}
		ref = &r
	}
	if *asJSON {
		printJSONLine(stdout, ours)
		if ref != nil {
			printJSONLine(stdout, *ref)
		}
		return nil
	}
	printTrain(ours.Model, false)
	cols := []bench.BreakdownResult{ours}
	if ref != nil {
		printTrain(ref.Model, false)
		cols = append(cols, *ref)
	}
	header := "| kind of work | " + config + " ms | share |"
	sep := "|---|---|---|"
	if ref != nil {
		header += " " + ref.Model.Backend + " ms | share | ratio |"
		sep += "---|---|---|"
	}
	fmt.Fprintln(stdout, header)
	fmt.Fprintln(stdout, sep)
	refRows := map[string]bench.BreakdownRow{}
	if ref != nil {
		for _, r := range ref.Rows {
			refRows[r.Kind] = r
		}
	}
	line := func(kind string, a float64, share float64, rb *bench.BreakdownRow) {
		l := fmt.Sprintf("| %s | %.1f | %.0f%% |", kind, a, 100*share)
		if ref != nil {
			if rb == nil {
				l += " - | - | - |"
			} else {
				ratio := "-"
				if rb.Ms > 0.5 && a > 0 {
					ratio = fmt.Sprintf("%.2fx", a/rb.Ms)
				}
				l += fmt.Sprintf(" %.1f | %.0f%% | %s |", rb.Ms, 100*rb.Share, ratio)
			}
		}
		fmt.Fprintln(stdout, l)
	}
	for _, r := range ours.Rows {
		var rb *bench.BreakdownRow
		if x, ok := refRows[r.Kind]; ok {
			rb = &x
		}
		line(r.Kind, r.Ms, r.Share, rb)
	}
	full := bench.BreakdownRow{Kind: "whole step", Ms: cols[len(cols)-1].Model.MsPerStep, Share: 1}
	line("whole step", ours.Model.MsPerStep, 1, map[bool]*bench.BreakdownRow{true: &full, false: nil}[ref != nil])
	for _, c := range cols {
		for _, v := range c.Variants {
			if v.Name == bench.VariantFull {
				fmt.Fprintf(stdout, "%s: first step (compilation included) %.0f ms\n", c.Model.Backend, v.FirstMs)
			}
		}
	}
	fmt.Fprintln(stdout, "Each row: the step's time minus the time of the step without that work (model.Ablation); variants timed in turns, the fastest of the rounds counts.")
	return nil
}

// referenceBreakdown runs the PyTorch reference once per variant (its --ablate), rounds times over in
// turns, and splits its step the same way as ours.
func referenceBreakdown(script string, ctx *context.Context, ours bench.BreakdownResult, steps int, minTime time.Duration, rounds int, peak float64) (bench.BreakdownResult, error) {
	var res bench.BreakdownResult
	best := map[string]bench.TrainResult{}
	for range rounds {
		for _, v := range ours.Variants {
			name := v.Name
			if name == bench.VariantOverhead {
				continue
			}
			if name == bench.VariantFull {
				name = "none"
			}
			r, err := runReference(script, ctx, ours.Model.Backend, 2, steps, minTime, peak, "--ablate", name)
			if err != nil {
				return res, err
			}
			if b, ok := best[v.Name]; !ok || r.MsPerStep < b.MsPerStep {
				best[v.Name] = r
			}
		}
	}
	ms := map[string]float64{}
	for _, v := range ours.Variants {
		if r, ok := best[v.Name]; ok {
			ms[v.Name] = r.MsPerStep
			res.Variants = append(res.Variants, bench.BreakdownVariant{Name: v.Name, MsPerStep: r.MsPerStep})
		}
	}
	res.Model, res.Rows, res.Rounds = best[bench.VariantFull], bench.BreakdownKinds(ms), rounds
	return res, nil
}

// oneDevice sets devices=1 where ctx leaves the choice to measurement (devices=0): a comparison with
// the PyTorch reference runs both sides on one device.
func oneDevice(ctx *context.Context) {
	if train.Param[int](ctx, train.ParamDevices) == train.DevicesAuto {
		ctx.SetParam(train.ParamDevices, 1)
	}
}
