package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// requireNotebooksEnv names the variable that turns a missing kernel set-up into a failure (CI).
const requireNotebooksEnv = "STRUCTFFN_REQUIRE_NOTEBOOKS"

func findEnv(t *testing.T) Env {
	t.Helper()
	env, err := FindEnv()
	if err != nil {
		if os.Getenv(requireNotebooksEnv) == "1" {
			t.Fatalf("%s=1 but %v", requireNotebooksEnv, err)
		}
		t.Skipf("notebook kernel not set up (%v)", err)
	}
	return env
}

func TestCheckOutputs(t *testing.T) {
	for _, tc := range []struct {
		name, cells string
		want        string // "" : passes
	}{
		{"clean", `[{"cell_type":"markdown","source":"x"},{"cell_type":"code","source":"%%\nfmt.Println(1)","outputs":[{"output_type":"stream","name":"stdout","text":["1\n"]}]}]`, ""},
		{"go error", `[{"cell_type":"code","source":["%%\n","var x int = \"s\""],"outputs":[{"output_type":"error","ename":"ERROR","evalue":"# gonb\n./main.go:11: cannot use\n","traceback":["cannot use"]}]}]`,
			"cell 1 (%%) failed: ERROR: # gonb | ./main.go:11: cannot use"},
		{"shell exit status", `[{"cell_type":"code","source":"!false","outputs":[{"output_type":"stream","name":"stderr","text":["exit status 1\n"]}]}]`,
			"cell 1 (!false): a shell command failed: exit status 1"},
		{"shell killed", `[{"cell_type":"code","source":"!sleep 9","outputs":[{"output_type":"stream","name":"stderr","text":"signal: killed\n"}]}]`,
			"a shell command failed: signal: killed"},
		{"stderr without failure", `[{"cell_type":"code","source":"!ls","outputs":[{"output_type":"stream","name":"stderr","text":"warning: exit status 1 is only text here\n"}]}]`, ""},
		{"exit status on stdout", `[{"cell_type":"code","source":"%%","outputs":[{"output_type":"stream","name":"stdout","text":"exit status 1\n"}]}]`, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			path := filepath.Join(t.TempDir(), "nb.ipynb")
			if err := os.WriteFile(path, []byte(`{"cells":`+tc.cells+`}`), 0o644); err != nil {
				t.Fatal(err)
			}
			nb, err := readNotebook(path)
			if err != nil {
				t.Fatal(err)
			}
			_, err = nb.check()
			switch {
			case tc.want == "" && err != nil:
				t.Errorf("unexpected failure: %v", err)
			case tc.want != "" && (err == nil || !strings.Contains(err.Error(), tc.want) || strings.Contains(err.Error(), "\n")):
				t.Errorf("error %v, want one line containing %q", err, tc.want)
			}
		})
	}
}

// TestRunnerCatchesBrokenNotebooks runs the testdata notebooks through the real kernel: one that
// passes (with a chart Chromium must see drawn), and one each with a Go compile error, a failing
// shell cell and a chart that never draws.
func TestRunnerCatchesBrokenNotebooks(t *testing.T) {
	env := findEnv(t)
	for _, tc := range []struct{ file, want string }{
		{"good.ipynb", ""},
		{"broken_go.ipynb", `cell 2 (%%) failed: ERROR:`},
		{"broken_shell.ipynb", "cell 1 (!false): a shell command failed: exit status 1"},
		{"broken_chart.ipynb", "0 of 1 charts drew in Chromium"},
	} {
		t.Run(tc.file, func(t *testing.T) {
			r := Run(env, filepath.Join("testdata", tc.file), Options{Quick: true})
			if tc.want == "" {
				if r.Err != nil || r.Charts != 1 || r.Cells != 3 {
					t.Fatalf("got %d cells, %d charts, error %v; want 3 cells, 1 chart drawn, no error", r.Cells, r.Charts, r.Err)
				}
				return
			}
			if r.Err == nil || !strings.Contains(r.Err.Error(), tc.want) || strings.Contains(r.Err.Error(), "\n") {
				t.Fatalf("error %v, want one line containing %q", r.Err, tc.want)
			}
		})
	}
}

// TestNotebooks executes every notebook in notebooks/ in quick mode, as CI does, and checks its
// cells and charts; `go run ./kernel/nbrun` does the same with a summary line.
func TestNotebooks(t *testing.T) {
	env := findEnv(t)
	paths, err := filepath.Glob(filepath.Join("..", "..", "notebooks", "*.ipynb"))
	if err != nil || len(paths) == 0 {
		t.Fatalf("no notebooks found (%v)", err)
	}
	var log strings.Builder
	results := RunAll(env, paths, Options{Quick: true, Log: &log})
	passed := 0
	for _, r := range results {
		if r.Err == nil {
			passed++
		} else {
			t.Errorf("%s: %v", filepath.Base(r.Path), r.Err)
		}
	}
	t.Logf("%snotebooks: %d passed, %d failed", log.String(), passed, len(results)-passed)
}
