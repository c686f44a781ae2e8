package plot

import (
	"encoding/json"
	"strings"
	"testing"
)

func TestLinesJSON(t *testing.T) {
	f := Lines("loss", "step", "val loss", true, false,
		Series{Name: "dense", X: []float64{1, 2}, Y: []float64{3, 2}},
		Series{Name: "lowrank", X: []float64{1, 2}, Y: []float64{3.1, 2.2}, Dash: "dash", Markers: true})
	js, err := json.Marshal(f)
	if err != nil {
		t.Fatal(err)
	}
	var got struct {
		Data []struct {
			Type, Name, Mode string
			X, Y             []float64
			Line             *struct{ Dash string }
		}
		Layout struct {
			Title struct{ Text string }
			XAxis struct {
				Type  string
				Title struct{ Text string }
			}
			YAxis struct{ Type string }
		}
	}
	if err := json.Unmarshal(js, &got); err != nil {
		t.Fatal(err)
	}
	if len(got.Data) != 2 || got.Data[0].Type != "scatter" || got.Data[0].Mode != "lines" || got.Data[1].Mode != "lines+markers" ||
		got.Data[1].Line == nil || got.Data[1].Line.Dash != "dash" || got.Data[0].Line != nil {
		t.Errorf("traces %+v", got.Data)
	}
	if got.Layout.Title.Text != "loss" || got.Layout.XAxis.Type != "log" || got.Layout.YAxis.Type != "" || got.Layout.XAxis.Title.Text != "step" {
		t.Errorf("layout %+v", got.Layout)
	}
	if s := f.Summary(); s != "[chart] loss: dense (2 points), lowrank (2 points)" {
		t.Errorf("summary %q", s)
	}
}

func TestHeatmapAndHTML(t *testing.T) {
	f := Heatmap("W </script><b>", [][]float64{{1, -1, 0}, {0, 2, 1}})
	if s := f.Summary(); s != "[chart] W </script><b>: heatmap 2×3" {
		t.Errorf("summary %q", s)
	}
	h, err := f.HTML("id-1")
	if err != nil {
		t.Fatal(err)
	}
	if strings.Count(h, "</script>") != 1 || !strings.Contains(h, `class="structffn-plot" id="id-1"`) || !strings.Contains(h, `"zmid":0`) {
		t.Errorf("HTML does not hold one script, the chart div and the figure:\n%s", h)
	}
	b, err := f.bundle("id-2")
	if err != nil {
		t.Fatal(err)
	}
	if fig, ok := b[PlotlyMIME].(map[string]any); !ok || fig["data"] == nil || fig["layout"] == nil {
		t.Errorf("plotly MIME part is %T, want the figure as a JSON object", b[PlotlyMIME])
	}
}

func TestTable(t *testing.T) {
	got := Table([]string{"a", "b"}, [][]string{{"1", "2"}, {"3", "4"}})
	want := "| a | b |\n|---|---|\n| 1 | 2 |\n| 3 | 4 |\n"
	if got != want {
		t.Errorf("table\n%s\nwant\n%s", got, want)
	}
}
