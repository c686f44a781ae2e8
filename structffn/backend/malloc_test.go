//go:build linux && cgo

package backend

import (
	"os"
	"os/exec"
	"strings"
	"testing"
)

// TestHostBuffersKept: at program load the allocator was told to keep freed memory, so an 80 MB
// allocation (the size XLA's CPU client takes per step of the tiny preset) comes from the heap
// instead of an mmap of its own; with STRUCTFFN_KEEP_MALLOC=0 (in a child process, since the
// setting is read at load) it is glibc's default, an mmap.
func TestHostBuffersKept(t *testing.T) {
	const n = 80 << 20
	if os.Getenv("STRUCTFFN_KEEP_MALLOC") == "0" {
		if HostBuffersKept() || !largeAllocMapped(n) {
			t.Fatalf("STRUCTFFN_KEEP_MALLOC=0: kept %v, mapped %v; want glibc's defaults", HostBuffersKept(), largeAllocMapped(n))
		}
		return
	}
	if !HostBuffersKept() {
		t.Fatal("glibc refused the malloc settings")
	}
	if largeAllocMapped(n) {
		t.Error("an 80 MB allocation still got its own mmap")
	}
	cmd := exec.Command(os.Args[0], "-test.run", "^TestHostBuffersKept$", "-test.v")
	cmd.Env = append(os.Environ(), "STRUCTFFN_KEEP_MALLOC=0")
	out, err := cmd.CombinedOutput()
	if err != nil || !strings.Contains(string(out), "PASS") {
		t.Fatalf("with STRUCTFFN_KEEP_MALLOC=0: %v\n%s", err, out)
	}
}
