// Package nb holds what the notebooks share, so that their cells stay a few lines each: quick mode
// (Quick, Pick), panicking helpers for cells (Must, Show), the backend (Backend), training runs from
// a cell's flags with one live loss chart and a progress line (Train: `%% --set ... --grid ...`),
// and finished runs reloaded from their directories (RunCurves, RunsTable, ValSeries, Compare).
//
// Generic charts and tables live in package plot; nb puts them together the way the notebooks use
// them. Outside a notebook (tests, `go run`) nothing is displayed and the functions still return
// their values.
package nb

import (
	"sync"

	"github.com/gomlx/gomlx/backends"

	"github.com/structffn/structffn/structffn/backend"
	"github.com/structffn/structffn/structffn/plot"
)

// QuickEnv names the environment variable that selects the notebooks' quick mode (CI-sized runs):
// STRUCTFFN_QUICK=1, as kernel/nbrun and the browser test set it.
const QuickEnv = "STRUCTFFN_QUICK"

// Must returns v, or panics with err: for notebook cells, where a failing call should stop the cell.
func Must[T any](v T, err error) T {
	if err != nil {
		panic(err)
	}
	return v
}

// Show displays f, panicking on an error from building it (nb.Show(plot.FactorHeatmaps(spec, 1)))
// or from displaying it.
func Show(f plot.Figure, errs ...error) {
	for _, err := range errs {
		if err != nil {
			panic(err)
		}
	}
	if err := plot.Show(f); err != nil {
		panic(err)
	}
}

var (
	backendOnce sync.Once
	backendB    backends.Backend
	backendName string
	backendErr  error
)

// Backend returns the backend the notebooks run on (backend.New: $GOMLX_BACKEND, else the XLA
// CPU plugin when installed, else pure Go) and its resolved name; it is created once per cell
// program. It panics when none can be had.
func Backend() (backends.Backend, string) {
	backendOnce.Do(func() { backendB, backendName, backendErr = backend.New("") })
	if backendErr != nil {
		panic(backendErr)
	}
	return backendB, backendName
}
