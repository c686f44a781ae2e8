package train

import (
	"bufio"
	"fmt"
	"os"
	"strconv"
	"strings"

	"github.com/structffn/structffn/structffn/model"
)

// checkMemory refuses, on a CPU backend, a model whose attention scores alone (float32, one
// micro-batch, kept for the backward pass in every layer) need more than this machine's memory: such a
// run otherwise ends in a PJRT out-of-memory error of terabytes after compiling. It is a lower bound
// of the step's memory, so it never refuses a run that fits.
func checkMemory(cfg model.Config, accum int, backendName string) error {
	if !strings.HasPrefix(backendName, "go") && !strings.HasPrefix(backendName, "xla:cpu") {
		return nil // a GPU's memory is not known here
	}
	total := memTotal()
	if total <= 0 || accum < 1 {
		return nil
	}
	micro := cfg.Batch / accum
	need := float64(micro) * float64(cfg.Heads) * float64(cfg.Context) * float64(cfg.Context) * 4 * float64(cfg.Layers)
	if need <= float64(total) {
		return nil
	}
	return fmt.Errorf("context %d, batch %d: the attention scores alone need about %s a step (%d sequences × %d heads × %d² × 4 bytes × %d layers), more than this machine's %s: lower -set context or batch, or raise grad_accum",
		cfg.Context, cfg.Batch, bytesText(need), micro, cfg.Heads, cfg.Context, cfg.Layers, bytesText(float64(total)))
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
