package train

import (
	"errors"
	"fmt"
	"math"
	"os"
	"strings"
	"testing"

	"github.com/structffn/structffn/internal/testbackend"
	"github.com/structffn/structffn/structffn/backend"
)

// TestDataParallelMatchesOneDevice trains the same steps on 1, 2 and 4 XLA CPU host devices (each
// batch split over them by SPMD partitioning): every step's loss and the final validation loss must
// match one device's up to float32 summation order. Dense and an SGT-guided LowRank model both run.
func TestDataParallelMatchesOneDevice(t *testing.T) {
	const devices, hosts = 4, 6 // 6: not the CPU plugin's default of 4, so XLA_FLAGS is seen to work
	testbackend.XLA(t)          // skips, or fails under STRUCTFFN_REQUIRE_XLA=1, without the plugin
	t.Setenv("XLA_FLAGS", fmt.Sprintf("%s=%d", backend.HostDevicesFlag, hosts))
	b, _, err := backend.New("xla:cpu")
	if err != nil {
		t.Fatal(err)
	}
	defer b.Finalize()
	if n := b.NumDevices(); n != hosts {
		t.Fatalf("xla:cpu with XLA_FLAGS=%q has %d devices, want %d", os.Getenv("XLA_FLAGS"), n, hosts)
	}
	corpus := testCorpus(t)
	straight := map[string][]float64{} // devices=2 runs' losses, by model
	for _, model := range []string{"structure=dense", "structure=lowrank;sgt=steps;sgt_ratio=1"} {
		losses, vals := map[int][]float64{}, map[int]float64{}
		for _, n := range []int{1, 2, devices} {
			res, recs, err := runUntilOn(t, b, "xla:cpu", t.TempDir(),
				smallSettings(corpus, fmt.Sprintf("%s;train_steps=6;eval_every=3;devices=%d", model, n)), 0)
			if err != nil {
				t.Fatalf("%s devices=%d: %v", model, n, err)
			}
			for _, r := range recs {
				losses[n] = append(losses[n], r.TrainLoss)
			}
			vals[n] = res.ValLoss
			if res.Devices != n {
				t.Errorf("%s devices=%d: the training step was compiled for %d device(s)", model, n, res.Devices)
			}
		}
		if len(losses[1]) != 6 {
			t.Fatalf("%s: %d records on one device, want 6", model, len(losses[1]))
		}
		if d := losses[1][0] - losses[1][5]; d < 0.05 {
			t.Errorf("%s: loss fell only %.4f in 6 steps: the comparison would not catch a missing update", model, d)
		}
		straight[model] = losses[2]
		t.Logf("%s: losses %.5f (1 device), %.5f (2), %.5f (%d); validation %.5f, %.5f, %.5f", model,
			losses[1], losses[2], losses[devices], devices, vals[1], vals[2], vals[devices])
		for _, n := range []int{2, devices} {
			for i, l := range losses[n] {
				if math.Abs(l-losses[1][i]) > 2e-4 {
					t.Errorf("%s devices=%d step %d: loss %.6f, one device %.6f", model, n, i+1, l, losses[1][i])
				}
			}
			if math.Abs(vals[n]-vals[1]) > 2e-4 {
				t.Errorf("%s devices=%d: validation loss %.6f, one device %.6f", model, n, vals[n], vals[1])
			}
		}
	}

	// A checkpoint holds whole tensors, not shards: a run interrupted on 2 devices resumes on 1 (and
	// the other way round) and continues as the uninterrupted 2-device run.
	for _, order := range [][2]int{{2, 1}, {1, 2}} {
		const model = "structure=dense"
		dir := t.TempDir()
		settings := func(n int) string {
			return smallSettings(corpus, fmt.Sprintf("%s;train_steps=6;eval_every=3;checkpoint_every=0;devices=%d", model, n))
		}
		if _, _, err := runUntilOn(t, b, "xla:cpu", dir, settings(order[0]), 3); !errors.Is(err, ErrInterrupted) {
			t.Fatalf("interrupted run on %d devices returned %v, want ErrInterrupted", order[0], err)
		}
		_, got, err := runUntilOn(t, b, "xla:cpu", dir, settings(order[1]), 0)
		if err != nil {
			t.Fatalf("resumed on %d devices: %v", order[1], err)
		}
		if len(got) != 6 {
			t.Fatalf("resumed run has %d records, want 6", len(got))
		}
		for i := 3; i < 6; i++ {
			if math.Abs(got[i].TrainLoss-straight[model][i]) > 2e-4 {
				t.Errorf("interrupted on %d devices, resumed on %d: step %d loss %.6f, uninterrupted %.6f",
					order[0], order[1], i+1, got[i].TrainLoss, straight[model][i])
			}
		}
	}
}

// TestDataParallelErrors: settings that cannot split a batch fail with one line naming the fix.
func TestDataParallelErrors(t *testing.T) {
	corpus := testCorpus(t)
	for _, tc := range []struct{ settings, want string }{
		{"devices=2", "backend go has 1 device(s); the pure-Go backend has one device"},
		{"devices=-1", "-set devices=-1: allowed an integer from 1 up, or 0 (chosen by measurement)"},
		{"devices=3", "-set devices=3 must divide the batch (8 sequences): -set batch=9"},
		{"devices=2;grad_accum=2", "gradient accumulation is not combined with distributed steps"},
	} {
		_, _, err := runOnce(t, t.TempDir(), smallSettings(corpus, "train_steps=1;"+tc.settings))
		if err == nil || !strings.Contains(err.Error(), tc.want) || strings.Contains(err.Error(), "\n") {
			t.Errorf("%s: error %v, want one line containing %q", tc.settings, err, tc.want)
		}
	}
}
