// Command nbrun executes every notebook in notebooks/ headless with the GoNB kernel and checks it:
// a cell fails on a Go error (compile or panic), on an error output, and on a shell cell whose
// command failed (GoNB reports that only as "exit status N" on stderr, which nbconvert does not
// count as a failure). It then exports each executed notebook to HTML with a pinned plotly.js
// inlined, opens the HTML in headless Chromium and checks that every chart drew. The last line it
// prints is `notebooks: N passed, M failed`.
//
//	go run ./kernel/nbrun                 # quick mode (STRUCTFFN_QUICK=1), as CI runs it
//	go run ./kernel/nbrun -full -update   # full mode, writing the executed notebooks back (to commit)
//	go run ./kernel/nbrun -html out/ notebooks/01_structured_matrices.ipynb
//
// It needs kernel/setup.sh (Jupyter, GoNB, plotly.js) and Chromium (apt-get install chromium).
package main

import (
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"time"
)

func main() {
	full := flag.Bool("full", false, "run the notebooks in full mode (the default is quick mode, STRUCTFFN_QUICK=1)")
	update := flag.Bool("update", false, "write each executed notebook that passed back over its source (to commit outputs)")
	htmlDir := flag.String("html", "", "keep the HTML exports in this directory")
	timeout := flag.Duration("timeout", 30*time.Minute, "time limit per notebook")
	flag.Usage = func() {
		fmt.Fprintf(os.Stderr, "usage: nbrun [-full] [-update] [-html DIR] [-timeout D] [NOTEBOOK.ipynb ...]\n(default: every notebooks/*.ipynb)\n\nflags:\n")
		flag.PrintDefaults()
	}
	flag.Parse()
	paths := flag.Args()
	if len(paths) == 0 {
		root, err := repoRoot()
		if err != nil {
			fail(err)
		}
		if paths, err = filepath.Glob(filepath.Join(root, "notebooks", "*.ipynb")); err != nil {
			fail(err)
		}
	}
	env, err := FindEnv()
	if err != nil {
		fail(err)
	}
	opts := Options{Quick: !*full, Update: *update, HTMLDir: *htmlDir, Timeout: *timeout, Log: os.Stdout}
	results := RunAll(env, paths, opts)
	passed := 0
	for _, r := range results {
		if r.Err == nil {
			passed++
		}
	}
	fmt.Printf("notebooks: %d passed, %d failed\n", passed, len(results)-passed)
	if passed != len(results) {
		os.Exit(1)
	}
}

func fail(err error) {
	fmt.Fprintln(os.Stderr, "nbrun:", err)
	fmt.Println("notebooks: 0 passed, 0 failed")
	os.Exit(2)
}
