package plot

import (
	"fmt"
	"math"
	"math/rand/v2"
	"slices"
	"strconv"
	"strings"

	"github.com/structffn/structffn/structffn/bench"
	"github.com/structffn/structffn/structffn/guide"
	"github.com/structffn/structffn/structffn/linear"
	"github.com/structffn/structffn/structffn/model"
	"github.com/structffn/structffn/structffn/scaling"
	"github.com/structffn/structffn/structffn/train"
)

// FLOPsTable displays the paper-comparison table of `structffn flops` (parameters, FFN parameters
// and training FLOPs, ours beside the paper's, "=" where they agree at the printed precision, and the
// source of the paper's figures: Table 1, Table 2 or derived) and returns its markdown.
func FLOPsTable(rows []model.FLOPsRow) string {
	same := func(ours, paper string) string {
		switch paper {
		case "":
			return ours + " | -"
		case ours:
			return ours + " | ="
		}
		return ours + " | " + paper + " ≠"
	}
	var out [][]string
	for _, r := range rows {
		setting := "100%"
		if r.Structure != linear.Dense.String() {
			setting = linear.FractionName(r.Fraction)
		}
		out = append(out, []string{r.Preset, r.Structure, setting, strconv.Itoa(r.Rank), strconv.Itoa(r.NBlocks),
			same(model.Millions(r.Params), r.PaperParams), same(model.Millions(r.FFNParams), r.PaperFFN),
			same(model.Sig3(r.TrainFLOPs), r.PaperFLOPs), r.Source()})
	}
	return Table([]string{"preset", "structure", "setting", "R", "B", "params", "paper", "FFN params", "paper", "train FLOPs", "paper", "source"}, out)
}

// DecodeLatency draws the latency of one decoding step against tokens in flight (log-log), one line
// per mode, for results of one model (bench.Decode).
func DecodeLatency(results []bench.DecodeResult) Figure {
	var series []Series
	for _, mode := range []string{bench.Structured, bench.MergedMode, bench.DenseMode} {
		s := Series{Name: mode, Markers: true}
		for _, r := range results {
			if r.Mode == mode {
				s.X, s.Y = append(s.X, float64(r.TokensInFlight)), append(s.Y, r.Ms)
			}
		}
		if len(s.X) > 0 {
			series = append(series, s)
		}
	}
	title := "decoding step latency"
	if len(results) > 0 {
		r := results[0]
		title = fmt.Sprintf("one decoding step, %s %s (L=%d, d=%d) on %s", r.Preset, r.Structure, r.Layers, r.DModel, r.Backend)
	}
	return Lines(title, "tokens in flight (batch × new tokens)", "ms per step", true, true, series...)
}

// Curve is one run's metrics, named for the legend.
type Curve struct {
	Name    string
	Records []train.Record
}

// LossCurves draws validation loss (markers) and training loss (dotted) against tokens seen.
func LossCurves(title string, curves ...Curve) Figure {
	var series []Series
	for _, c := range curves {
		val := Series{Name: c.Name + " val", Markers: true}
		tr := Series{Name: c.Name + " train", Dash: "dot"}
		for _, r := range c.Records {
			tr.X, tr.Y = append(tr.X, float64(r.Tokens)), append(tr.Y, r.TrainLoss)
			if r.ValLoss != nil {
				val.X, val.Y = append(val.X, float64(r.Tokens)), append(val.Y, *r.ValLoss)
			}
		}
		series = append(series, tr)
		if len(val.X) > 0 {
			series = append(series, val)
		}
	}
	return Lines(title, "training tokens", "loss (nats/token)", false, false, series...)
}

// AlphaSchedules draws α (the guide's weight, docs/METHOD.md §3) over a guided window of steps for each
// schedule kind: 1 at step 0, 0 from the end of the window on.
func AlphaSchedules(steps int64) Figure {
	var series []Series
	for _, kind := range []string{guide.Cosine, guide.Linear} {
		s := guide.Schedule{Kind: kind, Steps: steps}
		line := Series{Name: kind}
		for step := int64(0); step <= steps+steps/10; step++ {
			line.X, line.Y = append(line.X, float64(step)), append(line.Y, s.Alpha(step))
		}
		series = append(series, line)
	}
	return Lines(fmt.Sprintf("α over a guided window of %d steps", steps), "step", "α", false, false, series...)
}

// SkipPattern draws which guides a run uses step by step (1: the guide runs, 0: skipped, u >= α),
// for n structured matrices under schedule s and seed: the decisions guide.Schedule.Draw makes for
// each step's forward call (sgt_skip=matrix, drawn once per step).
func SkipPattern(s guide.Schedule, seed uint64, steps int64, n int) Figure {
	m := make([][]float64, n)
	for i := range m {
		m[i] = make([]float64, steps)
	}
	for step := range steps {
		for i, on := range s.Draw(seed, step, 0, n, guide.PerMatrix) {
			if on {
				m[i][step] = 1
			}
		}
	}
	kind := s.Kind
	if kind == "" {
		kind = guide.Cosine
	}
	f := Heatmap(fmt.Sprintf("guides used (1) or skipped (0), %s schedule over %d steps, %d matrices", kind, s.Steps, n), m)
	f.Data[0].Colorscale, f.Data[0].ZMid, f.Data[0].ReverseScale = "Greys", nil, true // used: dark
	f.Layout.XAxis = Axis{Title: Text{"step"}}
	f.Layout.YAxis = Axis{Title: Text{"structured matrix"}, AutoRange: "reversed", DTick: 1}
	return f
}

// StructureTable displays, for an FFN d → f → d, each structure at each parameter fraction with its
// rank R and blocks B (the paper's size rules, linear.SizeFor), the first matrix's weight shapes, and
// its parameters and FLOPs per token as a share of the dense FFN's; it returns the markdown.
func StructureTable(d, f int, fractions ...float64) (string, error) {
	rows := [][]string{{"dense", "100%", "-", "-", shapes(linear.Spec{Kind: linear.Dense, In: d, Out: f}),
		model.ParamCount(int64(2 * d * f)), "100%"}}
	for _, frac := range fractions {
		for _, kind := range linear.Kinds[1:] {
			rank, nblocks, err := linear.SizeFor(kind, d, f, frac)
			if err != nil {
				return "", err
			}
			fc1, fc2 := linear.FFNSpecs(kind, d, f, rank, nblocks)
			p := fc1.Params() + fc2.Params()
			rows = append(rows, []string{kind.String(), linear.FractionName(frac), strconv.Itoa(rank), strconv.Itoa(nblocks),
				shapes(fc1), model.ParamCount(p), fmt.Sprintf("%.1f%%", 100*float64(p)/float64(2*d*f))})
		}
	}
	return Table([]string{"structure", "setting", "R", "B", fmt.Sprintf("fc1 (%d→%d) weights", d, f), "FFN params", "params and FLOPs vs dense"}, rows), nil
}

// shapes lists a spec's weights as name[dims].
func shapes(s linear.Spec) string {
	var out []string
	for _, w := range s.Weights() {
		out = append(out, fmt.Sprintf("%s%v", w.Name, w.Shape))
	}
	return strings.Join(out, " ")
}

// Panel is one heat map of a multi-panel figure.
type Panel struct {
	Title string
	Z     [][]float64
}

// Panels draws heat maps side by side (each panel's width in proportion to its columns, cells
// square, rows top-down), sharing one diverging colour scale centred on 0.
func Panels(title string, panels ...Panel) Figure {
	total := 0
	for _, p := range panels {
		if len(p.Z) > 0 {
			total += len(p.Z[0])
		}
	}
	const gap = 0.03
	width := 1 - gap*float64(max(0, len(panels)-1))
	f := Figure{Layout: Layout{Title: Text{title}, Height: 420, More: map[string]any{}}}
	zero, start := 0.0, 0.0
	for i, p := range panels {
		cols := 0
		if len(p.Z) > 0 {
			cols = len(p.Z[0])
		}
		end := start + width*float64(cols)/float64(max(1, total))
		x, y := fmt.Sprintf("x%d", i+1), fmt.Sprintf("y%d", i+1)
		show := i == len(panels)-1
		f.Data = append(f.Data, Trace{Type: "heatmap", Z: p.Z, Colorscale: "RdBu", ZMid: &zero, ShowScale: &show, XAxis: x, YAxis: y})
		f.Layout.More["xaxis"+fmt.Sprint(i+1)] = map[string]any{"domain": []float64{start, end}, "anchor": y, "title": map[string]any{"text": p.Title}}
		f.Layout.More["yaxis"+fmt.Sprint(i+1)] = map[string]any{"anchor": x, "autorange": "reversed", "scaleanchor": x}
		start = end + gap
	}
	return f
}

// FactorHeatmaps draws a structure's factors (Spec.Factors of its seeded initial weights) and their
// product, the merged matrix, side by side: the blocks and shuffles the merged matrix hides.
func FactorHeatmaps(spec linear.Spec, seed uint64) (Figure, error) {
	if err := spec.Validate(); err != nil {
		return Figure{}, err
	}
	w := spec.Init(rand.New(rand.NewPCG(seed, 1)), linear.InitStd)
	factors, err := spec.Factors(w)
	if err != nil {
		return Figure{}, err
	}
	merged, err := spec.Merge(w)
	if err != nil {
		return Figure{}, err
	}
	var panels []Panel
	for i := len(factors) - 1; i >= 0; i-- { // written left to right as in W = F[k-1]···F[0]
		f := factors[i]
		panels = append(panels, Panel{Title: fmt.Sprintf("%s %d×%d", f.Name, f.Rows, f.Cols), Z: matrix(f.Data, f.Rows, f.Cols)})
	}
	panels = append(panels, Panel{Title: fmt.Sprintf("= W %d×%d", spec.Out, spec.In), Z: matrix(merged, spec.Out, spec.In)})
	return Panels(fmt.Sprintf("%s: %d of %d parameters", spec, spec.Params(), spec.DenseParams()), panels...), nil
}

// matrix turns row-major data into rows, rounded to 4 significant digits: a heat map shows no more,
// and the figure JSON (kept twice in a notebook's outputs) stays a third of the size.
func matrix(data []float32, rows, cols int) [][]float64 {
	m := make([][]float64, rows)
	for i := range m {
		m[i] = make([]float64, cols)
		for j := range m[i] {
			m[i][j], _ = strconv.ParseFloat(strconv.FormatFloat(float64(data[i*cols+j]), 'g', 4, 32), 64)
		}
	}
	return m
}

// ScalingChart draws each family's runs (validation loss against training FLOPs, log-log) with its
// fitted law L = E + A·C^-α as a dashed line over the measured range and a decade beyond.
func ScalingChart(title string, fits []scaling.FamilyFit) Figure {
	var series []Series
	for _, f := range fits {
		pts := Series{Name: f.Family}
		for _, p := range f.Points {
			pts.X, pts.Y = append(pts.X, p.C), append(pts.Y, p.L)
		}
		lo, hi := f.Points[0].C, 10*f.Points[len(f.Points)-1].C
		curve := Series{Name: fmt.Sprintf("%s fit, α=%.3f", f.Family, f.Boot.Fit.Alpha), Dash: "dash"}
		for i := range 41 {
			c := lo * math.Pow(hi/lo, float64(i)/40)
			curve.X, curve.Y = append(curve.X, c), append(curve.Y, f.Boot.Fit.Loss(c))
		}
		series = append(series, pts, curve)
	}
	fig := Lines(title, "training FLOPs", "validation loss (nats/token)", true, true, series...)
	for i := range fig.Data {
		if i%2 == 0 {
			fig.Data[i].Mode = "markers"
		}
	}
	return fig
}

// PaperChart draws the paper's reported models (model.PaperPerplexities) as loss = ln(perplexity)
// against training FLOPs, log-log: the same axes as ScalingChart at the paper's scale (another
// corpus and tokenizer, so compare slopes and orderings, not values).
func PaperChart() Figure {
	f := Figure{Layout: Layout{Title: Text{"the paper's reported models (RefinedWeb, LLaMA tokenizer): ln(perplexity)"},
		XAxis: Axis{Title: Text{"training FLOPs"}, Type: "log"}, YAxis: Axis{Title: Text{"validation loss (nats/token)"}, Type: "log"}, Height: 420}}
	for _, p := range model.PaperPerplexities {
		f.Data = append(f.Data, Trace{Type: "scatter", Mode: "markers", Name: p.Model, X: []float64{p.FLOPs}, Y: []float64{math.Log(p.PPL)}})
	}
	return f
}

// Group is the points of one setting measured several times (seeds): X[i], Y[i] is one measurement.
type Group struct {
	Name string
	X, Y []float64
}

// palette is plotly's default colour sequence, so that a group's points and its mean share a colour.
var palette = []string{"#636efa", "#EF553B", "#00cc96", "#ab63fa", "#FFA15A", "#19d3f3", "#FF6692", "#B6E880", "#FF97FF", "#FECB52"}

// Spread draws each group's measurements as faint points and their mean (of X and of Y) as a
// larger point with a bar of ±1 sample standard deviation of Y (no bar for a single measurement);
// logX makes the x axis logarithmic.
func Spread(title, xTitle, yTitle string, logX bool, groups ...Group) Figure {
	f := Lines(title, xTitle, yTitle, logX, false)
	hide := false
	for i, g := range groups {
		color := palette[i%len(palette)]
		mx, _ := scaling.MeanSD(g.X)
		my, sd := scaling.MeanSD(g.Y)
		mean := Trace{Type: "scatter", Mode: "markers", Name: g.Name, X: []float64{mx}, Y: []float64{my}, LegendGroup: g.Name,
			Marker: &Marker{Size: 11, Color: color}}
		if len(g.Y) > 1 {
			mean.ErrorY = &ErrorBar{Type: "data", Array: []float64{sd}, Visible: true}
		}
		f.Data = append(f.Data, mean, Trace{Type: "scatter", Mode: "markers", Name: g.Name + " (each seed)", X: g.X, Y: g.Y,
			LegendGroup: g.Name, ShowLegend: &hide, Marker: &Marker{Size: 6, Opacity: 0.45, Color: color}})
	}
	return f
}

// BudgetLoss draws, for one size of a tokens-per-parameter study (scaling.ByBudget), each family's
// mean validation loss against tokens per dense parameter (log axis), with a bar of ±1 standard
// deviation over its seeds.
func BudgetLoss(size string, stats []scaling.BudgetStats) Figure {
	f := budgetLoss(fmt.Sprintf("%s: validation loss against tokens per parameter (mean ± 1 sd over seeds)", size),
		"training tokens per dense parameter", size, stats, func(st scaling.BudgetStats) float64 { return st.TokensPerParam })
	tickAtData(&f.Layout.XAxis, f.Data)
	return f
}

// tickAtData labels a numeric axis at the distinct x values of data, and only there: plotly's own
// log-axis ticks label 20 as "2" after 10, which reads as a second 2 on a chart of budgets.
func tickAtData(a *Axis, data []Trace) {
	for _, t := range data {
		a.TickVals = append(a.TickVals, t.X...)
	}
	slices.Sort(a.TickVals)
	a.TickVals = slices.Compact(a.TickVals)
	for _, x := range a.TickVals {
		a.TickText = append(a.TickText, strconv.FormatFloat(x, 'g', 4, 64))
	}
}

// BudgetLossFLOPs is BudgetLoss against each family's mean training FLOPs (log axis): at one budget
// the equal-FLOPs families sit above dense, the equal-tokens ones to its left.
func BudgetLossFLOPs(size string, stats []scaling.BudgetStats) Figure {
	return budgetLoss(fmt.Sprintf("%s: validation loss against training FLOPs (mean ± 1 sd over seeds)", size),
		"training FLOPs", size, stats, func(st scaling.BudgetStats) float64 { return st.FLOPs })
}

// budgetLoss draws each family's mean loss of size against x, one line per family, with ±1 sd bars.
func budgetLoss(title, xTitle, size string, stats []scaling.BudgetStats, x func(scaling.BudgetStats) float64) Figure {
	f := Lines(title, xTitle, "validation loss (nats/token)", true, false)
	byFamily := map[string]*Trace{}
	var order []string
	for _, st := range stats {
		if st.Size != size {
			continue
		}
		t, ok := byFamily[st.Family]
		if !ok {
			t = &Trace{Type: "scatter", Mode: "lines+markers", Name: st.Family, ErrorY: &ErrorBar{Type: "data", Visible: true}}
			byFamily[st.Family], order = t, append(order, st.Family)
		}
		sd := st.SD
		if math.IsNaN(sd) {
			sd = 0
		}
		t.X, t.Y, t.ErrorY.Array = append(t.X, x(st)), append(t.Y, st.Mean), append(t.ErrorY.Array, sd)
	}
	for _, fam := range order {
		f.Data = append(f.Data, *byFamily[fam])
	}
	return f
}

// BudgetGaps draws, for one size, each family's loss minus the reference's (paired by seed) against
// tokens per dense parameter, with its 95% interval, and a line at 0: below it the family is better.
func BudgetGaps(size, reference string, gaps []scaling.BudgetGap) Figure {
	f := Lines(fmt.Sprintf("%s: loss − %s, paired by seed (mean, 95%% interval)", size, reference),
		"training tokens per dense parameter", "loss difference (nats/token)", true, false)
	byFamily := map[string]*Trace{}
	var order []string
	lo, hi := math.Inf(1), math.Inf(-1)
	no := false
	for _, g := range gaps {
		if g.Size != size {
			continue
		}
		t, ok := byFamily[g.Family]
		if !ok {
			t = &Trace{Type: "scatter", Mode: "lines+markers", Name: g.Family, ErrorY: &ErrorBar{Type: "data", Symmetric: &no, Visible: true}}
			byFamily[g.Family], order = t, append(order, g.Family)
		}
		up, down := g.Hi-g.Mean, g.Mean-g.Lo
		if math.IsNaN(up) {
			up, down = 0, 0
		}
		t.X, t.Y = append(t.X, g.TokensPerParam), append(t.Y, g.Mean)
		t.ErrorY.Array, t.ErrorY.ArrayMinus = append(t.ErrorY.Array, up), append(t.ErrorY.ArrayMinus, down)
		lo, hi = min(lo, g.TokensPerParam), max(hi, g.TokensPerParam)
	}
	for _, fam := range order {
		f.Data = append(f.Data, *byFamily[fam])
	}
	if len(order) > 0 {
		f.Data = append(f.Data, Trace{Type: "scatter", Mode: "lines", Name: reference, X: []float64{lo, hi}, Y: []float64{0, 0},
			Line: &Line{Dash: "dash", Color: "#888"}})
	}
	tickAtData(&f.Layout.XAxis, f.Data)
	return f
}

// CategoryGaps draws gaps of one budget (scaling.ByBudget, e.g. every structure at equal FLOPs) as
// points with their 95% intervals, one x position per category and one series per variant, side by
// side, with a dashed line at 0 (the reference): below it a family is better. split names a family's
// category and variant (e.g. "btt32-cbs" → "btt32", "cbs"); categories and variants keep their first
// order. A gap of one pair has no interval (no bar).
func CategoryGaps(title, reference string, gaps []scaling.BudgetGap, split func(family string) (category, variant string)) Figure {
	f := Lines(title, "", "loss difference (nats/token)", false, false)
	cats := map[string]int{}
	var names []string
	type series struct {
		t   *Trace
		cat []string
	}
	bySeries := map[string]*series{}
	var order []string
	no := false
	for _, g := range gaps {
		cat, variant := split(g.Family)
		if _, ok := cats[cat]; !ok {
			cats[cat] = len(names)
			names = append(names, cat)
		}
		s, ok := bySeries[variant]
		if !ok {
			name := variant
			if name == "" {
				name = "loss − " + reference
			}
			s = &series{t: &Trace{Type: "scatter", Mode: "markers", Name: name,
				ErrorY: &ErrorBar{Type: "data", Symmetric: &no, Visible: true}, Marker: &Marker{Size: 10}}}
			bySeries[variant], order = s, append(order, variant)
		}
		up, down := g.Hi-g.Mean, g.Mean-g.Lo
		if math.IsNaN(up) || math.IsNaN(down) {
			up, down = 0, 0
		}
		s.t.Y = append(s.t.Y, g.Mean)
		s.t.ErrorY.Array, s.t.ErrorY.ArrayMinus = append(s.t.ErrorY.Array, up), append(s.t.ErrorY.ArrayMinus, down)
		s.cat = append(s.cat, cat)
	}
	width := 0.5 // of each category's slot, shared by the variants
	for i, v := range order {
		s := bySeries[v]
		off := 0.0
		if len(order) > 1 {
			off = -width/2 + width*float64(i)/float64(len(order)-1)
		}
		for _, c := range s.cat {
			s.t.X = append(s.t.X, float64(cats[c])+off)
		}
		s.t.Marker.Color = palette[i%len(palette)]
		f.Data = append(f.Data, *s.t)
	}
	if len(names) > 0 {
		f.Data = append(f.Data, Trace{Type: "scatter", Mode: "lines", Name: reference, X: []float64{-0.5, float64(len(names)) - 0.5},
			Y: []float64{0, 0}, Line: &Line{Dash: "dash", Color: "#888"}})
	}
	noZero := false
	f.Layout.XAxis.ZeroLine = &noZero
	f.Layout.XAxis.TickVals = make([]float64, len(names))
	for i := range names {
		f.Layout.XAxis.TickVals[i] = float64(i)
	}
	f.Layout.XAxis.TickText = names
	return f
}
