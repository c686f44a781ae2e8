package train

import (
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"testing"

	"github.com/gomlx/gomlx/backends"
	"github.com/gomlx/gomlx/pkg/ml/context"

	"github.com/structffn/structffn/internal/testbackend"
	"github.com/structffn/structffn/structffn/backend"
	"github.com/structffn/structffn/structffn/model"
)

func TestDeviceCandidates(t *testing.T) {
	for _, tc := range []struct {
		devices, batch, accum int
		want                  []int
	}{
		{1, 16, 1, []int{1}},
		{2, 16, 1, []int{1, 2}},
		{4, 16, 1, []int{1, 2, 4}},
		{6, 16, 1, []int{1, 2, 4}}, // powers of two only
		{8, 12, 1, []int{1, 2, 4}}, // 8 does not divide 12
		{4, 9, 1, []int{1}},        // an odd batch cannot be split
		{4, 16, 2, []int{1}},       // gradient accumulation: one device
	} {
		if got := DeviceCandidates(tc.devices, tc.batch, tc.accum); !slices.Equal(got, tc.want) {
			t.Errorf("DeviceCandidates(%d, %d, %d) = %v, want %v", tc.devices, tc.batch, tc.accum, got, tc.want)
		}
	}
}

func TestChooseDevices(t *testing.T) {
	for _, tc := range []struct {
		name string
		tps  map[int]float64
		want int
	}{
		{"one fastest", map[int]float64{1: 100, 2: 90, 4: 80}, 1},
		{"two clearly faster", map[int]float64{1: 100, 2: 130, 4: 120}, 2},
		{"four fastest", map[int]float64{1: 100, 2: 130, 4: 150}, 4},
		{"within the margin: one", map[int]float64{1: 100, 2: 114}, 1},
		{"just past the margin", map[int]float64{1: 100, 2: 116}, 2},
	} {
		var ts []DeviceTiming
		for _, k := range []int{1, 2, 4} {
			if v, ok := tc.tps[k]; ok {
				ts = append(ts, DeviceTiming{Devices: k, TokPerS: v})
			}
		}
		if got := chooseDevices(ts); got != tc.want {
			t.Errorf("%s: chose %d, want %d", tc.name, got, tc.want)
		}
	}
}

// TestResolveDevices: devices=0 on xla:cpu times every candidate (one host device per core at most),
// takes the fastest past the margin, writes it to the cache, and reads it back without timing again;
// a corrupt cache is a one-line error naming the file; other settings pass through untouched.
func TestResolveDevices(t *testing.T) {
	b := hostDevices(t, 4)
	setup := func(devices int) (*context.Context, model.Config) {
		ctx := DefaultContext()
		if _, err := ApplySettings(ctx, fmt.Sprintf("preset=tiny;devices=%d", devices)); err != nil {
			t.Fatal(err)
		}
		cfg, err := ModelConfig(ctx)
		if err != nil {
			t.Fatal(err)
		}
		return ctx, cfg
	}
	var timed []int
	fake := func(_ backends.Backend, _ string, ctx *context.Context, _ model.Config, cands []int) ([]float64, error) {
		var tps []float64
		for _, k := range cands {
			timed = append(timed, k)
			tps = append(tps, map[int]float64{1: 100, 2: 120, 4: 140}[k])
		}
		return tps, nil
	}
	cache := t.TempDir()
	ctx, cfg := setup(DevicesAuto)
	c, err := ResolveDevices(b, "xla:cpu", ctx, cfg, cache, fake)
	if err != nil {
		t.Fatal(err)
	}
	want := DeviceCandidates(min(4, runtime.NumCPU()), cfg.Batch, 1)
	if !slices.Equal(timed, want) {
		t.Errorf("timed %v, want every candidate %v", timed, want)
	}
	wantChoice := want[len(want)-1] // the fake makes more devices faster, past the margin
	if c.Devices != wantChoice || Param[int](ctx, ParamDevices) != wantChoice || c.Cached {
		t.Errorf("choice %+v, devices setting %d; want %d, freshly measured", c, Param[int](ctx, ParamDevices), wantChoice)
	}
	if s := c.String(); !strings.Contains(s, "measured now") || !strings.Contains(s, "1: 0.1k tok/s") {
		t.Errorf("choice reads %q", s)
	}

	timed = nil
	ctx, cfg = setup(DevicesAuto)
	c, err = ResolveDevices(b, "xla:cpu", ctx, cfg, cache, fake)
	if err != nil {
		t.Fatal(err)
	}
	if len(timed) != 0 || !c.Cached || c.Devices != wantChoice || Param[int](ctx, ParamDevices) != wantChoice {
		t.Errorf("second resolve timed %v, choice %+v: want %d from the cache, no timing", timed, c, wantChoice)
	}

	// Another model shape is measured afresh.
	ctx, _ = setup(DevicesAuto)
	cfg2 := cfg
	cfg2.DModel *= 2
	if _, err := ResolveDevices(b, "xla:cpu", ctx, cfg2, cache, fake); err != nil || len(timed) == 0 {
		t.Errorf("another shape: err %v, timed %v; want a measurement", err, timed)
	}

	ctx, cfg = setup(2)
	if c, err := ResolveDevices(b, "xla:cpu", ctx, cfg, cache, nil); c != nil || err != nil || Param[int](ctx, ParamDevices) != 2 {
		t.Errorf("devices=2: choice %v, err %v; want it left alone", c, err)
	}

	bad := t.TempDir()
	if err := os.WriteFile(filepath.Join(bad, "devices.json"), []byte("{not json"), 0o644); err != nil {
		t.Fatal(err)
	}
	ctx, cfg = setup(DevicesAuto)
	if _, err := ResolveDevices(b, "xla:cpu", ctx, cfg, bad, fake); err == nil || !strings.Contains(err.Error(), "devices.json") ||
		!strings.Contains(err.Error(), "delete it") || strings.Contains(err.Error(), "\n") {
		t.Errorf("corrupt cache: error %v, want one line naming the file and the fix", err)
	}
}

// TestResolveDevicesTimesRealSteps: the default timer trains the model on 1 and 2 host devices in
// turns and gives a positive rate for each, without touching the caller's context.
func TestResolveDevicesTimesRealSteps(t *testing.T) {
	b := hostDevices(t, 2)
	ctx := DefaultContext()
	if _, err := ApplySettings(ctx, "layers=2;d_model=32;heads=2;head_dim=16;ffn=128;context=32;batch=8;devices=0"); err != nil {
		t.Fatal(err)
	}
	cfg, err := ModelConfig(ctx)
	if err != nil {
		t.Fatal(err)
	}
	tps, err := timeOnDevices(b, "xla:cpu", ctx, cfg, []int{1, 2})
	if err != nil || len(tps) != 2 || !(tps[0] > 0) || !(tps[1] > 0) {
		t.Errorf("1 and 2 devices: %v tok/s, err %v", tps, err)
	}
	n := 0
	for range ctx.IterVariables() {
		n++
	}
	if n != 0 || Param[int](ctx, ParamDevices) != DevicesAuto {
		t.Errorf("timing left %d variables and devices=%d in the caller's context", n, Param[int](ctx, ParamDevices))
	}
}

// TestRunResolvesDevices: a run with devices=0 on the pure-Go backend (one device, so nothing to
// time) trains on one device and says so in its log.
func TestRunResolvesDevices(t *testing.T) {
	corpus := testCorpus(t)
	res, recs, err := runOnce(t, t.TempDir(), smallSettings(corpus, "train_steps=2;eval_every=0;devices=0"))
	if err != nil {
		t.Fatal(err)
	}
	if res.Devices != 1 || len(recs) != 2 {
		t.Errorf("devices=0 on go: ran on %d device(s), %d records; want 1 and 2", res.Devices, len(recs))
	}
}

// hostDevices is the XLA CPU backend with n host devices, finalized at the end of the test (skipped
// without the plugin).
func hostDevices(t *testing.T, n int) backends.Backend {
	t.Helper()
	testbackend.XLA(t)
	t.Setenv("XLA_FLAGS", fmt.Sprintf("%s=%d", backend.HostDevicesFlag, n))
	b, _, err := backend.New("xla:cpu")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(b.Finalize)
	return b
}
