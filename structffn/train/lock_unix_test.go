//go:build unix

package train

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"syscall"
	"testing"
	"time"
)

// TestLockWaitsForADeadHoldersChild: a training killed while it was starting a child process leaves
// its lock with the child until the child's exec closes it. The next start, finding the recorded
// holder dead, waits for the lock instead of calling the directory in use.
func TestLockWaitsForADeadHoldersChild(t *testing.T) {
	dir := t.TempDir()
	dead := exec.Command("true")
	if err := dead.Run(); err != nil {
		t.Skip("no true(1):", err)
	}
	f, err := os.OpenFile(filepath.Join(dir, lockName), os.O_RDWR|os.O_CREATE, 0o644)
	if err != nil {
		t.Fatal(err)
	}
	if err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB); err != nil {
		t.Fatal(err)
	}
	fmt.Fprintf(f, "pid %d, since 2026-01-01T00:00:00Z", dead.Process.Pid)
	// The "child": holds the same open file (so the same lock) for 300 ms after we let go of ours.
	child := exec.Command("sleep", "0.3")
	child.ExtraFiles = []*os.File{f}
	if err := child.Start(); err != nil {
		t.Skip("no sleep(1):", err)
	}
	defer child.Wait()
	f.Close()
	start := time.Now()
	unlock, err := lockRunDir(dir)
	if err != nil {
		t.Fatalf("lock held by a dead holder's child: %v", err)
	}
	unlock()
	if waited := time.Since(start); waited < 100*time.Millisecond {
		t.Errorf("got the lock after %v, before the child let go of it", waited)
	}
}
