//go:build linux && cgo

package backend

/*
#include <malloc.h>
#include <stdlib.h>
#include <string.h>

static int keptHostBuffers = 0;

// keepHostBuffers runs when the program is loaded, before any thread exists (so that arena_max
// applies to every thread): glibc's malloc keeps freed memory for reuse, with one arena (so that
// every thread's large requests come from the main heap; other arenas fall back to mmap for
// requests above their 64 MB heaps whatever the settings), no mmap'd chunks and no trimming of
// the heap top. STRUCTFFN_KEEP_MALLOC=0 leaves the defaults.
__attribute__((constructor)) static void keepHostBuffers(void) {
	const char *v = getenv("STRUCTFFN_KEEP_MALLOC");
	if (v != NULL && strcmp(v, "0") == 0) {
		return;
	}
	keptHostBuffers = mallopt(M_ARENA_MAX, 1) && mallopt(M_MMAP_MAX, 0) && mallopt(M_TRIM_THRESHOLD, 0x7fffffff);
}

static int hostBuffersKept(void) { return keptHostBuffers; }

// mappedWhileAllocated allocates n bytes, reports how many chunks malloc holds in separate mmaps
// meanwhile (mallinfo2's hblks), and frees them.
static long mappedWhileAllocated(size_t n) {
	volatile char *p = malloc(n); // volatile: the compiler may not drop the allocation
	p[0] = 1;
	long mapped = (long)mallinfo2().hblks;
	free((void *)p);
	return mapped;
}
*/
import "C"

// HostBuffersKept reports whether glibc's malloc was told, at program load, to keep freed memory
// instead of returning it to the kernel. XLA's CPU client allocates each execution's temporaries
// afresh (79 MB a step on the tiny preset) with malloc and frees them after; above glibc's mmap
// threshold each is a new mmap, so every step page-faults and zero-fills it: a fifth of a
// tiny-preset step's CPU samples were in the kernel (perf; docs/PERFORMANCE.md). The price is that
// the process keeps its peak heap until it exits. STRUCTFFN_KEEP_MALLOC=0 (read at program load)
// turns it off.
func HostBuffersKept() bool { return C.hostBuffersKept() == 1 }

// largeAllocMapped reports whether an allocation of n bytes gets its own mmap (as with glibc's
// defaults above 32 MB), for the test.
func largeAllocMapped(n int) bool { return C.mappedWhileAllocated(C.size_t(n)) > 0 }
