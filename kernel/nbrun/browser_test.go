package main

import (
	"bufio"
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// browserResult is one line of kernel/browser/check.py's output.
type browserResult struct {
	Notebook   string   `json:"notebook"`
	UI         string   `json:"ui"`
	OK         bool     `json:"ok"`
	Problems   []string `json:"problems"`
	Charts     int      `json:"charts"`
	LivePoints int      `json:"live_points"`
}

// runBrowserCheck runs kernel/browser/check.py with the kernel venv's Python (Playwright, JupyterLab)
// on notebooks under root, in quick mode, and returns its results by notebook.
func runBrowserCheck(t *testing.T, ui, root string, notebooks ...string) map[string]browserResult {
	t.Helper()
	env := findEnv(t)
	python := filepath.Join(filepath.Dir(env.Jupyter), "python")
	if err := exec.Command(python, "-c", "import playwright").Run(); err != nil {
		if os.Getenv(requireNotebooksEnv) == "1" {
			t.Fatalf("%s=1 but the kernel venv has no Playwright (%v): rerun kernel/setup.sh", requireNotebooksEnv, err)
		}
		t.Skipf("no Playwright in the kernel venv (%v): rerun kernel/setup.sh", err)
	}
	repo, err := repoRoot()
	if err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(python, append([]string{filepath.Join(repo, "kernel", "browser", "check.py"), "--ui", ui, "--root", root, "--timeout", "900"}, notebooks...)...)
	cmd.Env = append(os.Environ(), "STRUCTFFN_QUICK=1", "PATH="+filepath.Dir(env.Jupyter)+string(os.PathListSeparator)+os.Getenv("PATH"))
	if env.Chromium != "" {
		cmd.Env = append(cmd.Env, "STRUCTFFN_CHROMIUM="+env.Chromium)
	}
	var stderr strings.Builder
	cmd.Stderr = &stderr
	out, _ := cmd.Output() // exit 1 when a notebook fails: the results say which
	results := map[string]browserResult{}
	sc := bufio.NewScanner(strings.NewReader(string(out)))
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	for sc.Scan() {
		var r browserResult
		if err := json.Unmarshal(sc.Bytes(), &r); err != nil {
			t.Fatalf("check.py printed %q: %v", sc.Text(), err)
		}
		results[r.Notebook] = r
	}
	if len(results) != len(notebooks) {
		t.Fatalf("check.py reported %d of %d notebooks; stderr:\n%s", len(results), len(notebooks), stderr.String())
	}
	return results
}

// TestBrowserCatchesABrokenLiveChart: the browser check passes a live chart drawn the way
// structffn/plot draws one and fails one updated the way it used to be (one plotly output under a
// display id, which JupyterLab's plotly renderer never redraws).
func TestBrowserCatchesABrokenLiveChart(t *testing.T) {
	root := t.TempDir()
	for _, name := range []string{"live-fixture-good.ipynb", "live-fixture-broken.ipynb"} {
		raw, err := os.ReadFile(filepath.Join("..", "browser", "testdata", name))
		if err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(root, name), raw, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	for _, ui := range uis {
		res := runBrowserCheck(t, ui, root, "live-fixture-good.ipynb", "live-fixture-broken.ipynb")
		if g := res["live-fixture-good.ipynb"]; !g.OK || g.LivePoints <= 0 {
			t.Errorf("%s: the good live chart failed: %+v", ui, g)
		}
		b := res["live-fixture-broken.ipynb"]
		if b.OK || !strings.Contains(strings.Join(b.Problems, "\n"), "the live chart drew no point while its cell ran") {
			t.Errorf("%s: the broken live chart passed or failed for another reason: %+v", ui, b)
		}
	}
}

// uis are the user interfaces the browser tests drive: JupyterLab 4 and Notebook 7.
var uis = []string{"lab", "notebook"}

// TestNotebooksInJupyterLab runs every notebook in JupyterLab and in Notebook 7 in headless Chromium, in
// quick mode, in place (never saved): opening it does not mark it modified, no error output, every chart drawn, live charts drawing while their cell runs,
// no browser console error.
func TestNotebooksInJupyterLab(t *testing.T) {
	repo, err := repoRoot()
	if err != nil {
		t.Fatal(err)
	}
	paths, err := filepath.Glob(filepath.Join(repo, "notebooks", "*.ipynb"))
	if err != nil || len(paths) == 0 {
		t.Fatalf("no notebooks under %s (%v)", repo, err)
	}
	// JupyterLab makes a checkpoint directory beside a notebook it opens: remove it if the run made it.
	checkpoints := filepath.Join(repo, "notebooks", ".ipynb_checkpoints")
	if _, err := os.Stat(checkpoints); os.IsNotExist(err) {
		defer os.RemoveAll(checkpoints)
	}
	var rel []string
	for _, p := range paths {
		rel = append(rel, filepath.Join("notebooks", filepath.Base(p)))
	}
	for _, nb := range rel {
		before, _ := os.ReadFile(filepath.Join(repo, nb))
		defer func(nb string, before []byte) {
			if after, _ := os.ReadFile(filepath.Join(repo, nb)); string(after) != string(before) {
				t.Errorf("%s was modified by the browser run", nb)
			}
		}(nb, before)
	}
	for _, ui := range uis {
		for nb, r := range runBrowserCheck(t, ui, repo, rel...) {
			if !r.OK {
				t.Errorf("%s in %s: %s", nb, ui, strings.Join(r.Problems, "; "))
			}
			if r.Charts == 0 {
				t.Errorf("%s in %s: no chart found", nb, ui)
			}
		}
	}
}
