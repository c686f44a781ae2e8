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
	if err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB); err != nil {
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
