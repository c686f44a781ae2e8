package main

import (
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"slices"
	"strings"

	"github.com/structffn/structffn/structffn/scaling"
)

// runFit implements `structffn fit`: scaling-law fits of a sweep's results.jsonl, one per model
// family, with bootstrap intervals on α, the slope difference from the reference family, where the
// curves cross, and an iso-FLOP table.
func runFit(args []string) error {
	fs := newFlagSet("fit", "[-results FILE] [-reference FAMILY] [-samples N] [-seed S] [-budgets LIST] [-by_budget [-pair_suffix S]] [-json]")
	results := fs.String("results", "results/scaling-cpu/results.jsonl", "results.jsonl written by structffn sweep (several, comma-separated, are read as one)")
	reference := fs.String("reference", "dense", "family the others are compared with")
	samples := fs.Int("samples", 2000, "bootstrap draws per family (residual bootstrap)")
	seed := fs.Uint64("seed", 1, "bootstrap seed")
	budgets := fs.String("budgets", "", "training FLOP budgets for the iso-FLOP table (default: the smallest, middle and largest measured, and 10× and 100× the largest)")
	asJSON := fs.Bool("json", false, "print the fits as JSON")
	byBudget := fs.Bool("by_budget", false, "instead of fits: each family's loss per size and budget (tokens per parameter, or FLOPs) over its seeds, and its gap to the reference paired by seed (sweeps with -tokens_per_param or -flops)")
	pairSuffix := fs.String("pair_suffix", "", "with -by_budget: also pair each family ending in this suffix with the same family without it, seed by seed (e.g. -cbs: what lr_scaling=cbs changes per structure)")
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	if *samples < 10 {
		return fmt.Errorf("-samples %d: use at least 10 (2000 for stable 95%% intervals)", *samples)
	}
	var rs []scaling.Result
	for _, path := range strings.Split(*results, ",") {
		r, err := scaling.ReadResults(path)
		if err != nil {
			return err
		}
		rs = append(rs, r...)
	}
	if *byBudget {
		stats, gaps := scaling.ByBudget(rs, *reference)
		if len(stats) == 0 {
			return fmt.Errorf("%s: no run planned from a token or FLOP budget: -by_budget reads sweeps run with -tokens_per_param or -flops", *results)
		}
		fmt.Fprintf(stdout, "%d runs from %s by size and budget; gaps to %s paired by seed\n\n", len(rs), *results, *reference)
		fmt.Fprint(stdout, scaling.BudgetMarkdown(stats, gaps, *reference))
		if *pairSuffix != "" {
			pairs := scaling.SuffixGaps(rs, *pairSuffix)
			if len(pairs) == 0 {
				return fmt.Errorf("-pair_suffix %s: no family ending in %q has a twin without it", *pairSuffix, *pairSuffix)
			}
			fmt.Fprintf(stdout, "\nEach family ending in %s against the same family without it, paired by seed\n\n", *pairSuffix)
			fmt.Fprint(stdout, scaling.SuffixMarkdown(pairs, *pairSuffix))
		}
		return nil
	}
	if *pairSuffix != "" {
		return errors.New("-pair_suffix: only with -by_budget")
	}
	fits, err := scaling.Analyze(rs, *reference, *samples, *seed)
	if err != nil {
		return err
	}
	if *asJSON {
		type row struct {
			Family    string    `json:"family"`
			Points    int       `json:"points"`
			E         float64   `json:"e"`
			A         float64   `json:"a"`
			Alpha     float64   `json:"alpha"`
			AlphaCI   []float64 `json:"alpha_ci"`
			SlopeDiff *float64  `json:"alpha_minus_reference,omitempty"`
			SlopeCI   []float64 `json:"alpha_minus_reference_ci,omitempty"`
			Crossing  float64   `json:"crossing_flops,omitempty"`
		}
		var out []row
		for _, f := range fits {
			r := row{Family: f.Family, Points: len(f.Points), E: f.Boot.Fit.E, A: f.Boot.Fit.A, Alpha: f.Boot.Fit.Alpha,
				AlphaCI: []float64{f.Boot.AlphaLo, f.Boot.AlphaHi}, Crossing: f.Crossing}
			if !math.IsNaN(f.SlopeDiff) {
				d := f.SlopeDiff
				r.SlopeDiff, r.SlopeCI = &d, []float64{f.SlopeLo, f.SlopeHi}
			}
			out = append(out, r)
		}
		enc := json.NewEncoder(stdout)
		enc.SetIndent("", "  ")
		return enc.Encode(out)
	}
	fmt.Fprintf(stdout, "%d runs from %s, %d families fitted, residual bootstrap of %d draws\n", len(rs), *results, len(fits), *samples)
	for _, fam := range scaling.Families(rs) {
		if !slices.ContainsFunc(fits, func(f scaling.FamilyFit) bool { return f.Family == fam }) {
			fmt.Fprintf(stdout, "not fitted: %s (fewer than 4 runs at 3 sizes so far)\n", fam)
		}
	}
	fmt.Fprintln(stdout)
	fmt.Fprint(stdout, scaling.Markdown(fits))

	lo, hi := math.Inf(1), 0.0 // the measured training FLOPs
	for _, r := range rs {
		lo, hi = min(lo, r.TrainFLOPs), max(hi, r.TrainFLOPs)
	}
	var bs []float64
	if *budgets != "" {
		if bs, err = parsePositiveFloats("-budgets", *budgets); err != nil {
			return err
		}
	} else {
		bs = []float64{lo, math.Sqrt(lo * hi), hi, 10 * hi, 100 * hi}
	}
	byName := map[string]scaling.Fit{}
	for _, f := range fits {
		byName[f.Family] = f.Boot.Fit
	}
	iso, err := scaling.IsoFLOP(byName, *reference, bs)
	if err != nil {
		return err
	}
	fmt.Fprintf(stdout, "\niso-FLOP: fitted validation loss at each budget (Δ vs %s; beyond the largest measured budget it is an extrapolation)\n\n", *reference)
	fmt.Fprintln(stdout, "| budget | family | loss | Δ |\n|---|---|---|---|")
	for _, r := range iso {
		budget := fmt.Sprintf("%.3g", r.Budget)
		if r.Budget > hi*1.0001 {
			budget += " (extrapolated)"
		}
		fmt.Fprintf(stdout, "| %s | %s | %.4f | %+.4f |\n", budget, r.Name, r.Loss, r.Delta)
	}
	return nil
}

// parsePositiveFloats reads a comma-separated list of positive numbers.
func parsePositiveFloats(flagName, s string) ([]float64, error) {
	var out []float64
	for _, f := range strings.Split(s, ",") {
		var v float64
		if _, err := fmt.Sscan(strings.TrimSpace(f), &v); err != nil || !(v > 0) || math.IsInf(v, 0) {
			return nil, fmt.Errorf("%s: %q is not a positive number (e.g. 1e13)", flagName, f)
		}
		out = append(out, v)
	}
	return out, nil
}
