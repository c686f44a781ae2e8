package main

import (
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"strings"
	"text/tabwriter"

	"github.com/structffn/structffn/structffn/guide"
	"github.com/structffn/structffn/structffn/linear"
	"github.com/structffn/structffn/structffn/model"
)

// newFlagSet returns a flag set that reports errors instead of exiting, so that main prints one line.
func newFlagSet(name, synopsis string) *flag.FlagSet {
	fs := flag.NewFlagSet(name, flag.ContinueOnError)
	fs.Usage = func() {
		fmt.Fprintf(fs.Output(), "usage: structffn %s %s\n\nflags:\n", name, synopsis)
		fs.PrintDefaults()
	}
	return fs
}

// parseFlags parses args and turns -h into a clean exit and stray arguments into an error.
func parseFlags(fs *flag.FlagSet, args []string) error {
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			os.Exit(0)
		}
		return err
	}
	if fs.NArg() > 0 {
		return fmt.Errorf("unexpected argument %q (flags go before arguments, e.g. -json)", fs.Arg(0))
	}
	return nil
}

func runFLOPs(args []string) error {
	fs := newFlagSet("flops", "[-json] [-sgt] [-preset NAME [-structure K] [-fraction F] [-tokens N]]")
	asJSON := fs.Bool("json", false, "print a JSON array instead of a table")
	sgt := fs.Bool("sgt", false, "instead: what self-guided training costs each structured model (its guides' FLOPs share, p, and each mode's FLOPs over the plain run's, expected and computed)")
	preset := fs.String("preset", "", "one preset instead of the paper's table (e.g. tiny, mini, s, m-wide)")
	structure := fs.String("structure", "", "with -preset: one structure (dense, lowrank, blockdense, blockshuffle, monarch, btt); default all")
	fraction := fs.Float64("fraction", 0, "with -preset: FFN parameter fraction of the structured blocks; default the paper's 0.625 and 0.3125")
	tokens := fs.Int64("tokens", 0, "with -preset: training tokens (default the preset's budget)")
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	if *sgt {
		return printSGTCost(*preset, *structure, *fraction, *tokens, *asJSON)
	}
	var rows []model.FLOPsRow
	if *preset == "" {
		if *structure != "" || *fraction != 0 || *tokens != 0 {
			return fmt.Errorf("-structure, -fraction and -tokens need -preset")
		}
		var err error
		if rows, err = model.PaperFLOPsTable(); err != nil {
			return err
		}
	} else {
		var err error
		if rows, err = presetRows(*preset, *structure, *fraction, *tokens); err != nil {
			return err
		}
	}
	if *asJSON {
		enc := json.NewEncoder(stdout)
		enc.SetIndent("", "  ")
		return enc.Encode(rows)
	}
	return printFLOPsTable(stdout, rows)
}

// presetRows is the accounting of one preset for the requested structures and fractions.
func presetRows(preset, structure string, fraction float64, tokens int64) ([]model.FLOPsRow, error) {
	base, err := model.Preset(preset)
	if err != nil {
		return nil, err
	}
	if tokens < 0 {
		return nil, fmt.Errorf("-tokens must be positive (got %d)", tokens)
	}
	if tokens > 0 {
		base.Tokens = tokens
	}
	kinds := linear.Kinds
	if structure != "" {
		k, err := linear.ParseKind(structure)
		if err != nil {
			return nil, err
		}
		kinds = []linear.Kind{k}
	}
	fractions := []float64{linear.Fraction63, linear.Fraction32}
	if fraction != 0 {
		fractions = []float64{fraction}
	}
	var rows []model.FLOPsRow
	for _, k := range kinds {
		for i, f := range fractions {
			if k == linear.Dense && i > 0 {
				break // one dense row
			}
			cfg, err := base.WithStructure(k, f)
			if err != nil {
				return nil, fmt.Errorf("%s at fraction %g: %w", k, f, err)
			}
			if k == linear.Dense {
				rows = append(rows, model.NewFLOPsRow(cfg))
			} else {
				rows = append(rows, model.NewFLOPsRowAt(cfg, f))
			}
		}
	}
	return rows, nil
}

// printFLOPsTable prints rows as an aligned table, with the paper's figure where it differs from ours
// ("=" where it matches) and where that figure comes from: printed in the paper (Table 1, Table 2) or
// derived from the reference code's formulas.
func printFLOPsTable(w io.Writer, rows []model.FLOPsRow) error {
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintln(tw, "preset\tstructure\tsetting\tFFN frac\trank\tnblocks\tparams\tpaper\tFFN params\tpaper\ttokens\ttrain FLOPs\tpaper\tsource\t")
	var matched, total [2]int // [derived, published]
	for _, r := range rows {
		setting, realised := linear.FractionName(r.Fraction), fmt.Sprintf("%.3f", r.Realised)
		paper := func(ours, theirs string) string {
			switch theirs {
			case "":
				return "-"
			case ours:
				return "="
			default:
				return theirs + " (differs)"
			}
		}
		params, ffn, flops := model.ParamCount(r.Params), model.ParamCount(r.FFNParams), model.Sig3(r.TrainFLOPs)
		source, kind := r.Source(), 0
		if r.Published {
			kind = 1
		}
		if source == "" {
			source = "-"
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%d\t%d\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t\n", r.Preset, r.Structure, setting,
			realised, r.Rank, r.NBlocks, params, paper(params, r.PaperParams), ffn, paper(ffn, r.PaperFFN),
			model.HumanCount(r.Tokens), flops, paper(flops, r.PaperFLOPs), source)
		if r.PaperParams != "" {
			total[kind]++
			if r.Matches() {
				matched[kind]++
			}
		}
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	if total[0]+total[1] > 0 {
		fmt.Fprintf(w, "\n%d of %d published models (Table 1: xl; Table 2: m-wide, l-wide) reproduce every printed figure, and %d of %d\n"+
			"derived ones (s, m, l, no published table: figures from the reference code's formulas) agree (\"=\": same at the printed precision).\n",
			matched[1], total[1], matched[0], total[0])
		fmt.Fprintln(w, strings.TrimSpace(`
FLOPs: 3 x forward x tokens, forward per token = 2L(2ad + 2 h_d n_kv d + 2sa) + 2 FFN + 2Vd (docs/METHOD.md section 4);
steps = floor(tokens / (batch x context)) = floor(tokens / 524288) for the paper's models. Params include biases and norms; FFN params are weight matrices only.`))
	}
	return nil
}

// sgtCostRow is one structured model's SGT cost (flops -sgt).
type sgtCostRow struct {
	Preset    string  `json:"preset"`
	Structure string  `json:"structure"`
	Fraction  float64 `json:"fraction"`
	Steps     int64   `json:"steps"` // N, the base steps of the preset's budget (or -tokens)
	guide.Cost
}

// printSGTCost prints guide.SGTCost for the 32% (or -fraction) structured models of one preset, or of
// the CPU and paper presets.
func printSGTCost(preset, structure string, fraction float64, tokens int64, asJSON bool) error {
	presets := append(append([]string{}, model.CPUPresets...), model.PaperPresets...)
	if preset != "" {
		presets = []string{preset}
	}
	if fraction == 0 {
		fraction = linear.Fraction32
	}
	kinds := linear.PaperKinds
	if structure != "" {
		k, err := linear.ParseKind(structure)
		if err != nil {
			return err
		}
		if k == linear.Dense {
			return fmt.Errorf("-sgt -structure dense: a dense model has nothing to guide")
		}
		kinds = []linear.Kind{k}
	}
	var rows []sgtCostRow
	for _, name := range presets {
		dense, err := model.Preset(name)
		if err != nil {
			return err
		}
		if tokens > 0 {
			dense.Tokens = tokens
		}
		for _, k := range kinds {
			cfg, err := dense.WithStructure(k, fraction)
			if err != nil {
				return fmt.Errorf("%s %s at fraction %g: %w", name, k, fraction, err)
			}
			c, err := guide.SGTCost(dense, cfg, cfg.Steps(), 0.5)
			if err != nil {
				return err
			}
			rows = append(rows, sgtCostRow{Preset: name, Structure: k.String(), Fraction: fraction, Steps: cfg.Steps(), Cost: c})
		}
	}
	if asJSON {
		enc := json.NewEncoder(stdout)
		enc.SetIndent("", "  ")
		return enc.Encode(rows)
	}
	tw := tabwriter.NewWriter(stdout, 0, 0, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintln(tw, "preset\tstructure\tsetting\tmatrices\tsteps N\tguides/model\tp\tsgt=steps: expected\tcomputed\tsgt=flops: expected\tcomputed\t")
	for _, r := range rows {
		fmt.Fprintf(tw, "%s\t%s\t%s\t%d\t%d\t%.3f\t%.3f\t%.3fx\t%.3fx\t%.3fx\t%.3fx\t\n", r.Preset, r.Structure, linear.FractionName(r.Fraction),
			r.Matrices, r.Steps, r.GuideShare, r.P, r.StepsExpected, r.StepsComputed, r.FLOPsExpected, r.FLOPsComputed)
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	fmt.Fprintln(stdout, strings.TrimSpace(`
guides/model: the guides' training FLOPs per token over the structured model's (g). Each mode's training FLOPs over
the plain structured run of the same N steps: expected, the paper's accounting (a guide costs α x a dense layer,
mean α = 1/2 over a cosine window); computed, what the guided graph computes (every guide on each window step,
skipped ones masked). sgt=steps guides the first N/2 steps; sgt=flops trains N(1+p) steps, guided over p·N.`))
	return nil
}
