package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"time"

	"github.com/structffn/structffn/internal/atomicfile"
)

// Env locates the tools the runner needs.
type Env struct {
	Jupyter  string // the jupyter command of kernel/setup.sh's venv
	Chromium string // a headless-capable Chromium or Chrome
	PlotlyJS string // plotly.min.js, inlined into HTML exports
}

// kernelHome is where kernel/setup.sh installs (its $STRUCTFFN_KERNEL_HOME).
func kernelHome() string {
	if h := os.Getenv("STRUCTFFN_KERNEL_HOME"); h != "" {
		return h
	}
	home, _ := os.UserHomeDir()
	return filepath.Join(home, ".cache", "structffn", "kernel")
}

// FindEnv finds Jupyter, Chromium and plotly.js, or says how to install what is missing.
func FindEnv() (Env, error) {
	var e Env
	home := kernelHome()
	e.Jupyter = firstFile(os.Getenv("STRUCTFFN_JUPYTER"), filepath.Join(home, "venv", "bin", "jupyter"))
	if e.Jupyter == "" {
		return e, fmt.Errorf("no Jupyter in %s: run kernel/setup.sh", filepath.Join(home, "venv"))
	}
	e.PlotlyJS = firstFile(os.Getenv("STRUCTFFN_PLOTLY_JS"), filepath.Join(home, "plotly", "plotly.min.js"))
	if e.PlotlyJS == "" {
		return e, fmt.Errorf("no plotly.min.js in %s: run kernel/setup.sh", filepath.Join(home, "plotly"))
	}
	for _, name := range []string{os.Getenv("STRUCTFFN_CHROMIUM"), "chromium", "chromium-browser", "google-chrome", "chrome"} {
		if name == "" {
			continue
		}
		if p, err := exec.LookPath(name); err == nil {
			e.Chromium = p
			break
		}
	}
	if e.Chromium == "" {
		return e, errors.New("no Chromium to check the charts: run kernel/setup.sh (it installs Debian's chromium) or set STRUCTFFN_CHROMIUM")
	}
	return e, nil
}

func firstFile(paths ...string) string {
	for _, p := range paths {
		if p == "" {
			continue
		}
		if st, err := os.Stat(p); err == nil && !st.IsDir() {
			return p
		}
	}
	return ""
}

// repoRoot is the directory holding go.mod, from the working directory up.
func repoRoot() (string, error) {
	dir, err := os.Getwd()
	if err != nil {
		return "", err
	}
	for {
		if _, err := os.Stat(filepath.Join(dir, "go.mod")); err == nil {
			return dir, nil
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			return "", errors.New("not inside the structffn module (no go.mod above the working directory)")
		}
		dir = parent
	}
}

// Options control a run.
type Options struct {
	Quick   bool          // STRUCTFFN_QUICK=1: the notebooks' CI-sized mode
	Update  bool          // write passing executed notebooks back over their sources
	HTMLDir string        // keep HTML exports here ("" : a temporary directory)
	Timeout time.Duration // per notebook
	Log     io.Writer     // one line per notebook
}

// Result is one notebook's outcome.
type Result struct {
	Path    string
	Cells   int // code cells executed
	Charts  int // charts drawn in the HTML export
	Elapsed time.Duration
	Err     error // nil: passed
}

// RunAll runs every notebook in order, logging one line each.
func RunAll(env Env, paths []string, opts Options) []Result {
	var out []Result
	for _, p := range paths {
		r := Run(env, p, opts)
		if opts.Log != nil {
			if r.Err == nil {
				fmt.Fprintf(opts.Log, "PASS %s: %d code cells, %d charts drawn, %.0fs\n", filepath.Base(p), r.Cells, r.Charts, r.Elapsed.Seconds())
			} else {
				fmt.Fprintf(opts.Log, "FAIL %s: %v\n", filepath.Base(p), r.Err)
			}
		}
		out = append(out, r)
	}
	return out
}

// Run executes one notebook (in its own directory, as Jupyter does), checks every cell's outputs,
// exports it to HTML and checks its charts in Chromium.
func Run(env Env, path string, opts Options) (r Result) {
	start := time.Now()
	r.Path = path
	defer func() { r.Elapsed = time.Since(start) }()
	abs, err := filepath.Abs(path)
	if err != nil {
		r.Err = err
		return r
	}
	work, err := os.MkdirTemp("", "nbrun-")
	if err != nil {
		r.Err = err
		return r
	}
	defer os.RemoveAll(work)
	name := strings.TrimSuffix(filepath.Base(abs), ".ipynb")
	executed := filepath.Join(work, name+".ipynb")

	// Execute. --allow-errors keeps going so that the report names the first failing cell with its
	// output; the checks below decide pass or fail.
	quick := "0"
	if opts.Quick {
		quick = "1"
	}
	timeout := opts.Timeout
	if timeout <= 0 {
		timeout = 30 * time.Minute
	}
	cmd := []string{"nbconvert", "--to", "notebook", "--execute", "--allow-errors",
		"--ExecutePreprocessor.kernel_name=gonb", fmt.Sprintf("--ExecutePreprocessor.timeout=%d", int(timeout.Seconds())),
		"--output-dir", work, "--output", name + ".ipynb", abs}
	if out, err := runCmd(timeout+time.Minute, filepath.Dir(abs), []string{"STRUCTFFN_QUICK=" + quick}, env.Jupyter, cmd...); err != nil {
		r.Err = fmt.Errorf("executing: %v: %s", err, lastLines(out, 5))
		return r
	}
	nb, err := readNotebook(executed)
	if err != nil {
		r.Err = err
		return r
	}
	r.Cells, r.Err = nb.check()
	if r.Err != nil {
		return r
	}

	// Export to HTML with plotly.js inlined, then let Chromium draw it.
	htmlDir := opts.HTMLDir
	if htmlDir == "" {
		htmlDir = work
	} else if err := os.MkdirAll(htmlDir, 0o755); err != nil {
		r.Err = err
		return r
	}
	htmlPath := filepath.Join(htmlDir, name+".html")
	if out, err := runCmd(5*time.Minute, work, nil, env.Jupyter, "nbconvert", "--to", "html", "--output-dir", htmlDir, "--output", name+".html", executed); err != nil {
		r.Err = fmt.Errorf("exporting HTML: %v: %s", err, lastLines(out, 5))
		return r
	}
	if err := inlinePlotly(htmlPath, env.PlotlyJS); err != nil {
		r.Err = err
		return r
	}
	if r.Charts, err = checkCharts(env.Chromium, htmlPath); err != nil {
		r.Err = err
		return r
	}
	if opts.Update {
		// PNG snapshots of the charts, so that JupyterLab does not add its own on opening.
		repo, err := repoRoot()
		if err != nil {
			r.Err = err
			return r
		}
		python := filepath.Join(filepath.Dir(env.Jupyter), "python")
		if out, err := runCmd(5*time.Minute, work, []string{"STRUCTFFN_CHROMIUM=" + env.Chromium}, python,
			filepath.Join(repo, "kernel", "browser", "snapshot.py"), "--plotly", env.PlotlyJS, executed); err != nil {
			r.Err = fmt.Errorf("chart snapshots: %v: %s", err, lastLines(out, 5))
			return r
		}
		data, err := os.ReadFile(executed)
		if err == nil {
			err = atomicfile.Write(abs, data)
		}
		if err != nil {
			r.Err = fmt.Errorf("updating %s: %v", path, err)
		}
	}
	return r
}

// runCmd runs name args in dir with extra environment variables, returning combined output.
func runCmd(timeout time.Duration, dir string, env []string, name string, args ...string) ([]byte, error) {
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	c := exec.CommandContext(ctx, name, args...)
	c.Dir = dir
	c.Env = append(os.Environ(), env...)
	out, err := c.CombinedOutput()
	if ctx.Err() != nil {
		return out, fmt.Errorf("timed out after %s", timeout)
	}
	return out, err
}

func lastLines(b []byte, n int) string {
	lines := strings.Split(strings.TrimSpace(string(b)), "\n")
	return oneLine(strings.Join(lines[max(0, len(lines)-n):], "\n"))
}

// notebook is the part of the nbformat 4 JSON the checks read.
type notebook struct {
	Cells []struct {
		CellType string          `json:"cell_type"`
		Source   json.RawMessage `json:"source"`
		Outputs  []output        `json:"outputs"`
	} `json:"cells"`
}

type output struct {
	OutputType string            `json:"output_type"`
	Name       string            `json:"name"` // stream: stdout or stderr
	Text       json.RawMessage   `json:"text"` // a string or a list of strings
	EName      string            `json:"ename"`
	EValue     string            `json:"evalue"`
	Data       map[string]any    `json:"data"`
	Traceback  []string          `json:"traceback"`
	Metadata   map[string]any    `json:"metadata"`
	Transient  map[string]string `json:"transient"`
}

func readNotebook(path string) (*notebook, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	var nb notebook
	if err := json.Unmarshal(data, &nb); err != nil {
		return nil, fmt.Errorf("reading the executed notebook: %v", err)
	}
	return &nb, nil
}

// text joins nbformat's multi-line string (a string or a list of strings).
func text(raw json.RawMessage) string {
	var s string
	if json.Unmarshal(raw, &s) == nil {
		return s
	}
	var parts []string
	_ = json.Unmarshal(raw, &parts)
	return strings.Join(parts, "")
}

// shellFailure matches GoNB's report of a failed shell command (`!cmd`, `!*cmd`, `%%bash`) on stderr.
var shellFailure = regexp.MustCompile(`(?m)^(exit status \d+|signal: [a-z ]+)\s*$`)

// check returns the number of code cells, or an error naming the first failing one.
func (nb *notebook) check() (int, error) {
	cells := 0
	for i, c := range nb.Cells {
		if c.CellType != "code" {
			continue
		}
		cells++
		src := firstLine(text(c.Source))
		for _, o := range c.Outputs {
			switch {
			case o.OutputType == "error":
				msg := oneLine(o.EName + ": " + o.EValue)
				if tb := oneLine(stripANSI(strings.Join(o.Traceback, "\n"))); tb != "" && !strings.Contains(msg, tb) {
					msg += " | " + tb
				}
				return cells, fmt.Errorf("cell %d (%s) failed: %s", i+1, src, msg)
			case o.OutputType == "stream" && o.Name == "stderr" && shellFailure.MatchString(text(o.Text)):
				return cells, fmt.Errorf("cell %d (%s): a shell command failed: %s", i+1, src, lastLines([]byte(text(o.Text)), 3))
			}
		}
	}
	return cells, nil
}

// oneLine joins the non-empty lines of s with " | ", cut to 300 bytes.
func oneLine(s string) string {
	var parts []string
	for _, l := range strings.Split(s, "\n") {
		if l = strings.TrimSpace(l); l != "" {
			parts = append(parts, l)
		}
	}
	s = strings.Join(parts, " | ")
	if len(s) > 300 {
		s = s[:297] + "..."
	}
	return s
}

func firstLine(s string) string {
	s, _, _ = strings.Cut(strings.TrimSpace(s), "\n")
	if len(s) > 60 {
		s = s[:57] + "..."
	}
	return s
}

var ansi = regexp.MustCompile(`\x1b\[[0-9;]*m`)

func stripANSI(s string) string { return ansi.ReplaceAllString(s, "") }

// inlinePlotly puts plotly.js into the export's head so that its charts draw offline.
func inlinePlotly(htmlPath, plotlyJS string) error {
	page, err := os.ReadFile(htmlPath)
	if err != nil {
		return err
	}
	js, err := os.ReadFile(plotlyJS)
	if err != nil {
		return err
	}
	i := bytes.Index(page, []byte("<head>"))
	if i < 0 {
		return fmt.Errorf("%s has no <head>", htmlPath)
	}
	i += len("<head>")
	js = bytes.ReplaceAll(js, []byte("</script"), []byte(`<\/script`))
	var b bytes.Buffer
	b.Write(page[:i])
	b.WriteString("\n<script type=\"text/javascript\">\n")
	b.Write(js)
	b.WriteString("\n</script>\n")
	b.Write(page[i:])
	return atomicfile.Write(htmlPath, b.Bytes())
}

var (
	chartDiv   = regexp.MustCompile(`<div class="structffn-plot[^"]*"`)
	drawnChart = regexp.MustCompile(`<div class="structffn-plot[^"]*\bjs-plotly-plot\b`)
	mainSVG    = regexp.MustCompile(`<svg[^>]*class="main-svg"`)
)

// checkCharts opens the page in headless Chromium, lets its scripts run, and checks that every
// chart div became a drawn plotly chart (plotly marks it js-plotly-plot and fills it with SVG).
// It returns the number of charts.
func checkCharts(chromium, htmlPath string) (int, error) {
	abs, err := filepath.Abs(htmlPath)
	if err != nil {
		return 0, err
	}
	page, err := os.ReadFile(abs)
	if err != nil {
		return 0, err
	}
	want := len(chartDiv.FindAll(page, -1))
	if want == 0 {
		return 0, nil
	}
	profile, err := os.MkdirTemp("", "nbrun-chromium-")
	if err != nil {
		return 0, err
	}
	defer os.RemoveAll(profile)
	dom, err := runCmd(3*time.Minute, filepath.Dir(abs), nil, chromium, "--headless", "--no-sandbox", "--disable-gpu",
		"--user-data-dir="+profile, "--virtual-time-budget=30000", "--dump-dom", "file://"+abs)
	if err != nil {
		return 0, fmt.Errorf("chromium: %v: %s", err, lastLines(dom, 3))
	}
	got, gotDivs := len(drawnChart.FindAll(dom, -1)), len(chartDiv.FindAll(dom, -1))
	if gotDivs != want {
		return got, fmt.Errorf("the HTML export has %d charts, Chromium's page %d", want, gotDivs)
	}
	if svgs := len(mainSVG.FindAll(dom, -1)); got == want && svgs < want {
		got = svgs
	}
	if got != want {
		return got, fmt.Errorf("%d of %d charts drew in Chromium (the others stayed empty: a plotly error, or plotly.js missing)", got, want)
	}
	return got, nil
}
