package nb

import (
	"flag"
	"fmt"
	"slices"
	"strings"

	"github.com/structffn/structffn/structffn/linear"
	"github.com/structffn/structffn/structffn/train"
)

// The flags of a training cell, which GoNB fills from the cell's `%%` line, e.g.
//
//	%% --set "train_steps=500;eval_every=100" --grid "structure=dense,lowrank" --quick "train_steps=30"
//
// (GoNB passes the words after `%%` to the cell's program, which parses them with package flag).
var (
	setFlag   = flag.String("set", "", `settings of every run of the cell, "key=value;key=value" (train.DefaultContext's keys, as the CLI's -set)`)
	gridFlag  = flag.String("grid", "", `a grid of runs, "key=v1,v2;key=v1,v2": one run per combination of values`)
	quickFlag = flag.String("quick", "", `in quick mode ($STRUCTFFN_QUICK=1), "key=value" or "key=v1,v2" items that replace those of --set and --grid`)
	titleFlag = flag.String("title", "", "title of the live loss chart (default: the preset, steps and backend)")
)

// Axis is one dimension of a grid: a setting and the values it takes.
type Axis struct {
	Key    string
	Values []string
}

// Grid is a set of training runs: the settings they share and the axes they vary along (the cross
// product of the axes' values, the first axis outermost).
type Grid struct {
	Set  [][2]string // key, value: the settings every run shares, in order.
	Axes []Axis
}

// CellGrid is the grid of the running cell's flags (--set, --grid and, in quick mode, --quick).
func CellGrid() (Grid, error) { return ParseGrid(*setFlag, *gridFlag, *quickFlag, Quick()) }

// ParseGrid builds a grid from set ("key=value;..."), grid ("key=v1,v2;...") and, when quick is
// true, the quick overrides ("key=value" replaces a shared setting or narrows an axis to one value,
// "key=v1,v2" replaces or adds an axis).
func ParseGrid(set, grid, quickSet string, quick bool) (Grid, error) {
	var g Grid
	items, err := splitItems("--set", set)
	if err != nil {
		return g, err
	}
	for _, kv := range items {
		if strings.Contains(kv[1], ",") {
			return g, fmt.Errorf("--set %s=%s: one value per key here; put several in --grid %q", kv[0], kv[1], kv[0]+"="+kv[1])
		}
		g.Set = append(g.Set, kv)
	}
	if items, err = splitItems("--grid", grid); err != nil {
		return g, err
	}
	for _, kv := range items {
		if slices.IndexFunc(g.Set, func(s [2]string) bool { return s[0] == kv[0] }) >= 0 {
			return g, fmt.Errorf("--grid %s: the key is in --set too; give it in one of them", kv[0])
		}
		ax, err := parseAxis("--grid", kv)
		if err != nil {
			return g, err
		}
		g.Axes = append(g.Axes, ax)
	}
	if !quick {
		return g, nil
	}
	if items, err = splitItems("--quick", quickSet); err != nil {
		return g, err
	}
	for _, kv := range items {
		ax, err := parseAxis("--quick", kv)
		if err != nil {
			return g, err
		}
		if i := slices.IndexFunc(g.Axes, func(a Axis) bool { return a.Key == kv[0] }); i >= 0 {
			g.Axes[i] = ax
			continue
		}
		i := slices.IndexFunc(g.Set, func(s [2]string) bool { return s[0] == kv[0] })
		switch {
		case len(ax.Values) > 1:
			if i >= 0 {
				g.Set = slices.Delete(g.Set, i, i+1)
			}
			g.Axes = append(g.Axes, ax)
		case i >= 0:
			g.Set[i][1] = kv[1]
		default:
			g.Set = append(g.Set, kv)
		}
	}
	return g, nil
}

// splitItems splits "k=v;k=v" into its items (empty ones ignored), refusing a key given twice.
func splitItems(flagName, s string) ([][2]string, error) {
	var out [][2]string
	for _, item := range strings.Split(s, ";") {
		if item = strings.TrimSpace(item); item == "" {
			continue
		}
		k, v, ok := strings.Cut(item, "=")
		k, v = strings.TrimSpace(k), strings.TrimSpace(v)
		if !ok || k == "" || v == "" {
			return nil, fmt.Errorf("%s %q: want key=value items separated by ';', e.g. \"structure=lowrank;train_steps=30\"", flagName, item)
		}
		if slices.IndexFunc(out, func(kv [2]string) bool { return kv[0] == k }) >= 0 {
			return nil, fmt.Errorf("%s: key %s given twice", flagName, k)
		}
		out = append(out, [2]string{k, v})
	}
	return out, nil
}

func parseAxis(flagName string, kv [2]string) (Axis, error) {
	ax := Axis{Key: kv[0]}
	for _, v := range strings.Split(kv[1], ",") {
		if v = strings.TrimSpace(v); v == "" {
			return ax, fmt.Errorf("%s %s=%s: an empty value", flagName, kv[0], kv[1])
		}
		if slices.Contains(ax.Values, v) {
			return ax, fmt.Errorf("%s %s=%s: value %s given twice", flagName, kv[0], kv[1], v)
		}
		ax.Values = append(ax.Values, v)
	}
	return ax, nil
}

// Run is one run of a grid.
type Run struct {
	Name     string // The values of the grid's axes that vary, e.g. "lowrank-sgtsteps-seed1" ("" for a single run).
	Dir      string
	Settings string        // The -set string it trains with.
	Planned  train.Planned // Its model, steps, tokens and training FLOPs.
}

// structuredOnly are the settings that only a structured FFN has: a dense run drops these axes (one
// dense run stands for all their values, as `structffn sweep` plans it).
var structuredOnly = []string{train.ParamFraction, train.ParamRank, train.ParamNBlocks, train.ParamSGT, train.ParamScaling}

// Runs plans the grid's runs into directories prefix-<name> (prefix alone for a grid of one run),
// checking every run's settings before anything trains.
func (g Grid) Runs(prefix string) ([]Run, error) {
	var runs []Run
	combos := [][][2]string{nil}
	for _, ax := range g.Axes {
		var next [][][2]string
		for _, c := range combos {
			for _, v := range ax.Values {
				next = append(next, append(slices.Clone(c), [2]string{ax.Key, v}))
			}
		}
		combos = next
	}
	for _, combo := range combos {
		// The run without the structured-only values tells whether it is dense.
		r, err := g.run(prefix, slices.DeleteFunc(slices.Clone(combo), func(kv [2]string) bool { return slices.Contains(structuredOnly, kv[0]) }))
		if err != nil {
			return nil, err
		}
		if r.Planned.Config.Structure != linear.Dense {
			if r, err = g.run(prefix, combo); err != nil {
				return nil, err
			}
		}
		if !slices.ContainsFunc(runs, func(o Run) bool { return o.Name == r.Name }) {
			runs = append(runs, r)
		}
	}
	return runs, nil
}

func (g Grid) run(prefix string, combo [][2]string) (Run, error) {
	var settings, name []string
	for _, kv := range g.Set {
		settings = append(settings, kv[0]+"="+kv[1])
	}
	for _, kv := range combo {
		settings = append(settings, kv[0]+"="+kv[1])
		ax := g.Axes[slices.IndexFunc(g.Axes, func(a Axis) bool { return a.Key == kv[0] })]
		if len(ax.Values) > 1 {
			name = append(name, namePart(kv[0], kv[1]))
		}
	}
	r := Run{Name: strings.Join(name, "-"), Dir: prefix, Settings: strings.Join(settings, ";")}
	if r.Name != "" {
		r.Dir += "-" + r.Name
	}
	var err error
	if r.Planned, err = train.PlanSettings(r.Settings); err != nil {
		if r.Name != "" {
			return r, fmt.Errorf("run %s: %v", r.Name, err)
		}
		return r, err
	}
	return r, nil
}

// namePart names an axis value in a run's name: a structure by itself, anything else as key and
// value run together ("sgtsteps", "seed1", "fraction0.625").
func namePart(key, value string) string {
	if key == train.ParamStructure {
		return value
	}
	return strings.ReplaceAll(key+value, "/", "_")
}
