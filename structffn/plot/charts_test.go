package plot

import (
	"encoding/json"
	"fmt"
	"math"
	"slices"
	"strings"
	"testing"

	"github.com/structffn/structffn/structffn/bench"
	"github.com/structffn/structffn/structffn/guide"
	"github.com/structffn/structffn/structffn/linear"
	"github.com/structffn/structffn/structffn/model"
	"github.com/structffn/structffn/structffn/scaling"
	"github.com/structffn/structffn/structffn/train"
)

func TestFLOPsTableMarksAgreement(t *testing.T) {
	rows, err := model.PaperFLOPsTable()
	if err != nil {
		t.Fatal(err)
	}
	md := FLOPsTable(rows)
	if got := strings.Count(md, "\n"); got != len(rows)+2 {
		t.Errorf("%d lines, want %d rows + header + rule", got, len(rows))
	}
	if strings.Contains(md, "≠") || !strings.Contains(md, "| s | dense | 100% | 0 | 0 | 109.6M | = |") {
		t.Errorf("the paper's table should agree everywhere:\n%s", md)
	}
	for _, want := range []string{"| 1.69e18 | = | derived |", "| 2.10e20 | = | Table 1 |", "| 7.03e19 | = | Table 2 |"} {
		if !strings.Contains(md, want) {
			t.Errorf("table lacks %q (the figure and where the paper's comes from):\n%s", want, md)
		}
	}
}

func TestFactorHeatmapsOfEachStructure(t *testing.T) {
	for _, tc := range []struct {
		spec   linear.Spec
		panels int // factors + the merged matrix
	}{
		{linear.Spec{Kind: linear.LowRank, In: 16, Out: 32, Rank: 4}, 3},
		{linear.Spec{Kind: linear.BlockDense, In: 16, Out: 32, Rank: 8, NBlocks: 4}, 3},
		{linear.Spec{Kind: linear.BlockShuffle, In: 16, Out: 32, NBlocks: 4}, 5},
	} {
		f, err := FactorHeatmaps(tc.spec, 1)
		if err != nil {
			t.Fatal(err)
		}
		last := f.Data[len(f.Data)-1].Z
		if len(f.Data) != tc.panels || len(last) != 32 || len(last[0]) != 16 {
			t.Errorf("%s: %d panels, merged %d×%d", tc.spec, len(f.Data), len(last), len(last[0]))
		}
	}
	if _, err := FactorHeatmaps(linear.Spec{Kind: linear.LowRank, In: 4, Out: 4, Rank: 5}, 1); err == nil {
		t.Errorf("an invalid spec drew")
	}
}

func TestDecodeLatencyAndLossCurves(t *testing.T) {
	var rs []bench.DecodeResult
	for _, mode := range []string{bench.Structured, bench.MergedMode} {
		for _, n := range []int{1, 4} {
			rs = append(rs, bench.DecodeResult{Mode: mode, TokensInFlight: n, Ms: float64(n)})
		}
	}
	f := DecodeLatency(rs)
	if len(f.Data) != 2 || f.Data[1].Name != bench.MergedMode || len(f.Data[1].X) != 2 || f.Layout.XAxis.Type != "log" {
		t.Errorf("decode chart %+v", f)
	}
	v := 3.5
	c := LossCurves("x", Curve{Name: "dense", Records: []train.Record{{Tokens: 10, TrainLoss: 4}, {Tokens: 20, TrainLoss: 3, ValLoss: &v}}})
	if len(c.Data) != 2 || len(c.Data[0].X) != 2 || len(c.Data[1].Y) != 1 || c.Data[1].Y[0] != 3.5 {
		t.Errorf("loss curves %+v", c.Data)
	}
}

func TestAlphaAndSkipPattern(t *testing.T) {
	f := AlphaSchedules(100)
	for _, tr := range f.Data {
		if tr.Y[0] != 1 || tr.Y[100] != 0 || tr.Y[50] <= 0.4 || tr.Y[50] >= 0.6 {
			t.Errorf("%s: α(0)=%g α(50)=%g α(100)=%g", tr.Name, tr.Y[0], tr.Y[50], tr.Y[100])
		}
	}
	s := guide.Schedule{Kind: guide.Cosine, Steps: 200}
	p := SkipPattern(s, 3, 400, 6)
	used := 0.0
	for _, row := range p.Data[0].Z {
		for step, on := range row {
			if step >= 200 && on != 0 {
				t.Fatalf("a guide is used at step %d, after the window", step)
			}
			used += on
		}
	}
	// Expected uses: Σ α over the window per matrix = 100 (cosine averages 1/2) × 6 matrices.
	if want := 6 * 200 * guide.ExpectedGuideFraction(s, 0, 200); math.Abs(used-want) > 4*math.Sqrt(want) {
		t.Errorf("%g guide uses, want about %g", used, want)
	}
}

func TestStructureTable(t *testing.T) {
	md, err := StructureTable(768, 3072, linear.Fraction63, linear.Fraction32)
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"| dense | 100% | - | - | weights[3072 768] | 4.7M | 100% |", "| lowrank | 32% | 192 | 0 |", "| blockshuffle | 32% | 0 | 4 |", "31.2%"} {
		if !strings.Contains(md, want) {
			t.Errorf("table lacks %q:\n%s", want, md)
		}
	}
	if _, err := StructureTable(768, 3072, 0.01); err == nil {
		t.Errorf("an unreachable fraction gave a table")
	}
}

func TestFactorHeatmaps(t *testing.T) {
	f, err := FactorHeatmaps(linear.Spec{Kind: linear.BlockShuffle, In: 16, Out: 32, NBlocks: 4}, 1)
	if err != nil {
		t.Fatal(err)
	}
	// P_out, blockdiag(B2), P_mid, blockdiag(B1), then the merged W: five panels on their own axes.
	if len(f.Data) != 5 || f.Data[4].XAxis != "x5" || !strings.Contains(f.Layout.More["xaxis1"].(map[string]any)["title"].(map[string]any)["text"].(string), "P_out") {
		t.Fatalf("panels %+v", f.Layout.More)
	}
	js, err := json.Marshal(f.Layout)
	if err != nil || !strings.Contains(string(js), `"xaxis5":{`) || !strings.Contains(string(js), `"title":{"text":"blockshuffle`) {
		t.Errorf("layout JSON %s (%v)", js, err)
	}
}

func TestScalingAndPaperCharts(t *testing.T) {
	fits := []scaling.FamilyFit{{Family: "dense", Points: []scaling.Point{{C: 1e11, L: 3}, {C: 1e13, L: 2.5}},
		Boot: scaling.BootstrapResult{Fit: scaling.Fit{E: 1.5, A: 40, Alpha: 0.1}}}}
	f := ScalingChart("x", fits)
	if len(f.Data) != 2 || f.Data[0].Mode != "markers" || f.Data[1].Line == nil || len(f.Data[1].X) != 41 ||
		f.Data[1].X[40] != 1e14 || f.Layout.XAxis.Type != "log" {
		t.Errorf("scaling chart %+v", f.Data)
	}
	p := PaperChart()
	if len(p.Data) != len(model.PaperPerplexities) || math.Abs(p.Data[0].Y[0]-math.Log(12.46)) > 1e-12 {
		t.Errorf("paper chart %+v", p.Data[0])
	}
}

func TestBudgetCharts(t *testing.T) {
	stats := []scaling.BudgetStats{
		{Size: "4x64", TokensPerParam: 2, Family: "dense", Mean: 4.07, SD: 0.01}, {Size: "4x64", TokensPerParam: 2, Family: "lowrank32", Mean: 3.99, SD: math.NaN()},
		{Size: "4x64", TokensPerParam: 5, Family: "dense", Mean: 3.48, SD: 0.01}, {Size: "4x96", TokensPerParam: 2, Family: "dense", Mean: 3.5, SD: 0.02},
	}
	f := BudgetLoss("4x64", stats)
	if len(f.Data) != 2 || f.Data[0].Name != "dense" || len(f.Data[0].X) != 2 || f.Data[1].ErrorY.Array[0] != 0 || f.Layout.XAxis.Type != "log" {
		t.Errorf("loss chart %+v", f.Data)
	}
	if x := f.Layout.XAxis; !slices.Equal(x.TickVals, []float64{2, 5}) || !slices.Equal(x.TickText, []string{"2", "5"}) {
		t.Errorf("loss chart ticks %v %v, want the budgets 2 and 5", x.TickVals, x.TickText)
	}
	stats[0].FLOPs, stats[2].FLOPs = 8.2e11, 2.1e12
	if fl := BudgetLossFLOPs("4x64", stats); len(fl.Data) != 2 || fl.Data[0].X[1] != 2.1e12 || fl.Layout.XAxis.Title.Text != "training FLOPs" {
		t.Errorf("loss against FLOPs chart %+v", fl.Data)
	}
	gaps := []scaling.BudgetGap{{Size: "4x64", TokensPerParam: 2, Family: "lowrank32", Mean: -0.08, Lo: -0.09, Hi: -0.06},
		{Size: "4x64", TokensPerParam: 5, Family: "lowrank32", Mean: 0.01, Lo: -0.02, Hi: 0.05}}
	gaps = append(gaps, scaling.BudgetGap{Size: "4x64", TokensPerParam: 20, Family: "lowrank32", Mean: 0.1, Lo: 0.05, Hi: 0.15})
	g := BudgetGaps("4x64", "dense", gaps)
	if len(g.Data) != 2 || g.Data[1].Name != "dense" || g.Data[1].Y[0] != 0 {
		t.Fatalf("gap chart %+v", g.Data)
	}
	if x := g.Layout.XAxis; !slices.Equal(x.TickText, []string{"2", "5", "20"}) {
		t.Errorf("gap chart ticks %v, want 2, 5, 20", x.TickText)
	}
	e := g.Data[0].ErrorY
	if math.Abs(e.Array[1]-0.04) > 1e-12 || math.Abs(e.ArrayMinus[1]-0.03) > 1e-12 || *e.Symmetric {
		t.Errorf("gap error bars %+v", e)
	}
}

func TestCategoryGaps(t *testing.T) {
	gaps := []scaling.BudgetGap{
		{Family: "btt32", Pairs: 3, Mean: -0.15, Lo: -0.2, Hi: -0.1},
		{Family: "btt32-cbs", Pairs: 3, Mean: -0.17, Lo: -0.25, Hi: -0.12},
		{Family: "lowrank32", Pairs: 1, Mean: -0.12, Lo: math.NaN(), Hi: math.NaN()},
	}
	split := func(f string) (string, string) {
		c, ok := strings.CutSuffix(f, "-cbs")
		if ok {
			return c, "cbs"
		}
		return c, "paper"
	}
	f := CategoryGaps("gaps", "dense", gaps, split)
	if len(f.Data) != 3 || f.Data[0].Name != "paper" || f.Data[1].Name != "cbs" || f.Data[2].Name != "dense" {
		t.Fatalf("traces %+v", f.Data)
	}
	paper, cbs := f.Data[0], f.Data[1]
	// btt32 at x=0 (paper left of cbs), lowrank32 at x=1; one pair: no bar.
	if len(paper.X) != 2 || paper.X[0] >= cbs.X[0] || paper.X[1] <= 0.5 || paper.ErrorY.Array[1] != 0 {
		t.Errorf("paper trace %+v", paper)
	}
	if math.Abs(cbs.ErrorY.Array[0]-0.05) > 1e-12 || math.Abs(cbs.ErrorY.ArrayMinus[0]-0.08) > 1e-12 {
		t.Errorf("cbs bars %+v", cbs.ErrorY)
	}
	if fmt.Sprint(f.Layout.XAxis.TickText) != "[btt32 lowrank32]" || fmt.Sprint(f.Layout.XAxis.TickVals) != "[0 1]" ||
		f.Layout.XAxis.ZeroLine == nil || *f.Layout.XAxis.ZeroLine {
		t.Errorf("axis %+v: want names at 0 and 1 and no zero line through the first", f.Layout.XAxis)
	}
}
