package scaling

import (
	"cmp"
	"fmt"
	"maps"
	"math"
	"slices"
	"strconv"
	"strings"
)

// BudgetStats is one family at one size and token budget (tokens per dense parameter) over its seeds:
// the mean and standard deviation of the validation loss, and the mean training FLOPs and tokens.
type BudgetStats struct {
	Size           string
	TokensPerParam float64 // the token budget, or 0 for a FLOP budget
	FLOPsBudget    float64 // the FLOP budget of runs planned from one (sweep -flops), else 0
	Family         string
	Seeds          []int
	Mean, SD       float64 // validation loss; SD is NaN for one seed
	FLOPs, Tokens  float64 // means over the seeds
}

// BudgetGap is a family's validation loss minus the reference family's, paired by seed, at one size and
// token budget: the mean difference and its 95% t-interval over the paired seeds (NaN for one pair).
// Negative: lower loss than the reference.
type BudgetGap struct {
	Size           string
	TokensPerParam float64
	FLOPsBudget    float64
	Family         string
	Pairs          int
	Mean, Lo, Hi   float64
	FLOPsRatio     float64 // the family's mean training FLOPs over the reference's
}

// Verdict says what the interval decides: "lower", "higher" (than the reference) or "undecided"
// (the interval contains 0, or there is one pair).
func (g BudgetGap) Verdict() string {
	switch {
	case g.Hi < 0:
		return "lower"
	case g.Lo > 0:
		return "higher"
	}
	return "undecided"
}

// ByBudget groups sweep results planned from token budgets (Result.TokensPerParam > 0) by size,
// budget and family, and pairs each family with the reference family seed by seed. Results without
// a token budget are left out. Stats are ordered by size, budget, family; gaps likewise, the
// reference itself omitted.
func ByBudget(results []Result, reference string) ([]BudgetStats, []BudgetGap) {
	type key struct {
		size        string
		tpp, budget float64
		family      string
	}
	loss := map[key]map[int]Result{}
	for _, r := range results {
		k := key{r.Preset, r.TokensPerParam, 0, Family(r)}
		if r.TokensPerParam <= 0 {
			if r.Budget <= 0 {
				continue
			}
			k.budget = r.Budget
		}
		if loss[k] == nil {
			loss[k] = map[int]Result{}
		}
		loss[k][r.Seed] = r
	}
	keys := make([]key, 0, len(loss))
	for k := range loss {
		keys = append(keys, k)
	}
	slices.SortFunc(keys, func(a, b key) int {
		return cmp.Or(strings.Compare(a.size, b.size), cmp.Compare(a.tpp, b.tpp), cmp.Compare(a.budget, b.budget), strings.Compare(a.family, b.family))
	})
	var stats []BudgetStats
	var gaps []BudgetGap
	for _, k := range keys {
		runs := loss[k]
		s := BudgetStats{Size: k.size, TokensPerParam: k.tpp, FLOPsBudget: k.budget, Family: k.family}
		var ls []float64
		for seed, r := range runs {
			s.Seeds = append(s.Seeds, seed)
			ls = append(ls, r.ValLoss)
			s.FLOPs += r.TrainFLOPs / float64(len(runs))
			s.Tokens += float64(r.Tokens) / float64(len(runs))
		}
		slices.Sort(s.Seeds)
		s.Mean, s.SD = MeanSD(ls)
		stats = append(stats, s)

		ref, ok := loss[key{k.size, k.tpp, k.budget, reference}]
		if !ok || k.family == reference {
			continue
		}
		g := BudgetGap{Size: k.size, TokensPerParam: k.tpp, FLOPsBudget: k.budget, Family: k.family}
		var ds []float64
		var flops, refFLOPs float64
		for _, seed := range s.Seeds {
			if rr, ok := ref[seed]; ok {
				ds = append(ds, runs[seed].ValLoss-rr.ValLoss)
				flops, refFLOPs = flops+runs[seed].TrainFLOPs, refFLOPs+rr.TrainFLOPs
			}
		}
		if len(ds) == 0 {
			continue
		}
		g.Pairs, g.FLOPsRatio = len(ds), flops/refFLOPs
		var sd float64
		g.Mean, sd = MeanSD(ds)
		half := t975(len(ds)-1) * sd / math.Sqrt(float64(len(ds)))
		g.Lo, g.Hi = g.Mean-half, g.Mean+half
		gaps = append(gaps, g)
	}
	return stats, gaps
}

// MeanSD is the mean and the sample standard deviation (NaN for fewer than two values).
func MeanSD(xs []float64) (mean, sd float64) {
	for _, x := range xs {
		mean += x / float64(len(xs))
	}
	if len(xs) < 2 {
		return mean, math.NaN()
	}
	var ss float64
	for _, x := range xs {
		ss += (x - mean) * (x - mean)
	}
	return mean, math.Sqrt(ss / float64(len(xs)-1))
}

// budgetName is how the tables name a budget: tokens per parameter, or a FLOP budget.
func budgetName(tpp, flops float64) string {
	if tpp > 0 {
		return strconv.FormatFloat(tpp, 'g', -1, 64)
	}
	return fmt.Sprintf("%.3g FLOPs", flops)
}

// BudgetMarkdown renders ByBudget's stats and gaps as two markdown tables.
func BudgetMarkdown(stats []BudgetStats, gaps []BudgetGap, reference string) string {
	var b strings.Builder
	col := "tokens/param"
	if slices.ContainsFunc(stats, func(s BudgetStats) bool { return s.FLOPsBudget > 0 }) {
		col = "budget"
	}
	fmt.Fprintf(&b, "| size | %s | family | seeds | val loss (mean ± sd) | train FLOPs | tokens |\n|---|---|---|---|---|---|---|\n", col)
	for _, s := range stats {
		loss := fmt.Sprintf("%.4f ± %.4f", s.Mean, s.SD)
		if math.IsNaN(s.SD) {
			loss = fmt.Sprintf("%.4f (one seed)", s.Mean)
		}
		fmt.Fprintf(&b, "| %s | %s | %s | %d | %s | %.3g | %.3g |\n", s.Size, budgetName(s.TokensPerParam, s.FLOPsBudget), s.Family, len(s.Seeds), loss, s.FLOPs, s.Tokens)
	}
	fmt.Fprintf(&b, "\n| size | %s | family | FLOPs vs %s | loss − %s (mean, 95%% CI over seeds) | verdict |\n|---|---|---|---|---|---|\n", col, reference, reference)
	for _, g := range gaps {
		gap := fmt.Sprintf("%+.4f (%+.4f, %+.4f), %d pairs", g.Mean, g.Lo, g.Hi, g.Pairs)
		if g.Pairs < 2 {
			gap = fmt.Sprintf("%+.4f, no interval (1 pair)", g.Mean)
		}
		fmt.Fprintf(&b, "| %s | %s | %s | %.2fx | %s | %s |\n", g.Size, budgetName(g.TokensPerParam, g.FLOPsBudget), g.Family, g.FLOPsRatio, gap, g.Verdict())
	}
	return b.String()
}

// SuffixGaps pairs every family that ends in suffix (e.g. "lowrank32-cbs" for suffix "-cbs") with the
// family without it ("lowrank32"), seed by seed at each size and budget, as ByBudget pairs a family
// with its reference: what one setting changes, structure by structure. Gaps are ordered by size,
// budget and family; a family whose twin has no run is left out.
func SuffixGaps(results []Result, suffix string) []BudgetGap {
	bases := map[string]bool{}
	for _, r := range results {
		if base, ok := strings.CutSuffix(Family(r), suffix); ok && base != "" {
			bases[base] = true
		}
	}
	var gaps []BudgetGap
	for _, base := range slices.Sorted(maps.Keys(bases)) {
		twins := slices.DeleteFunc(slices.Clone(results), func(r Result) bool {
			f := Family(r)
			return f != base && f != base+suffix
		})
		_, g := ByBudget(twins, base)
		gaps = append(gaps, g...)
	}
	slices.SortStableFunc(gaps, func(a, b BudgetGap) int {
		return cmp.Or(strings.Compare(a.Size, b.Size), cmp.Compare(a.TokensPerParam, b.TokensPerParam), cmp.Compare(a.FLOPsBudget, b.FLOPsBudget))
	})
	return gaps
}

// SuffixMarkdown renders SuffixGaps as a markdown table.
func SuffixMarkdown(gaps []BudgetGap, suffix string) string {
	var b strings.Builder
	fmt.Fprintf(&b, "| size | budget | family | loss − the same family without %s (mean, 95%% CI over seeds) | verdict |\n|---|---|---|---|---|\n", suffix)
	for _, g := range gaps {
		gap := fmt.Sprintf("%+.4f (%+.4f, %+.4f), %d pairs", g.Mean, g.Lo, g.Hi, g.Pairs)
		if g.Pairs < 2 {
			gap = fmt.Sprintf("%+.4f, no interval (1 pair)", g.Mean)
		}
		fmt.Fprintf(&b, "| %s | %s | %s | %s | %s |\n", g.Size, budgetName(g.TokensPerParam, g.FLOPsBudget), g.Family, gap, g.Verdict())
	}
	return b.String()
}
