//go:build unix

package train

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"time"
)

// lockName is the file in a run directory that a training holds an exclusive lock on.
const lockName = ".lock"

// lockRunDir takes an exclusive lock on run directory dir (flock on dir/.lock, which records the
// holder's pid and start time), so that a second training into the same directory fails with a clear
// error instead of interleaving metrics and checkpoints. The kernel drops the lock when the holder
// exits, however it exits, so a lock left by a killed process is free again by itself. Call the
// returned function to release it.
func lockRunDir(dir string) (unlock func(), err error) {
	path := filepath.Join(dir, lockName)
	f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE, 0o644)
	if err != nil {
		return nil, fmt.Errorf("locking run directory %s: %v", dir, err)
	}
	err = syscall.Flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB)
	// A holder killed while starting a child process (git, nvidia-smi) leaves the lock with the child
	// until the child's exec closes it, a few milliseconds later: when the recorded holder is dead, wait
	// for that (up to 5 s) instead of calling the directory in use.
	for deadline := time.Now().Add(5 * time.Second); errors.Is(err, syscall.EWOULDBLOCK) && !holderAlive(path) && time.Now().Before(deadline); {
		time.Sleep(20 * time.Millisecond)
		err = syscall.Flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB)
	}
	if err != nil {
		holder, _ := os.ReadFile(path)
		f.Close()
		if errors.Is(err, syscall.EWOULDBLOCK) {
			return nil, fmt.Errorf("run directory %s is in use by another training (%s): wait for it to finish or stop it, or use another -out",
				dir, strings.TrimSpace(string(holder)))
		}
		return nil, fmt.Errorf("locking run directory %s: %v", dir, err)
	}
	if err := f.Truncate(0); err == nil {
		fmt.Fprintf(f, "pid %d, since %s", os.Getpid(), time.Now().UTC().Format(time.RFC3339))
		_ = f.Sync()
	}
	return func() {
		_ = syscall.Flock(int(f.Fd()), syscall.LOCK_UN)
		f.Close()
	}, nil
}

// holderAlive reports whether the process recorded in the lock file at path ("pid N, since ...")
// exists; true when the file names none (so that nothing is waited for on a guess).
func holderAlive(path string) bool {
	raw, err := os.ReadFile(path)
	if err != nil {
		return true
	}
	var pid int
	if _, err := fmt.Sscanf(string(raw), "pid %d", &pid); err != nil || pid <= 0 {
		return true
	}
	return !errors.Is(syscall.Kill(pid, 0), syscall.ESRCH)
}
