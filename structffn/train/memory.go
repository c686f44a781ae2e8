package train

import (
	"bufio"
	"fmt"
	"os"
	"os/exec"
	"strconv"
	"strings"

	"github.com/structffn/structffn/structffn/model"
)

// checkMemory refuses a model whose attention scores of one layer alone (one micro-batch per device,
// elemBytes each) need more than the memory of the device that holds them: this machine's on a CPU backend, the first GPU's (nvidia-smi's memory.total) on
// xla:cuda. Such a run otherwise ends in a PJRT out-of-memory error of terabytes after compiling. It
// is a lower bound of the step's memory (even a step that recomputes every layer in its backward
// pass holds one layer's scores), so it never refuses a run that fits. Where the memory is not
// known (another backend, no nvidia-smi) nothing is refused.
func checkMemory(cfg model.Config, accum, devices, elemBytes int, backendName string) error {
	total, where := int64(0), ""
	switch {
	case strings.HasPrefix(backendName, "go") || strings.HasPrefix(backendName, "xla:cpu"):
		total, where = memTotal(), "this machine's"
	case strings.HasPrefix(backendName, "xla:cuda"):
		total, where = gpuMemory(), "the GPU's"
	}
	if total <= 0 || accum < 1 || devices < 1 {
		return nil
	}
	micro := cfg.Batch / accum / devices
	need := float64(micro) * float64(cfg.Heads) * float64(cfg.Context) * float64(cfg.Context) * float64(elemBytes)
	if need <= float64(total) {
		return nil
	}
	return fmt.Errorf("context %d, batch %d: one layer's attention scores alone need about %s (%d sequences × %d heads × %d² × %d bytes), more than %s %s: lower -set context or batch, or raise grad_accum",
		cfg.Context, cfg.Batch, bytesText(need), micro, cfg.Heads, cfg.Context, elemBytes, where, bytesText(float64(total)))
}

// gpuMemory is the first GPU's memory in bytes, from nvidia-smi, or 0 where unknown; tests replace it.
var gpuMemory = func() int64 {
	out, err := exec.Command("nvidia-smi", "--query-gpu=memory.total", "--format=csv,noheader,nounits").Output()
	if err != nil {
		return 0
	}
	return parseGPUMemory(string(out))
}

// parseGPUMemory reads nvidia-smi's memory.total (MiB, one GPU per line, no header) and returns the
// first GPU's in bytes, or 0.
func parseGPUMemory(out string) int64 {
	first, _, _ := strings.Cut(strings.TrimSpace(out), "\n")
	mib, err := strconv.ParseInt(strings.TrimSpace(first), 10, 64)
	if err != nil || mib <= 0 {
		return 0
	}
	return mib << 20
}

// memTotal is the machine's memory in bytes (/proc/meminfo's MemTotal), or 0 where unknown.
func memTotal() int64 {
	f, err := os.Open("/proc/meminfo")
	if err != nil {
		return 0
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		if rest, ok := strings.CutPrefix(sc.Text(), "MemTotal:"); ok {
			kb, err := strconv.ParseInt(strings.TrimSuffix(strings.TrimSpace(rest), " kB"), 10, 64)
			if err != nil {
				return 0
			}
			return kb * 1024
		}
	}
	return 0
}

// bytesText writes a byte count with a decimal unit: "15.4 TB".
func bytesText(b float64) string {
	for _, u := range []string{"B", "kB", "MB", "GB", "TB"} {
		if b < 1000 || u == "TB" {
			return fmt.Sprintf("%.3g %s", b, u)
		}
		b /= 1000
	}
	return ""
}

// outOfMemory reports whether err is a backend's allocation failure: PJRT's RESOURCE_EXHAUSTED
// status, or an "out of memory" message.
func outOfMemory(err error) bool {
	msg := strings.ToLower(err.Error())
	return strings.Contains(msg, "resource_exhausted") || strings.Contains(msg, "out of memory")
}
