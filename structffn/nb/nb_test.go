package nb

import (
	"path/filepath"
	"reflect"
	"strings"
	"testing"

	"github.com/structffn/structffn/internal/testcorpus"
)

func TestParseGrid(t *testing.T) {
	tests := []struct {
		name                string
		set, grid, quickSet string
		quick               bool
		wantSet             [][2]string
		wantAxes            []Axis
		wantErr             string
	}{
		{name: "set and grid", set: "train_steps=500; eval_every=100", grid: "structure=dense,lowrank;seed=0,1",
			wantSet:  [][2]string{{"train_steps", "500"}, {"eval_every", "100"}},
			wantAxes: []Axis{{"structure", []string{"dense", "lowrank"}}, {"seed", []string{"0", "1"}}}},
		{name: "quick ignored outside quick mode", set: "train_steps=500", quickSet: "train_steps=30",
			wantSet: [][2]string{{"train_steps", "500"}}},
		{name: "quick replaces a setting, narrows an axis, adds one", set: "train_steps=500", grid: "structure=dense,lowrank,blockdense",
			quickSet: "train_steps=30;structure=lowrank;seed=0,1;log_every=10", quick: true,
			wantSet:  [][2]string{{"train_steps", "30"}, {"log_every", "10"}},
			wantAxes: []Axis{{"structure", []string{"lowrank"}}, {"seed", []string{"0", "1"}}}},
		{name: "quick turns a setting into an axis", set: "seed=0;train_steps=5", quickSet: "seed=0,1", quick: true,
			wantSet: [][2]string{{"train_steps", "5"}}, wantAxes: []Axis{{"seed", []string{"0", "1"}}}},
		{name: "empty", wantSet: nil},
		{name: "no value", set: "train_steps=", wantErr: `--set "train_steps=": want key=value`},
		{name: "no key", grid: "=dense", wantErr: `--grid "=dense": want key=value`},
		{name: "no equals sign", set: "lowrank", wantErr: `--set "lowrank"`},
		{name: "key twice", set: "seed=1;seed=2", wantErr: "--set: key seed given twice"},
		{name: "key in set and grid", set: "seed=1", grid: "seed=0,1", wantErr: "--grid seed: the key is in --set too"},
		{name: "list in set", set: "seed=0,1", wantErr: `put several in --grid "seed=0,1"`},
		{name: "empty grid value", grid: "seed=0,,1", wantErr: "--grid seed=0,,1: an empty value"},
		{name: "value twice", grid: "seed=1,1", wantErr: "value 1 given twice"},
		{name: "bad quick", quickSet: "oops", quick: true, wantErr: `--quick "oops"`},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			g, err := ParseGrid(tc.set, tc.grid, tc.quickSet, tc.quick)
			if tc.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
					t.Fatalf("error %v, want one containing %q", err, tc.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if !reflect.DeepEqual(g.Set, tc.wantSet) || !reflect.DeepEqual(g.Axes, tc.wantAxes) {
				t.Errorf("got set %v axes %v, want %v %v", g.Set, g.Axes, tc.wantSet, tc.wantAxes)
			}
		})
	}
}

func TestGridRuns(t *testing.T) {
	tests := []struct {
		name      string
		set, grid string
		wantNames []string
		wantErr   string
	}{
		{name: "one run", set: "structure=dense", wantNames: []string{""}},
		{name: "dense drops the structured-only axes", grid: "structure=dense,lowrank;sgt=off,steps;seed=0,1",
			wantNames: []string{"dense-seed0", "dense-seed1", "lowrank-sgtoff-seed0", "lowrank-sgtoff-seed1", "lowrank-sgtsteps-seed0", "lowrank-sgtsteps-seed1"}},
		{name: "dense drops lr_scaling too", grid: "structure=dense,btt;lr_scaling=off,cbs",
			wantNames: []string{"dense", "btt-lr_scalingoff", "btt-lr_scalingcbs"}},
		{name: "single-valued axes are not in names", grid: "structure=lowrank;fraction=0.625,0.3125",
			wantNames: []string{"fraction0.625", "fraction0.3125"}},
		{name: "a bad value names its run", grid: "structure=lowrank,nosuch", wantErr: "run nosuch:"},
		{name: "an unknown key", set: "no_such_setting=1", wantErr: "no_such_setting"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			g, err := ParseGrid(tc.set, tc.grid, "", false)
			if err != nil {
				t.Fatal(err)
			}
			runs, err := g.Runs("out/nb")
			if tc.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
					t.Fatalf("error %v, want one containing %q", err, tc.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			var names []string
			for _, r := range runs {
				names = append(names, r.Name)
				want := "out/nb"
				if r.Name != "" {
					want += "-" + r.Name
				}
				if r.Dir != want || r.Planned.Steps <= 0 {
					t.Errorf("run %q: dir %s, %d steps", r.Name, r.Dir, r.Planned.Steps)
				}
			}
			if !reflect.DeepEqual(names, tc.wantNames) {
				t.Errorf("names %q, want %q", names, tc.wantNames)
			}
		})
	}
}

// TestTrainGridAndCompare trains a grid of two settings × two seeds on the pure-Go backend, as a
// notebook cell does, and pools the seeds.
func TestTrainGridAndCompare(t *testing.T) {
	t.Setenv("GOMLX_BACKEND", "go")
	set := "layers=2;d_model=32;heads=2;head_dim=16;ffn=128;context=32;batch=8;tokenizer=byte;val_fraction=0.1;eval_batches=2;" +
		"train_steps=4;eval_every=2;log_every=1;corpus=file:" + testcorpus.Write(t, 3, "the model trains a low rank block matrix and the loss falls step by step", 40_000)
	g, err := ParseGrid(set, "structure=dense,lowrank;seed=0,1", "", false)
	if err != nil {
		t.Fatal(err)
	}
	prefix := filepath.Join(t.TempDir(), "grid")
	dirs, err := TrainGrid(prefix, g, "")
	if err != nil {
		t.Fatal(err)
	}
	if len(dirs) != 4 || dirs[3] != prefix+"-lowrank-seed1" {
		t.Fatalf("dirs %q", dirs)
	}
	curves, err := RunCurves(dirs...)
	if err != nil {
		t.Fatal(err)
	}
	val := ValSeries(curves[0], "dense", 0, FLOPs)
	if curves[0].Name != "grid-dense-seed0" || len(curves[0].Records) != 4 || len(val.X) != 2 || !(val.X[1] > val.X[0]) {
		t.Errorf("curve %s: %d records, val series %+v", curves[0].Name, len(curves[0].Records), val)
	}
	settings, err := Settings(dirs...)
	if err != nil {
		t.Fatal(err)
	}
	if len(settings) != 2 || settings[0].Name != "grid-dense" || settings[1].Name != "grid-lowrank" || len(settings[1].Loss) != 2 ||
		settings[1].Loss[0] == settings[1].Loss[1] || !(settings[1].Params < settings[0].Params) {
		t.Fatalf("settings %+v", settings)
	}
	md, err := Compare("test", dirs...)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(md, "| grid-lowrank | 2 |") || !strings.Contains(md, " ± ") || !strings.Contains(md, "+0.0000") {
		t.Errorf("table:\n%s", md)
	}
	if _, err := Settings(t.TempDir()); err == nil || !strings.Contains(err.Error(), "not a run directory") {
		t.Errorf("Settings of an empty directory: %v", err)
	}
}
