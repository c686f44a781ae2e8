package train

import (
	"errors"
	"math"
	"strings"
	"testing"

	"github.com/gomlx/gomlx/backends"
	"github.com/gomlx/gomlx/pkg/core/dtypes"
	. "github.com/gomlx/gomlx/pkg/core/graph"
	"github.com/gomlx/gomlx/pkg/core/tensors"
	"github.com/gomlx/gomlx/pkg/ml/context"
	"github.com/gomlx/gomlx/pkg/ml/train/optimizers"
	"github.com/gomlx/gomlx/ui/commandline"
	"github.com/structffn/structffn/internal/testbackend"

	"github.com/structffn/structffn/structffn/linear"
	"github.com/structffn/structffn/structffn/model"
)

// goBackend is the pure-Go backend shared by the tests.
func goBackend(t testing.TB) backends.Backend { return testbackend.Go(t) }

func TestScheduleShape(t *testing.T) {
	s := Schedule{Peak: 1e-3, TotalSteps: 1000, WarmupFraction: 0.1, MinFraction: 0.1}
	tests := []struct {
		step int64
		want float64
	}{
		{0, 1e-3 / 100},       // first warm-up step
		{49, 1e-3 * 50 / 100}, // half-way up
		{99, 1e-3},            // end of warm-up reaches the peak
		{100, 1e-3},           // cosine starts at the peak
		{550, 0.55e-3},        // half-way down: (peak+min)/2
		{1000, 1e-4},          // the end: 0.1 × peak
		{5000, 1e-4},          // beyond the end stays at the floor
	}
	for _, tc := range tests {
		if got := s.At(tc.step); math.Abs(got-tc.want) > 1e-12 {
			t.Errorf("At(%d) = %g, want %g", tc.step, got, tc.want)
		}
	}
	// The graph version agrees with the host one.
	steps := []int64{0, 1, 49, 99, 100, 101, 300, 550, 999, 1000}
	exec := MustNewExec(goBackend(t), func(step *Node) *Node { return s.Graph(step) })
	for _, st := range steps {
		got := tensors.ToScalar[float32](exec.MustExec(st)[0])
		if want := s.At(st); math.Abs(float64(got)-want) > 1e-9 {
			t.Errorf("Graph(%d) = %g, At = %g", st, got, want)
		}
	}
}

func TestModelConfigDefaultsAndOverrides(t *testing.T) {
	ctx := DefaultContext()
	cfg, err := ModelConfig(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if cfg.Name != "tiny" || cfg.Structure != linear.LowRank || cfg.Rank != 32 {
		t.Errorf("default model %s %s R=%d, want tiny lowrank R=32 (32%% of d=128)", cfg.Name, cfg.Structure, cfg.Rank)
	}
	if got := TokenizerSpec(ctx, cfg); got != "bpe:512" {
		t.Errorf("default tokenizer %q, want bpe:512 (the preset's vocabulary)", got)
	}
	if _, err := commandline.ParseContextSettings(ctx, "preset=mini;structure=blockshuffle;fraction=0.625;train_steps=7;heads=8"); err != nil {
		t.Fatal(err)
	}
	cfg, err = ModelConfig(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if cfg.Name != "mini" || cfg.Structure != linear.BlockShuffle || cfg.NBlocks != 2 || cfg.Heads != 8 || cfg.KVHeads != 8 {
		t.Errorf("overridden model %+v", cfg)
	}
	if cfg.Steps() != 7 {
		t.Errorf("train_steps=7 gives %d steps", cfg.Steps())
	}
}

func TestModelConfigErrors(t *testing.T) {
	tests := []struct {
		settings string
		wantErr  string
	}{
		{"preset=huge", "allowed values are"},
		{"structure=kronecker", "allowed values are dense, lowrank"},
		{"structure=blockshuffle;fraction=0.5", "not a whole number"},
		{"structure=lowrank;rank=1000", "0 < R <= min"},
		{"layers=-1", "-set layers=-1: allowed an integer from 1 up, or 0 (the preset's)"},
		{"kv_heads=3", "multiple of kv_heads"},
		{"structure=monarch;nblocks=4", "monarch takes both a rank and a number of blocks, or neither"},
		{"structure=monarch;rank=64;nblocks=3", "nblocks must divide in, out and rank"},
		{"structure=btt;rank=2;nblocks=2", "btt takes a rank and no nblocks"},
	}
	for _, tc := range tests {
		ctx := DefaultContext()
		if _, err := commandline.ParseContextSettings(ctx, tc.settings); err != nil {
			t.Fatalf("%s: %v", tc.settings, err)
		}
		_, err := ModelConfig(ctx)
		if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
			t.Errorf("%s: error %v, want %q", tc.settings, err, tc.wantErr)
		}
	}
	if _, err := commandline.ParseContextSettings(DefaultContext(), "no_such_param=1"); err == nil {
		t.Errorf("unknown -set parameter accepted")
	}
}

// TestAdamWClipsAndSchedules runs one update of a quadratic loss and checks the learning rate, the
// recorded gradient norm and the clipped update against hand-computed values.
func TestAdamWClipsAndSchedules(t *testing.T) {
	ctx := DefaultContext()
	ctx.SetParam(ParamWeightDecay, 0.0)
	opt := NewAdamW(ctx, 0.5, 10)
	w0 := []float32{3, 4} // loss = Σ w²: grad = 2w = (6, 8), norm 10 -> clipped to norm 1
	exec := context.MustNewExec(goBackend(t), ctx, func(ctx *context.Context, g *Graph) *Node {
		w := ctx.VariableWithValue("w", w0).ValueGraph(g)
		loss := ReduceAllSum(Square(w))
		opt.UpdateGraph(ctx, g, loss)
		return loss
	})
	exec.MustExec()
	lr := tensors.ToScalar[float32](optimizers.LearningRateVar(ctx, dtypes.Float32, 0).MustValue())
	if want := opt.Schedule.At(0); math.Abs(float64(lr)-want) > 1e-7 {
		t.Errorf("learning rate of step 0: %g, want %g", lr, want)
	}
	norm := tensors.ToScalar[float32](ctx.InAbsPath("/" + optimizers.Scope).GetVariable(GradNormVariable).MustValue())
	if math.Abs(float64(norm)-10) > 1e-5 {
		t.Errorf("recorded gradient norm %g, want 10", norm)
	}
	// Adam's first step moves each weight by lr·g/(|g|+ε·...) ≈ lr in the sign of g, whatever the
	// clipping; the clipped gradient (0.6, 0.8) with ε = 1e-8 changes that by < 1e-6.
	w := tensors.MustCopyFlatData[float32](ctx.GetVariable("w").MustValue())
	for i := range w {
		if got, want := float64(w0[i]-w[i]), opt.Schedule.At(0); math.Abs(got-want) > 1e-6 {
			t.Errorf("w[%d] moved by %g, want %g", i, got, want)
		}
	}
}

func TestBackendName(t *testing.T) {
	for _, c := range []struct{ set, flag, want string }{
		{"", "", ""},
		{"backend=xla:cpu", "", "xla:cpu"},
		{"backend=xla:cpu", "go", "go"},
		{"", "go", "go"},
	} {
		ctx := DefaultContext()
		if _, err := commandline.ParseContextSettings(ctx, c.set); err != nil {
			t.Fatal(err)
		}
		if got := BackendName(ctx, c.flag); got != c.want {
			t.Errorf("-set %q -backend %q: got %q, want %q", c.set, c.flag, got, c.want)
		}
	}
}

// TestSettingsAreRangeChecked: numeric settings outside their allowed values fail with one line that
// names the setting, the value and the range; the edges, and 0 where it has a meaning, pass.
func TestSettingsAreRangeChecked(t *testing.T) {
	tests := []struct {
		set  string
		want string // "" for no error
	}{
		{"learning_rate=-1", "-set learning_rate=-1: allowed a number from 1e-12 up, or 0 (the preset's)"},
		{"train_steps=-5", "-set train_steps=-5: allowed an integer from 1 up, or 0 (the preset's token budget)"},
		{"rank=-4", "-set rank=-4: allowed an integer from 1 up, or 0 (from fraction)"},
		{"warmup_fraction=2", "-set warmup_fraction=2: allowed a number from 0 to 1"},
		{"eval_every=-1", "-set eval_every=-1: allowed an integer from 1 up, or 0 (only at the end)"},
		{"checkpoint_every=-1", "-set checkpoint_every=-1: allowed"},
		{"grad_clip=-1", "-set grad_clip=-1: allowed a number from 1e-12 up, or 0 (off)"},
		{"log_every=0", "-set log_every=0: allowed an integer from 1 up"},
		{"val_fraction=0", "-set val_fraction=0: allowed"},
		{"fraction=0", "-set fraction=0: allowed"},
		{"adam_beta1=1", "-set adam_beta1=1: allowed"},
		{"grad_accum=0", "-set grad_accum=0: allowed"},
		{"seed=-1", "-set seed=-1: allowed"},
		{"grad_clip=0;eval_every=0;checkpoint_every=0;warmup_fraction=0;warmup_fraction=1", ""},
		{"learning_rate=1e30;weight_decay=0;min_lr_fraction=1", ""},
	}
	for _, tc := range tests {
		t.Run(tc.set, func(t *testing.T) {
			ctx := DefaultContext()
			if _, err := commandline.ParseContextSettings(ctx, tc.set); err != nil {
				t.Fatal(err)
			}
			_, err := ModelConfig(ctx)
			if tc.want == "" {
				if err != nil {
					t.Errorf("error %v, want none", err)
				}
				return
			}
			if err == nil || !strings.HasPrefix(err.Error(), tc.want) || strings.Contains(err.Error(), "\n") {
				t.Errorf("error %v, want one line starting %q", err, tc.want)
			}
		})
	}
}

// TestCheckMemory: a context whose attention scores cannot fit in this machine's memory is refused on a
// CPU backend with one line naming the sizes; the presets pass; GPUs are not judged.
func TestCheckMemory(t *testing.T) {
	if memTotal() == 0 {
		t.Skip("no /proc/meminfo")
	}
	h200 := int64(143771) << 20 // nvidia-smi's memory.total of an H200, in bytes
	defer func(f func() int64) { gpuMemory = f }(gpuMemory)
	tiny, err := model.Preset("tiny")
	if err != nil {
		t.Fatal(err)
	}
	long := tiny
	long.Context = 100000
	s, err := model.Preset("s")
	if err != nil {
		t.Fatal(err)
	}
	s8k := s
	s8k.Context = 8192 // 512 × 12 × 8192² × 2 bytes = 825 GB of scores: 103 GB on each of 8 GPUs
	for _, c := range []struct {
		name                  string
		cfg                   model.Config
		accum, devices, bytes int
		backend               string
		gpu                   int64  // what nvidia-smi reports (0: not there)
		want                  string // in the error; "" for none
	}{
		{"tiny on the CPU", tiny, 1, 1, 4, "xla:cpu", 0, ""},
		{"context 100000 on the CPU", long, 1, 1, 4, "go:ops_sequential", 0, "context 100000, batch 16: one layer's attention scores alone need about"},
		{"context 100000 on a GPU without nvidia-smi", long, 1, 1, 4, "xla:cuda", 0, ""},
		{"context 100000 on an H200", long, 1, 1, 2, "xla:cuda", h200, "× 2 bytes), more than the GPU's 151 GB"},
		{"s on an H200", s, 1, 1, 2, "xla:cuda", h200, ""},
		{"s at context 8192 on one H200", s8k, 1, 1, 2, "xla:cuda", h200, "(512 sequences × 12 heads × 8192² × 2 bytes)"},
		{"s at context 8192 over 8 H200s", s8k, 1, 8, 2, "xla:cuda", h200, ""},
		{"context 100000 split over 16 micro-batches is still too big", long, 16, 1, 4, "xla:cpu", 0, "(1 sequences ×"},
	} {
		t.Run(c.name, func(t *testing.T) {
			gpuMemory = func() int64 { return c.gpu }
			err := checkMemory(c.cfg, c.accum, c.devices, c.bytes, c.backend)
			switch {
			case c.want == "" && err != nil:
				t.Errorf("refused: %v", err)
			case c.want != "" && (err == nil || !strings.Contains(err.Error(), c.want) || strings.Contains(err.Error(), "\n")):
				t.Errorf("error %v, want one line with %q", err, c.want)
			}
		})
	}
}

func TestParseGPUMemory(t *testing.T) {
	for _, c := range []struct {
		out  string
		want int64
	}{
		{"143771\n", 143771 << 20},
		{"81920\n81920\n", 81920 << 20},
		{"[N/A]\n", 0},
		{"", 0},
	} {
		if got := parseGPUMemory(c.out); got != c.want {
			t.Errorf("parseGPUMemory(%q) = %d, want %d", c.out, got, c.want)
		}
	}
}

func TestOutOfMemory(t *testing.T) {
	for _, c := range []struct {
		msg  string
		want bool
	}{
		{"RESOURCE_EXHAUSTED: Out of memory while trying to allocate 16492674416640 bytes.", true},
		{"executing step: PJRT error: out of memory allocating buffer", true},
		{"INVALID_ARGUMENT: shapes do not match", false},
		{"loss is NaN at step 3", false},
	} {
		if got := outOfMemory(errors.New(c.msg)); got != c.want {
			t.Errorf("outOfMemory(%q) = %v, want %v", c.msg, got, c.want)
		}
	}
}

func TestApplySettingsNamesTheMistake(t *testing.T) {
	for _, c := range []struct{ set, want string }{
		{"learning_rate=fast", `-set learning_rate=fast: "fast" is not a number (as in 3e-4, 0.5, 2)`},
		{"learning_rate=.5", `".5" is not a number`},
		{"train_steps=1.5", `-set train_steps=1.5: "1.5" is not an integer`},
		{"lerning_rate=3e-4", `-set lerning_rate=3e-4: no setting "lerning_rate" (did you mean learning_rate?); structffn train -params lists them`},
		{"zzz=1", `no setting "zzz"; structffn train -params lists them`},
		{"rank", `-set "rank": each setting is name=value, settings separated by ';'`},
		{"rank=1=2", `each setting is name=value`},
	} {
		_, err := ApplySettings(DefaultContext(), c.set)
		if err == nil || !strings.Contains(err.Error(), c.want) || strings.Contains(err.Error(), "\n") {
			t.Errorf("%s: error %v, want one line with %q", c.set, err, c.want)
		}
	}
	ctx := DefaultContext()
	set, err := ApplySettings(ctx, "learning_rate=3e-4;train_steps=1_000;structure=blockdense;;")
	if err != nil {
		t.Fatal(err)
	}
	if len(set) != 3 || Param[float64](ctx, ParamLearningRate) != 3e-4 || Param[int](ctx, ParamTrainSteps) != 1000 || Param[string](ctx, ParamStructure) != "blockdense" {
		t.Errorf("set %v: learning_rate %v, train_steps %v, structure %v", set, Param[float64](ctx, ParamLearningRate), Param[int](ctx, ParamTrainSteps), Param[string](ctx, ParamStructure))
	}
}
