package backend

// xlaAvailable reports whether the XLA backend is compiled in and finds a CPU PJRT plugin.
// (Filled in with the XLA CPU plugin set-up; until then only the pure-Go backend exists.)
func xlaAvailable() bool { return false }

// xlaMissing says why XLA cannot be used and how to fix it.
func xlaMissing() string {
	return "the XLA backend is not available in this build: use -backend go"
}
