package train

import (
	"bufio"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"time"

	"github.com/gomlx/gomlx/backends"
	"github.com/gomlx/gomlx/pkg/ml/context"

	"github.com/structffn/structffn/internal/atomicfile"
	"github.com/structffn/structffn/structffn/model"
)

// DevicesAuto is the devices setting (-set devices=0) that lets ResolveDevices choose the number of
// devices each batch is split over by measuring this model's training step on this machine.
const DevicesAuto = 0

// deviceMargin is how much faster than one device a split must measure to be chosen. One device is
// the plain graph (no all-reduce, less memory, and the same float32 sums on every machine), so a
// split must pay clearly: on 2 loaded cores, short timings of tiny put 2 devices 1-9% ahead of one
// by noise alone (docs/PERFORMANCE.md).
const deviceMargin = 1.15

// DeviceTiming is one candidate's measured training throughput.
type DeviceTiming struct {
	Devices int     `json:"devices"`
	TokPerS float64 `json:"tok_per_s"`
}

// DeviceChoice is what ResolveDevices chose for devices=0, and from what.
type DeviceChoice struct {
	Devices int            `json:"devices"`
	Timings []DeviceTiming `json:"timings"` // Every candidate's measurement (empty: one candidate only).
	When    time.Time      `json:"measured_at"`
	// Cache is the file the choice was read from (Cached) or written to.
	Cache  string `json:"-"`
	Cached bool   `json:"-"`
}

// String is the one-line account a run or benchmark prints: the choice, each candidate's figure,
// and where it came from.
func (c DeviceChoice) String() string {
	s := fmt.Sprintf("devices=0 (auto): %d", c.Devices)
	if len(c.Timings) == 0 {
		return s + " (the only candidate)"
	}
	var parts []string
	for _, t := range c.Timings {
		parts = append(parts, fmt.Sprintf("%d: %.1fk tok/s", t.Devices, t.TokPerS/1000))
	}
	how := "measured now"
	if c.Cached {
		how = "measured " + c.When.Format("2006-01-02 15:04")
	}
	s += fmt.Sprintf(" (%s; %s", strings.Join(parts, ", "), how)
	if c.Cache != "" {
		s += ", cached in " + c.Cache
	}
	return s + ")"
}

// DeviceCandidates lists the device counts a batch of batch sequences can be split over on a backend
// with n devices: 1, and each power of two up to n that divides the batch; only 1 with gradient
// accumulation (accum > 1), which is not combined with distributed steps.
func DeviceCandidates(n, batch, accum int) []int {
	c := []int{1}
	if accum > 1 {
		return c
	}
	for k := 2; k <= n; k *= 2 {
		if batch%k == 0 {
			c = append(c, k)
		}
	}
	return c
}

// chooseDevices picks from the timings the fastest device count if it beats one device by
// deviceMargin (15%), else one device.
func chooseDevices(timings []DeviceTiming) int {
	one, best := 0.0, DeviceTiming{Devices: 1}
	for _, t := range timings {
		if t.Devices == 1 {
			one = t.TokPerS
		}
		if t.TokPerS > best.TokPerS {
			best = t
		}
	}
	if best.Devices != 1 && best.TokPerS < deviceMargin*one {
		return 1
	}
	return best.Devices
}

// DeviceTimer measures the training throughput (tokens/s) of the model on each of the device counts
// cands; ResolveDevices's default (timeOnDevices) builds the model once per count on a fresh context
// and times their steps in turns. Tests replace it.
type DeviceTimer func(b backends.Backend, name string, ctx *context.Context, cfg model.Config, cands []int) ([]float64, error)

// ResolveDevices resolves ctx's devices setting when it is DevicesAuto (0), and sets it to the
// choice; other values are returned as they are (nil choice). The choice for this model's shape, this
// backend and this machine is read from cacheDir/devices.json when it was measured before; else
// every DeviceCandidates count is timed (on xla:cpu, up to one host device per core) (timer nil: a few training steps each from a fresh model on
// random tokens, compilation excluded), the fastest is taken if it beats one device by 15%, and the
// choice is cached (atomically).
func ResolveDevices(b backends.Backend, name string, ctx *context.Context, cfg model.Config, cacheDir string, timer DeviceTimer) (choice *DeviceChoice, err error) {
	if Param[int](ctx, ParamDevices) != DevicesAuto {
		return nil, nil
	}
	dtype, err := ComputeDtype(ctx)
	if err != nil {
		return nil, err
	}
	n := b.NumDevices()
	if strings.HasPrefix(name, "xla:cpu") {
		// Host devices beyond the cores starve each other's threads: 4 host devices on 2 busy cores
		// stalled in the gradient all-reduce until XLA aborted the process (rendezvous timeout).
		n = min(n, runtime.NumCPU())
	}
	cands := DeviceCandidates(n, cfg.Batch, Param[int](ctx, ParamGradAccum))
	choice = &DeviceChoice{Devices: 1, When: time.Now()}
	defer func() {
		if err == nil {
			ctx.SetParam(ParamDevices, choice.Devices)
		}
	}()
	if len(cands) == 1 {
		return choice, nil
	}
	key := deviceKey(name, b.NumDevices(), cfg, dtype.String())
	cache := filepath.Join(cacheDir, "devices.json")
	choice.Cache = cache
	saved, err := readDeviceCache(cache)
	if err != nil {
		return nil, err
	}
	if c, ok := saved[key]; ok {
		c.Cache, c.Cached = cache, true
		*choice = c
		return choice, nil
	}
	if timer == nil {
		timer = timeOnDevices
	}
	tps, err := timer(b, name, ctx, cfg, cands)
	if err != nil {
		return nil, fmt.Errorf("-set devices=0: timing %v devices: %w", cands, err)
	}
	for i, k := range cands {
		choice.Timings = append(choice.Timings, DeviceTiming{Devices: k, TokPerS: tps[i]})
	}
	choice.Devices = chooseDevices(choice.Timings)
	saved[key] = *choice
	data, err := json.MarshalIndent(saved, "", " ")
	if err != nil {
		return nil, err
	}
	if err := atomicfile.Write(cache, append(data, '\n')); err != nil {
		return nil, fmt.Errorf("-set devices=0: writing %s: %w (set $STRUCTFFN_CACHE to a writable directory)", cache, err)
	}
	return choice, nil
}

// timeOnDevices is the default DeviceTimer: the model of ctx's settings built once per device count,
// each on a fresh context; two warm-up steps each (compilation, first allocations); then rounds of one
// step of each in turn, at least 5 rounds and 2 seconds, so that every count sees the same load of a
// shared machine; each count's median step.
func timeOnDevices(b backends.Backend, name string, ctx *context.Context, cfg model.Config, cands []int) (tps []float64, err error) {
	defer RecoverAs(&err, "training step")
	steps := make([]*Stepper, len(cands))
	for i, k := range cands {
		fresh := FreshContext(ctx)
		fresh.SetParam(ParamDevices, k)
		if steps[i], err = NewStepper(b, name, fresh, cfg, NewAdamW(fresh, cfg.PeakLR, 1000), nil); err != nil {
			return nil, err
		}
		if _, err := TimeSteps(steps[i], 2, 0, 0); err != nil { // warm-up only: its one timed step is discarded
			return nil, err
		}
	}
	batch := RandomBatches(cfg)
	times := make([][]time.Duration, len(cands))
	start := time.Now()
	for round := 0; round < 5 || time.Since(start) < 2*time.Second*time.Duration(len(cands)); round++ {
		in, tg := batch()
		for i, st := range steps {
			t0 := time.Now()
			if _, err := st.TrainStep(false, in, tg, nil); err != nil {
				return nil, err
			}
			times[i] = append(times[i], time.Since(t0))
		}
	}
	for i := range cands {
		tps = append(tps, StepTiming{Tokens: cfg.TokensPerStep(), PerStep: times[i]}.MedianTokPerS())
	}
	return tps, nil
}

// deviceKey names what a device choice depends on: the backend and its device count, the machine
// (CPU model and cores) and the step's shape and dtype.
func deviceKey(backendName string, devices int, cfg model.Config, dtype string) string {
	return fmt.Sprintf("%s devices=%d cpu=%q cores=%d | layers=%d d=%d heads=%d/%d head_dim=%d ffn=%d vocab=%d ctx=%d batch=%d %s rank=%d nblocks=%d all=%t %s",
		backendName, devices, cpuModel(), runtime.NumCPU(), cfg.Layers, cfg.DModel, cfg.Heads, cfg.KVHeads, cfg.HeadDim,
		cfg.FFN, cfg.Vocab, cfg.Context, cfg.Batch, cfg.Structure, cfg.Rank, cfg.NBlocks, cfg.AllStructured, dtype)
}

// cpuModel is /proc/cpuinfo's first "model name" ("" elsewhere).
func cpuModel() string {
	f, err := os.Open("/proc/cpuinfo")
	if err != nil {
		return ""
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		if k, v, ok := strings.Cut(sc.Text(), ":"); ok && strings.TrimSpace(k) == "model name" {
			return strings.TrimSpace(v)
		}
	}
	return ""
}

// readDeviceCache reads the cached choices (none when the file does not exist).
func readDeviceCache(path string) (map[string]DeviceChoice, error) {
	saved := map[string]DeviceChoice{}
	data, err := os.ReadFile(path)
	if errors.Is(err, fs.ErrNotExist) {
		return saved, nil
	}
	if err == nil {
		err = json.Unmarshal(data, &saved)
	}
	if err != nil {
		return nil, fmt.Errorf("-set devices=0: reading %s: %v (delete it to measure again)", path, err)
	}
	return saved, nil
}
