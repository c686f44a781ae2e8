//go:build !linux || !cgo

package backend

// HostBuffersKept is false off Linux/glibc: malloc keeps its defaults (see malloc_linux.go).
func HostBuffersKept() bool { return false }
