package main

import (
	"os"
	"syscall"
)

// stopSignals end a training or a sweep cleanly (a checkpoint is saved, the command exits non-zero and
// says how to resume): Ctrl-C, and SIGTERM, which kill, timeout, batch schedulers and container
// runtimes send first.
var stopSignals = []os.Signal{os.Interrupt, syscall.SIGTERM}
