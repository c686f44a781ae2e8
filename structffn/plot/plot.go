// Package plot displays charts and tables in GoNB notebooks: line charts (linear or log-log axes),
// matrix heat maps and markdown tables from plain Go values (plot.go), and the project's own
// charts (charts.go): the paper's parameter/FLOP table, merged-matrix heat maps, loss curves (live
// while training, or reloaded from run directories), α schedules and skip patterns of self-guided
// training, and decoding latency by tokens in flight.
//
// A chart is a plotly.js figure. It is sent to the notebook as a MIME bundle with the plotly JSON
// (application/vnd.plotly.v1+json, drawn offline by JupyterLab's plotly renderer), an HTML fallback
// that draws it with window.Plotly (loaded from PlotlySrc when the page lacks it; the headless
// notebook runner inlines a pinned plotly.js into its HTML exports, so exports draw offline), and a
// one-line text summary. Outside a notebook (plain `go run`, tests) Show does nothing.
package plot

import (
	"encoding/base64"
	"encoding/gob"
	"encoding/json"
	"fmt"
	"html"
	"os"
	"strings"
	"sync/atomic"

	"github.com/janpfeifer/gonb/gonbui"
	"github.com/janpfeifer/gonb/gonbui/protocol"
)

// PlotlyMIME is the MIME type of plotly figures in Jupyter.
const PlotlyMIME = "application/vnd.plotly.v1+json"

// PlotlySrc is where the HTML fallback loads plotly.js from when the page has none:
// $STRUCTFFN_PLOTLY_SRC if set, else plotly's CDN (the version the runner pins).
var PlotlySrc = envOr("STRUCTFFN_PLOTLY_SRC", "https://cdn.plot.ly/plotly-"+PlotlyVersion+".min.js")

// PlotlyVersion is the plotly.js version kernel/setup.sh installs (npm plotly.js-dist-min).
const PlotlyVersion = "4.1.2"

func init() {
	// GoNB sends display data to the kernel with encoding/gob, which must know the dynamic types
	// inside the plotly figure (decoded JSON: objects and arrays).
	gob.Register(map[string]any{})
	gob.Register([]any{})
}

func envOr(name, def string) string {
	if v := os.Getenv(name); v != "" {
		return v
	}
	return def
}

// Figure is a plotly.js figure: traces and a layout, marshalled as plotly.js reads them.
type Figure struct {
	Data   []Trace `json:"data"`
	Layout Layout  `json:"layout"`
}

// Trace is one series: a line (Type "scatter") or a heat map (Type "heatmap").
type Trace struct {
	Type string    `json:"type"`
	Name string    `json:"name,omitempty"`
	X    []float64 `json:"x,omitempty"`
	Y    []float64 `json:"y,omitempty"`
	// Mode of a scatter trace: "lines", "markers" or "lines+markers".
	Mode string `json:"mode,omitempty"`
	Line *Line  `json:"line,omitempty"`
	// Z is a heat map's matrix, row by row (row 0 drawn at the top when the y axis is reversed).
	Z          [][]float64 `json:"z,omitempty"`
	Colorscale string      `json:"colorscale,omitempty"`
	ZMid       *float64    `json:"zmid,omitempty"`
	ShowScale  *bool       `json:"showscale,omitempty"`
	// ReverseScale flips the colour scale.
	ReverseScale bool `json:"reversescale,omitempty"`
	// XAxis and YAxis name the axes of a trace in a multi-panel figure ("x2", "y2"); empty: the first.
	XAxis string `json:"xaxis,omitempty"`
	YAxis string `json:"yaxis,omitempty"`
	// ErrorY draws a bar of ± Array[i] around each Y[i].
	ErrorY *ErrorBar `json:"error_y,omitempty"`
	Marker *Marker   `json:"marker,omitempty"`
	// LegendGroup ties traces together in the legend (clicking one hides them all).
	LegendGroup string `json:"legendgroup,omitempty"`
	ShowLegend  *bool  `json:"showlegend,omitempty"`
}

// ErrorBar is a trace's error bars: Type "data" with one half-width per point in Array (upwards, and
// downwards too unless ArrayMinus is given, with Symmetric false).
type ErrorBar struct {
	Type       string    `json:"type"`
	Array      []float64 `json:"array"`
	ArrayMinus []float64 `json:"arrayminus,omitempty"`
	Symmetric  *bool     `json:"symmetric,omitempty"`
	Visible    bool      `json:"visible"`
}

// Marker styles a scatter trace's points.
type Marker struct {
	Size    int     `json:"size,omitempty"`
	Opacity float64 `json:"opacity,omitempty"`
	Symbol  string  `json:"symbol,omitempty"`
	Color   string  `json:"color,omitempty"`
}

// Line styles a scatter trace's line.
type Line struct {
	Dash  string `json:"dash,omitempty"` // "solid", "dash", "dot"
	Color string `json:"color,omitempty"`
	Width int    `json:"width,omitempty"`
}

// Layout holds the title, axes and size.
type Layout struct {
	Title  Text  `json:"title"`
	XAxis  Axis  `json:"xaxis"`
	YAxis  Axis  `json:"yaxis"`
	Width  int   `json:"width,omitempty"`
	Height int   `json:"height,omitempty"`
	Grid   *Grid `json:"grid,omitempty"`
	// More holds further layout keys as plotly names them (xaxis2, yaxis2, annotations, ...),
	// merged into the JSON object.
	More map[string]any `json:"-"`
}

// MarshalJSON writes the layout's fields and the keys in More as one object.
func (l Layout) MarshalJSON() ([]byte, error) {
	type plain Layout
	js, err := json.Marshal(plain(l))
	if err != nil || len(l.More) == 0 {
		return js, err
	}
	var obj map[string]any
	if err := json.Unmarshal(js, &obj); err != nil {
		return nil, err
	}
	for k, v := range l.More {
		obj[k] = v
	}
	return json.Marshal(obj)
}

// Text is a plotly title.
type Text struct {
	Text string `json:"text"`
}

// Axis is one axis: its title and type ("linear", "log").
type Axis struct {
	Title       Text    `json:"title"`
	Type        string  `json:"type,omitempty"`
	AutoRange   any     `json:"autorange,omitempty"` // "reversed" for matrix rows top-down
	ScaleAnchor string  `json:"scaleanchor,omitempty"`
	DTick       float64 `json:"dtick,omitempty"` // tick spacing (1: whole numbers)
	// TickVals and TickText put labels at chosen positions of a numeric axis: names (a categorical
	// axis drawn on numbers, so that several series can sit side by side at each name), or the
	// values measured (budgets on a log axis).
	TickVals []float64 `json:"tickvals,omitempty"`
	TickText []string  `json:"ticktext,omitempty"`
	// ZeroLine, when set to false, hides the line plotly draws at 0 (on a categorical axis drawn on
	// numbers, 0 is the first category, not a value).
	ZeroLine *bool `json:"zeroline,omitempty"`
}

// Grid lays out subplots (unused by the helpers here; kept for hand-built figures).
type Grid struct {
	Rows    int `json:"rows"`
	Columns int `json:"columns"`
}

// Series is one named line of a line chart.
type Series struct {
	Name string
	X, Y []float64
	Dash string // "" (solid), "dash", "dot"
	// Markers draws points as well as the line (for sparse measurements).
	Markers bool
}

// Lines is a line chart of series; logX / logY make the axes logarithmic.
func Lines(title, xTitle, yTitle string, logX, logY bool, series ...Series) Figure {
	f := Figure{Layout: Layout{Title: Text{title}, XAxis: Axis{Title: Text{xTitle}}, YAxis: Axis{Title: Text{yTitle}}, Height: 420}}
	if logX {
		f.Layout.XAxis.Type = "log"
	}
	if logY {
		f.Layout.YAxis.Type = "log"
	}
	for _, s := range series {
		t := Trace{Type: "scatter", Name: s.Name, X: s.X, Y: s.Y, Mode: "lines"}
		if s.Markers {
			t.Mode = "lines+markers"
		}
		if s.Dash != "" {
			t.Line = &Line{Dash: s.Dash}
		}
		f.Data = append(f.Data, t)
	}
	return f
}

// Heatmap draws matrix m (rows top-down) with a diverging colour scale centred on 0.
func Heatmap(title string, m [][]float64) Figure {
	zero, show := 0.0, true
	return Figure{
		Data: []Trace{{Type: "heatmap", Z: m, Colorscale: "RdBu", ZMid: &zero, ShowScale: &show}},
		Layout: Layout{Title: Text{title}, XAxis: Axis{Title: Text{"input"}, ScaleAnchor: "y"},
			YAxis: Axis{Title: Text{"output"}, AutoRange: "reversed"}, Height: 420},
	}
}

// Summary is a one-line text description of the figure (the text/plain part of its MIME bundle).
func (f Figure) Summary() string {
	var parts []string
	for _, t := range f.Data {
		switch t.Type {
		case "heatmap":
			cols := 0
			if len(t.Z) > 0 {
				cols = len(t.Z[0])
			}
			parts = append(parts, fmt.Sprintf("heatmap %d×%d", len(t.Z), cols))
		default:
			parts = append(parts, fmt.Sprintf("%s (%d points)", t.Name, len(t.X)))
		}
	}
	return fmt.Sprintf("[chart] %s: %s", f.Layout.Title.Text, strings.Join(parts, ", "))
}

var ids atomic.Int64

// newID returns an HTML id unique within this process and distinct across cell runs.
func newID() string {
	return fmt.Sprintf("structffn-plot-%d-%d", os.Getpid(), ids.Add(1))
}

// HTML returns the figure as an HTML fragment that draws itself with plotly.js: a div (class
// "structffn-plot", which the notebook runner counts) and a script.
func (f Figure) HTML(id string) (string, error) {
	js, err := f.json()
	if err != nil {
		return "", fmt.Errorf("plot: %w", err)
	}
	height := f.Layout.Height
	if height == 0 {
		height = 420
	}
	// The figure JSON is embedded in a script: escape "</" so that no string can close the tag.
	fig := strings.ReplaceAll(string(js), "</", `<\/`)
	return fmt.Sprintf(`<div class="structffn-plot" id="%[1]s" style="height:%[2]dpx"></div>
<script type="text/javascript">
(function() {
  var fig = %[3]s;
  function draw() {
    if (!document.getElementById("%[1]s")) return; // replaced by a later update meanwhile
    window.Plotly.newPlot("%[1]s", fig.data, fig.layout, {responsive: true});
  }
  if (window.Plotly) { draw(); return; }
  if (window.structffnPlotly) { window.structffnPlotly.then(draw); return; } // being loaded (Live)
  var s = document.createElement("script");
  s.src = "%[4]s";
  s.onload = draw;
  document.head.appendChild(s);
})();
</script>`, id, height, fig, html.EscapeString(PlotlySrc)), nil
}

// json is the figure as plotly.js reads it; no traces is an empty array (plotly.js fails on null).
func (f Figure) json() ([]byte, error) {
	if f.Data == nil {
		f.Data = []Trace{}
	}
	return json.Marshal(f)
}

// bundle is the MIME bundle of a figure.
func (f Figure) bundle(id string) (map[protocol.MIMEType]any, error) {
	h, err := f.HTML(id)
	if err != nil {
		return nil, err
	}
	var asMap map[string]any // the plotly JSON as a JSON object, not a string
	js, _ := f.json()
	if err := json.Unmarshal(js, &asMap); err != nil {
		return nil, fmt.Errorf("plot: %w", err)
	}
	return map[protocol.MIMEType]any{
		PlotlyMIME:             asMap,
		protocol.MIMETextHTML:  h,
		protocol.MIMETextPlain: f.Summary(),
	}, nil
}

// Show displays the figure as the output of the running cell (nothing outside a notebook).
func Show(f Figure) error {
	if !gonbui.IsNotebook {
		return nil
	}
	b, err := f.bundle(newID())
	if err != nil {
		return err
	}
	gonbui.SendData(&protocol.DisplayData{Data: b})
	gonbui.Sync() // delivered before the cell's program exits (without it the last chart can be lost)
	return gonbui.Error()
}

// Live is a chart that is redrawn in place, e.g. loss curves while a model trains: NewLive, Update
// as often as needed, then Done with the final figure.
//
// While it runs, the chart is HTML that draws itself with plotly.js in the page, not the plotly MIME
// bundle that Show sends: JupyterLab (4.x, and Notebook 7) keeps the renderer of an output whose MIME
// type does not change and hands it each update, and jupyterlab-plotly's renderer (plotly 7.1) draws
// a figure once and ignores later ones, so a live plotly output stayed at its first, empty state.
// The first update carries plotly.js itself ($STRUCTFFN_PLOTLY_JS, which the kernel's environment
// sets; else PlotlySrc is loaded), because JupyterLab's page has no window.Plotly. Done replaces the
// HTML by a regular chart (plotly JSON, HTML and text), which is what the saved notebook keeps.
type Live struct {
	displayID string
	n         int
}

// NewLive displays f and returns a handle to redraw it with Update.
func NewLive(f Figure) (*Live, error) {
	l := &Live{displayID: newID()}
	return l, l.Update(f)
}

// Update replaces the live chart with f.
func (l *Live) Update(f Figure) error { return l.send(f, false) }

// Done replaces the live chart with f for good: the full MIME bundle, as Show sends.
func (l *Live) Done(f Figure) error { return l.send(f, true) }

func (l *Live) send(f Figure, final bool) error {
	if !gonbui.IsNotebook {
		return nil
	}
	l.n++
	id := fmt.Sprintf("%s-%d", l.displayID, l.n)
	var b map[protocol.MIMEType]any
	var err error
	if final {
		b, err = f.bundle(id)
	} else {
		var h string
		if h, err = f.HTML(id); err == nil {
			if l.n == 1 {
				h = plotlyLoader(os.Getenv("STRUCTFFN_PLOTLY_JS")) + h
			}
			b = map[protocol.MIMEType]any{protocol.MIMETextHTML: h, protocol.MIMETextPlain: f.Summary()}
		}
	}
	if err != nil {
		return err
	}
	gonbui.SendData(&protocol.DisplayData{Data: b, DisplayID: l.displayID})
	gonbui.Sync()
	return gonbui.Error()
}

// plotlyLoader returns a script that loads the plotly.js file at path into the page as window.Plotly
// unless the page has it (window.structffnPlotly resolves once it is loaded), or "" when path is
// empty or unreadable (the chart's own script then loads PlotlySrc). The source travels base64-encoded
// and runs as a script of its own (a Blob URL), with AMD's define hidden meanwhile so that plotly's
// UMD wrapper sets the global.
func plotlyLoader(path string) string {
	if path == "" {
		return ""
	}
	src, err := os.ReadFile(path)
	if err != nil {
		return ""
	}
	return `<script type="text/javascript">
(function() {
  if (window.Plotly || window.structffnPlotly) return;
  var bytes = Uint8Array.from(atob("` + base64.StdEncoding.EncodeToString(src) + `"), function(c) { return c.charCodeAt(0); });
  var s = document.createElement("script");
  s.src = URL.createObjectURL(new Blob([bytes], {type: "text/javascript"}));
  var define = window.define;
  window.define = undefined;
  window.structffnPlotly = new Promise(function(resolve) {
    s.onload = function() { window.define = define; resolve(); };
  });
  document.head.appendChild(s);
})();
</script>
`
}

// Table displays a markdown table (nothing outside a notebook) and returns its markdown.
func Table(header []string, rows [][]string) string {
	var b strings.Builder
	b.WriteString("| " + strings.Join(header, " | ") + " |\n|")
	for range header {
		b.WriteString("---|")
	}
	b.WriteString("\n")
	for _, r := range rows {
		b.WriteString("| " + strings.Join(r, " | ") + " |\n")
	}
	if gonbui.IsNotebook {
		gonbui.DisplayMarkdown(b.String())
		gonbui.Sync()
	}
	return b.String()
}

// Markdown displays markdown text as the cell's output (nothing outside a notebook).
func Markdown(md string) {
	if gonbui.IsNotebook {
		gonbui.DisplayMarkdown(md)
		gonbui.Sync()
	}
}
