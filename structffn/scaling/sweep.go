package scaling

import (
	stdctx "context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/gomlx/gomlx/backends"

	"github.com/structffn/structffn/internal/atomicfile"
	"github.com/structffn/structffn/structffn/guide"
	"github.com/structffn/structffn/structffn/linear"
	"github.com/structffn/structffn/structffn/model"
	"github.com/structffn/structffn/structffn/train"
)

// Size is one model size of a sweep: a preset, or "LxD" (L layers of width D on the tiny preset's
// vocabulary and context: heads of 32, FFN 4·D).
type Size struct {
	Name     string
	Settings string // -set overrides that make the size
}

// ParseSize reads a preset name (tiny, mini, small, s, ...) or LxD such as 4x192.
func ParseSize(s string) (Size, error) {
	s = strings.TrimSpace(s)
	if l, d, ok := strings.Cut(s, "x"); ok {
		layers, err1 := strconv.Atoi(l)
		width, err2 := strconv.Atoi(d)
		if err1 != nil || err2 != nil || layers < 1 || width < 32 || width%32 != 0 {
			return Size{}, fmt.Errorf("size %q: want LxD with L >= 1 layers and a width D that is a multiple of 32 (heads of 32), e.g. 4x192, or a preset", s)
		}
		return Size{Name: s, Settings: fmt.Sprintf("preset=tiny;layers=%d;d_model=%d;heads=%d;kv_heads=%d;head_dim=32;ffn=%d",
			layers, width, width/32, width/32, 4*width)}, nil
	}
	if _, err := model.Preset(s); err != nil {
		return Size{}, fmt.Errorf("size %q: neither a preset nor LxD (e.g. 4x192): %v", s, err)
	}
	return Size{Name: s, Settings: "preset=" + s}, nil
}

// Plan is a sweep: every size × structure × fraction × SGT setting × seed, each trained on a token
// budget of K × the size's dense parameter count for each K of TokensPerParam (the same tokens for
// every structure of a size, as in the paper), or, when FLOPBudgets is set, once per budget with
// train_steps chosen so that its training FLOPs come as close to the budget as whole steps allow.
// With EqualFLOPs (token budgets only), every structured run without SGT is planned a second time at
// the dense model's training FLOPs for the same K (more tokens): the iso-FLOP comparison.
type Plan struct {
	Sizes          []Size
	Structures     []linear.Kind
	Fractions      []float64    // of the structured FFNs; dense runs once per size and seed
	SGT            []guide.Mode // SGT settings; guided runs only for structured models
	Seeds          []int
	TokensPerParam []float64 // token budgets, in tokens per dense parameter; run names get "-tK" when there are several
	FLOPBudgets    []float64
	EqualFLOPs     bool
	Base           string // -set applied to every run first (corpus, eval_every, ...)
}

// MatchDenseFLOPs is Run.Match (and Result.Match) of a run planned at the dense model's training
// FLOPs (Plan.EqualFLOPs) instead of its token budget.
const MatchDenseFLOPs = "dense_flops"

// Run is one planned training run.
type Run struct {
	Name      string     `json:"name"`
	Size      string     `json:"size"`
	Structure string     `json:"structure"`
	Fraction  float64    `json:"fraction"`
	SGT       guide.Mode `json:"sgt"`
	Seed      int        `json:"seed"`
	Budget    float64    `json:"budget,omitempty"` // the FLOP budget it was planned for
	// TokensPerParam is the token budget it was planned from (0 for FLOP budgets); Match is
	// MatchDenseFLOPs for an EqualFLOPs run.
	TokensPerParam float64 `json:"tokens_per_param,omitempty"`
	Match          string  `json:"match,omitempty"`
	Settings       string  `json:"settings"` // the full -set string
	Planned        train.Planned
}

// Runs expands the plan in a fixed order (size, token budget, structure, fraction, SGT, seed, FLOP
// budget; an EqualFLOPs run right after its token-budget twin), each run resolved with train.Plan.
func (p Plan) Runs() ([]Run, error) {
	if len(p.Sizes) == 0 || len(p.Structures) == 0 || len(p.Seeds) == 0 {
		return nil, errors.New("sweep plan: give at least one size, structure and seed")
	}
	if (len(p.TokensPerParam) > 0) == (len(p.FLOPBudgets) > 0) {
		return nil, errors.New("sweep plan: give either a tokens-per-parameter rule or FLOP budgets, not both or neither")
	}
	for _, k := range p.TokensPerParam {
		if !(k > 0) || math.IsInf(k, 0) {
			return nil, fmt.Errorf("sweep plan: tokens per parameter %g: want a positive number", k)
		}
	}
	if p.EqualFLOPs && len(p.FLOPBudgets) > 0 {
		return nil, errors.New("sweep plan: equal-FLOPs runs match the dense model's FLOPs at a token budget: give tokens per parameter, not FLOP budgets")
	}
	sgts := p.SGT
	if len(sgts) == 0 {
		sgts = []guide.Mode{guide.Off}
	}
	tpps := p.TokensPerParam
	if len(tpps) == 0 {
		tpps = []float64{0}
	}
	budgets := p.FLOPBudgets
	if len(budgets) == 0 {
		budgets = []float64{0}
	}
	var runs []Run
	for _, size := range p.Sizes {
		denseParams, err := p.denseParams(size)
		if err != nil {
			return nil, err
		}
		for _, tpp := range tpps {
			var denseFLOPs float64 // the dense run's training FLOPs at this budget (the same for every seed)
			if p.EqualFLOPs {
				d, err := p.run(size, linear.Dense, 1, guide.Off, p.Seeds[0], tpp, 0, denseParams)
				if err != nil {
					return nil, err
				}
				denseFLOPs = d.Planned.TrainFLOPs
			}
			for _, kind := range p.Structures {
				fractions := p.Fractions
				if kind == linear.Dense || len(fractions) == 0 {
					fractions = []float64{1}
				}
				for _, frac := range fractions {
					for _, sgt := range sgts {
						if sgt != guide.Off && kind == linear.Dense {
							continue
						}
						for _, seed := range p.Seeds {
							for _, budget := range budgets {
								r, err := p.run(size, kind, frac, sgt, seed, tpp, budget, denseParams)
								if err != nil {
									return nil, err
								}
								runs = append(runs, r)
								if p.EqualFLOPs && kind != linear.Dense && sgt == guide.Off {
									r, err := p.run(size, kind, frac, sgt, seed, tpp, denseFLOPs, denseParams)
									if err != nil {
										return nil, err
									}
									runs = append(runs, r)
								}
							}
						}
					}
				}
			}
		}
	}
	return runs, nil
}

// denseParams is the dense model's parameter count at a size.
func (p Plan) denseParams(size Size) (int64, error) {
	ctx := train.DefaultContext()
	if _, err := train.ApplySettings(ctx, join(p.Base, size.Settings, "structure=dense")); err != nil {
		return 0, fmt.Errorf("size %s: %v", size.Name, err)
	}
	cfg, err := train.ModelConfig(ctx)
	if err != nil {
		return 0, fmt.Errorf("size %s: %v", size.Name, err)
	}
	return cfg.Params().Total, nil
}

// run plans one run: trained on budget FLOPs when budget > 0, else on tpp tokens per dense parameter;
// both set is an EqualFLOPs run (budget: the dense run's FLOPs at tpp).
func (p Plan) run(size Size, kind linear.Kind, frac float64, sgt guide.Mode, seed int, tpp, budget float64, denseParams int64) (Run, error) {
	r := Run{Size: size.Name, Structure: kind.String(), Fraction: frac, SGT: sgt, Seed: seed, Budget: budget, TokensPerParam: tpp}
	r.Name = size.Name + "-" + kind.String()
	if kind != linear.Dense {
		r.Name += strings.TrimSuffix(linear.FractionName(frac), "%")
		if scalingOf(join(p.Base, size.Settings)) == linear.ScalingCBS {
			r.Name += "-cbs" // Compute Better Spent's scaling: another family than the paper's init
		}
	}
	if sgt != guide.Off {
		r.Name += "-sgt" + sgt.String()
	}
	if len(p.TokensPerParam) > 1 {
		r.Name += "-t" + strconv.FormatFloat(tpp, 'g', -1, 64)
	}
	switch {
	case budget > 0 && tpp == 0:
		r.Name += "-c" + strings.ReplaceAll(strconv.FormatFloat(budget, 'e', 2, 64), "+", "")
	case budget > 0:
		r.Name, r.Match = r.Name+"-eqflops", MatchDenseFLOPs
	}
	r.Name += "-s" + strconv.Itoa(seed)
	settings := join(p.Base, size.Settings, fmt.Sprintf("structure=%s;fraction=%g;sgt=%s;seed=%d", kind, frac, sgt, seed))
	// Steps from the budget: FLOPs per base step (SGT's share included) from a 1000-step probe.
	const probeSteps = 1000
	probe, err := train.PlanSettings(join(settings, fmt.Sprintf("train_steps=%d", probeSteps)))
	if err != nil {
		return r, fmt.Errorf("run %s: %v", r.Name, err)
	}
	tokensPerStep := float64(probe.Config.TokensPerStep())
	var steps int64
	if budget > 0 {
		steps = int64(math.Round(budget / (probe.TrainFLOPs / probeSteps)))
	} else {
		steps = int64(math.Round(tpp * float64(denseParams) / tokensPerStep))
	}
	if steps < 1 {
		return r, fmt.Errorf("run %s: the budget buys less than one step of %d tokens: raise it", r.Name, int64(tokensPerStep))
	}
	r.Settings = join(settings, fmt.Sprintf("train_steps=%d", steps))
	if r.Planned, err = train.PlanSettings(r.Settings); err != nil {
		return r, fmt.Errorf("run %s: %v", r.Name, err)
	}
	return r, nil
}

// scalingOf is the lr_scaling a -set string leaves in effect ("" when it does not apply).
func scalingOf(settings string) string {
	ctx := train.DefaultContext()
	if _, err := train.ApplySettings(ctx, settings); err != nil {
		return ""
	}
	return train.Param[string](ctx, train.ParamScaling)
}

// join concatenates -set strings.
func join(parts ...string) string {
	var out []string
	for _, p := range parts {
		if p = strings.Trim(p, "; "); p != "" {
			out = append(out, p)
		}
	}
	return strings.Join(out, ";")
}

// Shard returns the runs of shard i of n (0 <= i < n): every n-th run from the i-th, so that a batch
// scheduler's array job (a Slurm array, a Kubernetes indexed Job) splits a sweep deterministically.
func Shard(runs []Run, i, n int) ([]Run, error) {
	if n < 1 || i < 0 || i >= n {
		return nil, fmt.Errorf("shard %d/%d: want 0 <= i < n, e.g. -shard 0/4 ($SLURM_ARRAY_TASK_ID/$SLURM_ARRAY_TASK_COUNT)", i, n)
	}
	var out []Run
	for k, r := range runs {
		if k%n == i {
			out = append(out, r)
		}
	}
	return out, nil
}

// ParseShard reads "i/n".
func ParseShard(s string) (i, n int, err error) {
	a, b, ok := strings.Cut(s, "/")
	if ok {
		i, err = strconv.Atoi(a)
		if err == nil {
			n, err = strconv.Atoi(b)
		}
	}
	if !ok || err != nil {
		return 0, 0, fmt.Errorf("shard %q: want i/n, e.g. 0/4", s)
	}
	return i, n, nil
}

// Result is one finished run of a sweep: a line of results.jsonl.
type Result struct {
	Name       string     `json:"name"`
	Preset     string     `json:"preset"` // the size: a preset name or LxD
	Structure  string     `json:"structure"`
	Fraction   float64    `json:"fraction"` // realised FFN parameter fraction of the structured blocks
	SGT        guide.Mode `json:"sgt"`
	Seed       int        `json:"seed"`
	Params     int64      `json:"params"`
	FFNParams  int64      `json:"ffn_params"`
	Tokens     int64      `json:"tokens"`
	TrainFLOPs float64    `json:"train_flops"`
	ValLoss    float64    `json:"val_loss"`
	WallS      float64    `json:"wall_s"`
	Budget     float64    `json:"budget,omitempty"`
	// TokensPerParam and Match are the plan's (Run): the token budget per dense parameter, and
	// MatchDenseFLOPs for a run trained at the dense model's FLOPs.
	TokensPerParam float64 `json:"tokens_per_param,omitempty"`
	Match          string  `json:"match,omitempty"`
}

// resultFile is written into a run's directory when it has finished.
const resultFile = "result.json"

// ExecOptions control Execute.
type ExecOptions struct {
	Backend     backends.Backend
	BackendName string
	CacheDir    string
	Log         io.Writer // progress lines (os.Stdout when nil)
}

// Execute trains the runs in order, each into outDir/<name>: a run whose directory holds result.json
// is skipped; an interrupted one resumes from its checkpoint (train.Run). After each run, outDir's
// results.jsonl is rewritten from every finished run found there (Collect), so shards that share the
// directory, or whose directories are copied together, merge.
func Execute(goctx stdctx.Context, runs []Run, outDir string, opts ExecOptions) error {
	if opts.Log == nil {
		opts.Log = os.Stdout
	}
	for k, r := range runs {
		dir := filepath.Join(outDir, r.Name)
		if _, err := os.Stat(filepath.Join(dir, resultFile)); err == nil {
			fmt.Fprintf(opts.Log, "sweep: [%d/%d] %s done, skipped\n", k+1, len(runs), r.Name)
			continue
		}
		fmt.Fprintf(opts.Log, "sweep: [%d/%d] %s: %d steps, %.3g FLOPs\n", k+1, len(runs), r.Name, r.Planned.Steps, r.Planned.TrainFLOPs)
		ctx := train.DefaultContext()
		start := time.Now()
		res, err := train.Run(goctx, ctx, train.Options{OutDir: dir, Backend: opts.Backend, BackendName: opts.BackendName,
			CacheDir: opts.CacheDir, Settings: r.Settings, Log: io.Discard})
		if err != nil {
			return fmt.Errorf("sweep run %s: %w", r.Name, err)
		}
		sum, err := train.Summarize(dir)
		if err != nil {
			return fmt.Errorf("sweep run %s: %w", r.Name, err)
		}
		out := Result{Name: r.Name, Preset: r.Size, Structure: r.Structure, Fraction: sum.Fraction, SGT: r.SGT, Seed: r.Seed,
			Params: sum.Params, FFNParams: sum.FFNParams, Tokens: sum.Tokens, TrainFLOPs: sum.TrainFLOP, ValLoss: res.ValLoss,
			WallS: time.Since(start).Seconds(), Budget: r.Budget, TokensPerParam: r.TokensPerParam, Match: r.Match}
		js, _ := json.MarshalIndent(out, "", "  ")
		if err := atomicfile.Write(filepath.Join(dir, resultFile), append(js, '\n')); err != nil {
			return err
		}
		fmt.Fprintf(opts.Log, "sweep: %s: val loss %.4f, %.0f s\n", r.Name, out.ValLoss, out.WallS)
		if _, err := Collect(outDir); err != nil {
			return err
		}
	}
	_, err := Collect(outDir)
	return err
}

// Collect reads every outDir/*/result.json and writes them, sorted by name, as outDir/results.jsonl
// (atomically); it returns them.
func Collect(outDir string) ([]Result, error) {
	paths, err := filepath.Glob(filepath.Join(outDir, "*", resultFile))
	if err != nil {
		return nil, err
	}
	var results []Result
	for _, p := range paths {
		raw, err := os.ReadFile(p)
		if err != nil {
			return nil, err
		}
		var r Result
		if err := json.Unmarshal(raw, &r); err != nil {
			return nil, fmt.Errorf("%s is damaged (%v): delete it to rerun that run", p, err)
		}
		results = append(results, r)
	}
	slices.SortFunc(results, func(a, b Result) int { return strings.Compare(a.Name, b.Name) })
	var b strings.Builder
	for _, r := range results {
		js, _ := json.Marshal(r)
		b.Write(js)
		b.WriteByte('\n')
	}
	if err := os.MkdirAll(outDir, 0o755); err != nil {
		return nil, err
	}
	return results, atomicfile.Write(filepath.Join(outDir, "results.jsonl"), []byte(b.String()))
}

// ReadResults reads a results.jsonl.
func ReadResults(path string) ([]Result, error) {
	raw, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("%v: run structffn sweep first", err)
	}
	var out []Result
	for i, line := range strings.Split(strings.TrimSpace(string(raw)), "\n") {
		if line == "" {
			continue
		}
		var r Result
		if err := json.Unmarshal([]byte(line), &r); err != nil {
			return nil, fmt.Errorf("%s line %d is damaged: %v", path, i+1, err)
		}
		var missing []string
		for _, f := range []struct {
			name string
			ok   bool
		}{{"name", r.Name != ""}, {"train_flops", r.TrainFLOPs > 0}, {"val_loss", r.ValLoss > 0}} {
			if !f.ok {
				missing = append(missing, f.name)
			}
		}
		if len(missing) > 0 {
			return nil, fmt.Errorf("%s line %d has no %s: not a row of a sweep's results.jsonl (structffn sweep -out DIR writes DIR/results.jsonl)",
				path, i+1, strings.Join(missing, ", "))
		}
		out = append(out, r)
	}
	if len(out) == 0 {
		return nil, fmt.Errorf("%s holds no runs: run structffn sweep -out DIR first (it writes DIR/results.jsonl as runs finish)", path)
	}
	return out, nil
}
