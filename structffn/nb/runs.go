package nb

import (
	"fmt"
	"path/filepath"
	"regexp"
	"slices"
	"strings"

	"github.com/structffn/structffn/structffn/plot"
	"github.com/structffn/structffn/structffn/scaling"
	"github.com/structffn/structffn/structffn/train"
)

// RunCurves reads run directories' metrics (train.ReadMetrics), each curve named by its directory's
// base name.
func RunCurves(dirs ...string) ([]plot.Curve, error) {
	var out []plot.Curve
	for _, d := range dirs {
		records, err := train.ReadMetrics(d)
		if err != nil {
			return nil, err
		}
		out = append(out, plot.Curve{Name: filepath.Base(d), Records: records})
	}
	return out, nil
}

// RunsTable displays the summaries of run directories (train.Summarize) as the table `structffn runs`
// prints, each run named by its directory's base name, and returns its markdown.
func RunsTable(dirs ...string) (string, error) {
	var rows [][]string
	for _, dir := range dirs {
		s, err := train.Summarize(dir)
		if err != nil {
			return "", err
		}
		rows = append(rows, s.Row(filepath.Base(dir)))
	}
	return plot.Table(train.SummaryHeader, rows), nil
}

// X chooses the x coordinate of a run's points: training tokens or training FLOPs.
type X func(train.Record) float64

var (
	// Tokens is the training tokens seen.
	Tokens X = func(r train.Record) float64 { return float64(r.Tokens) }
	// FLOPs is the training FLOPs spent (the paper's accounting, train.Record.TrainFLOPs).
	FLOPs X = func(r train.Record) float64 { return r.TrainFLOPs }
)

// ValSeries is a curve's validation losses from step fromStep on, against x, drawn with markers and
// named name.
func ValSeries(c plot.Curve, name string, fromStep int64, x X) plot.Series {
	s := plot.Series{Name: name, Markers: true}
	for _, r := range c.Records {
		if r.ValLoss != nil && r.Step >= fromStep {
			s.X, s.Y = append(s.X, x(r)), append(s.Y, *r.ValLoss)
		}
	}
	return s
}

// seedPart matches the seed component of a grid run's name ("seed2").
var seedPart = regexp.MustCompile(`^seed[0-9]+$`)

// Setting is the runs of one setting of a grid, its seeds pooled: the final validation losses and
// training FLOPs of each seed's run.
type Setting struct {
	Name   string
	Dirs   []string
	Params int64
	FLOPs  []float64
	Loss   []float64
}

// Settings groups finished run directories by their name without the seed ("lowrank-seed0" and
// "lowrank-seed1" are one setting), in the order first seen; every run must have been evaluated.
func Settings(dirs ...string) ([]Setting, error) {
	var out []Setting
	for _, dir := range dirs {
		s, err := train.Summarize(dir)
		if err != nil {
			return nil, err
		}
		if s.ValLoss == nil {
			return nil, fmt.Errorf("%s has no validation loss: train it with eval_every > 0 or to its last step", dir)
		}
		name := strings.Join(slices.DeleteFunc(strings.Split(filepath.Base(dir), "-"), seedPart.MatchString), "-")
		i := slices.IndexFunc(out, func(g Setting) bool { return g.Name == name })
		if i < 0 {
			out = append(out, Setting{Name: name, Params: s.Params})
			i = len(out) - 1
		}
		g := &out[i]
		g.Dirs, g.FLOPs, g.Loss = append(g.Dirs, dir), append(g.FLOPs, s.TrainFLOP), append(g.Loss, *s.ValLoss)
	}
	return out, nil
}

// Compare displays what a grid's finished runs reached, their seeds pooled per setting (Settings):
// a table of final validation loss (mean ± standard deviation over seeds, and its difference to the
// first setting's mean) with parameters and training FLOPs, and a chart of final loss against
// training FLOPs, each seed a point and each setting's mean with a ±1 sd bar. It returns the table's
// markdown.
func Compare(title string, dirs ...string) (string, error) {
	settings, err := Settings(dirs...)
	if err != nil {
		return "", err
	}
	if len(settings) == 0 {
		return "", fmt.Errorf("nb.Compare: no runs given")
	}
	var rows [][]string
	var groups []plot.Group
	ref, _ := scaling.MeanSD(settings[0].Loss)
	for _, s := range settings {
		loss, sd := scaling.MeanSD(s.Loss)
		spread := fmt.Sprintf("%.4f ± %.4f", loss, sd)
		if len(s.Loss) < 2 {
			spread = fmt.Sprintf("%.4f", loss)
		}
		flops, _ := scaling.MeanSD(s.FLOPs)
		rows = append(rows, []string{s.Name, fmt.Sprint(len(s.Loss)), fmt.Sprintf("%.3gM", float64(s.Params)/1e6), fmt.Sprintf("%.3g", flops),
			spread, fmt.Sprintf("%+.4f", loss-ref)})
		groups = append(groups, plot.Group{Name: s.Name, X: s.FLOPs, Y: s.Loss})
	}
	md := plot.Table([]string{"setting", "seeds", "params", "train FLOPs", "final val loss (mean ± sd)", "Δ vs " + settings[0].Name}, rows)
	if err := plot.Show(plot.Spread(title, "training FLOPs", "final validation loss (nats/token)", true, groups...)); err != nil {
		return md, err
	}
	return md, nil
}
