package nb

import "os"

// Quick reports whether the notebooks run in quick mode ($STRUCTFFN_QUICK=1).
func Quick() bool { return os.Getenv(QuickEnv) == "1" }

// Pick returns quick in quick mode and full otherwise: the one switch a notebook cell needs, e.g.
// steps := nb.Pick(30, 1000).
func Pick[T any](quick, full T) T {
	if Quick() {
		return quick
	}
	return full
}
