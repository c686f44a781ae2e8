package train

import (
	"bufio"
	"bytes"
	stdctx "context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"

	"github.com/gomlx/gomlx/backends"
	"github.com/gomlx/gomlx/pkg/core/dtypes"
	. "github.com/gomlx/gomlx/pkg/core/graph"
	"github.com/gomlx/gomlx/pkg/core/tensors"
	"github.com/gomlx/gomlx/pkg/ml/context"
	"github.com/gomlx/gomlx/ui/commandline"

	"github.com/structffn/structffn/internal/testbackend"
	"github.com/structffn/structffn/internal/testcorpus"
	"github.com/structffn/structffn/structffn/data"
	"github.com/structffn/structffn/structffn/guide"
	"github.com/structffn/structffn/structffn/linear"
	"github.com/structffn/structffn/structffn/model"
)

// testCorpus writes a small deterministic English-like corpus and returns its path.
func testCorpus(t *testing.T) string {
	return testcorpus.Write(t, 9, "the a model layer matrix rank block shuffle dense low train loss falls with every step of guided structured feed forward", 60_000)
}

// smallSettings is a model and run small enough for the pure-Go backend in a few seconds.
func smallSettings(corpus string, extra string) string {
	return "layers=2;d_model=32;heads=2;head_dim=16;ffn=128;context=32;batch=8;tokenizer=byte;val_fraction=0.1;" +
		"learning_rate=0.003;eval_batches=2;log_every=1;corpus=file:" + corpus + ";" + extra
}

func runOnce(t *testing.T, dir, settings string) (*Result, []Record, error) {
	return runUntil(t, dir, settings, 0)
}

// runUntil runs like runOnce but cancels the run (as Ctrl-C does) after stopAfter steps, if > 0.
func runUntil(t *testing.T, dir, settings string, stopAfter int64) (*Result, []Record, error) {
	t.Helper()
	return runUntilOn(t, goBackend(t), "go", dir, settings, stopAfter)
}

// runUntilOn is runUntil on backend b (named name).
func runUntilOn(t *testing.T, b backends.Backend, name, dir, settings string, stopAfter int64) (*Result, []Record, error) {
	t.Helper()
	var log bytes.Buffer
	goctx, cancel := stdctx.WithCancel(stdctx.Background())
	defer cancel()
	res, err := Run(goctx, DefaultContext(), Options{
		OutDir: dir, Backend: b, BackendName: name, CacheDir: filepath.Join(t.TempDir(), "cache"),
		Settings: settings, Log: &log,
		OnRecord: func(r Record) {
			if stopAfter > 0 && r.Step >= stopAfter {
				cancel()
			}
		},
	})
	return res, readRecords(t, dir), err
}

func readRecords(t *testing.T, dir string) []Record {
	t.Helper()
	f, err := os.Open(filepath.Join(dir, "metrics.jsonl"))
	if err != nil {
		return nil
	}
	defer f.Close()
	var recs []Record
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		var r Record
		if err := json.Unmarshal(sc.Bytes(), &r); err != nil {
			t.Fatalf("metrics.jsonl line %q: %v", sc.Text(), err)
		}
		recs = append(recs, r)
	}
	return recs
}

func TestShortRunDecreasesLoss(t *testing.T) {
	dir := t.TempDir()
	res, recs, err := runOnce(t, dir, smallSettings(testCorpus(t), "train_steps=40;eval_every=20"))
	if err != nil {
		t.Fatal(err)
	}
	if res.Steps != 40 || len(recs) != 40 {
		t.Fatalf("%d steps, %d records; want 40 and 40", res.Steps, len(recs))
	}
	first, last := recs[0], recs[len(recs)-1]
	if !(last.TrainLoss < first.TrainLoss-0.5) {
		t.Errorf("train loss %.3f -> %.3f: did not fall", first.TrainLoss, last.TrainLoss)
	}
	if recs[19].ValLoss == nil || last.ValLoss == nil || !(*last.ValLoss < *recs[19].ValLoss) {
		t.Errorf("validation loss at steps 20 and 40: %v, %v: want both, falling", recs[19].ValLoss, last.ValLoss)
	}
	if last.Tokens != 40*8*32 || last.TrainFLOPs <= 0 || last.TokPerS <= 0 {
		t.Errorf("last record %+v lacks tokens / FLOPs / throughput", last)
	}
	for _, name := range []string{"config.json", "metrics.jsonl", "checkpoints"} {
		if _, err := os.Stat(filepath.Join(dir, name)); err != nil {
			t.Errorf("run directory lacks %s: %v", name, err)
		}
	}
	var cfg map[string]any
	raw, _ := os.ReadFile(filepath.Join(dir, "config.json"))
	if err := json.Unmarshal(raw, &cfg); err != nil {
		t.Fatal(err)
	}
	for _, key := range []string{"model", "params", "backend", "corpus", "tokenizer", "seed", "git_revision"} {
		if _, ok := cfg[key]; !ok {
			t.Errorf("config.json lacks %q", key)
		}
	}
}

func TestResumeContinuesIdentically(t *testing.T) {
	corpus := testCorpus(t)
	straight := t.TempDir()
	_, want, err := runOnce(t, straight, smallSettings(corpus, "train_steps=16;eval_every=0;checkpoint_every=0"))
	if err != nil {
		t.Fatal(err)
	}
	// The same run interrupted after step 8 (as Ctrl-C does), then run again: it resumes.
	resumed := t.TempDir()
	if _, _, err := runUntil(t, resumed, smallSettings(corpus, "train_steps=16;eval_every=0;checkpoint_every=0"), 8); !errors.Is(err, ErrInterrupted) {
		t.Fatalf("interrupted run returned %v, want ErrInterrupted", err)
	}
	_, got, err := runOnce(t, resumed, smallSettings(corpus, "train_steps=16;eval_every=0;checkpoint_every=0"))
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != 16 {
		t.Fatalf("resumed run has %d records, want 16", len(got))
	}
	for i := 8; i < 16; i++ {
		if got[i].Step != want[i].Step || got[i].TrainLoss != want[i].TrainLoss {
			t.Errorf("step %d: resumed loss %.7f, uninterrupted %.7f", want[i].Step, got[i].TrainLoss, want[i].TrainLoss)
		}
	}
}

// TestResumeAfterAKillLogsEachStepOnce: a session killed after logging steps past its last checkpoint
// (here: the newest checkpoint removed, as a kill before it was written leaves things) resumes from the
// older checkpoint; metrics.jsonl then holds every step once, and elapsed_s counts both sessions.
func TestResumeAfterAKillLogsEachStepOnce(t *testing.T) {
	corpus := testCorpus(t)
	dir := t.TempDir()
	if _, _, err := runOnce(t, dir, smallSettings(corpus, "train_steps=10;eval_every=0;checkpoint_every=4")); err != nil {
		t.Fatal(err)
	}
	first, err := ReadMetrics(dir)
	if err != nil {
		t.Fatal(err)
	}
	files, _ := filepath.Glob(filepath.Join(dir, "checkpoints", "checkpoint-*"))
	slices.Sort(files)
	newest := strings.TrimSuffix(strings.TrimSuffix(files[len(files)-1], ".json"), ".bin")
	for _, f := range files {
		if strings.HasPrefix(f, newest) {
			if err := os.Remove(f); err != nil {
				t.Fatal(err)
			}
		}
	}
	// A line cut short by the kill, too.
	f, err := os.OpenFile(filepath.Join(dir, "metrics.jsonl"), os.O_APPEND|os.O_WRONLY, 0)
	if err != nil {
		t.Fatal(err)
	}
	f.WriteString(`{"step":11,"tok`)
	f.Close()
	if _, _, err := runOnce(t, dir, smallSettings(corpus, "train_steps=12;eval_every=0;checkpoint_every=4")); err != nil {
		t.Fatal(err)
	}
	recs, err := ReadMetrics(dir)
	if err != nil {
		t.Fatal(err)
	}
	var steps []int64
	for _, r := range recs {
		steps = append(steps, r.Step)
	}
	if want := []int64{1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12}; !slices.Equal(steps, want) {
		t.Fatalf("steps in metrics.jsonl %v, want %v", steps, want)
	}
	if recs[8].ElapsedS <= first[7].ElapsedS || recs[11].ElapsedS <= recs[8].ElapsedS {
		t.Errorf("elapsed_s does not accumulate over sessions: step 8 %.3f (first session), 9 %.3f, 12 %.3f",
			first[7].ElapsedS, recs[8].ElapsedS, recs[11].ElapsedS)
	}
}

// TestResumeSkipsACheckpointCutShort: a save killed half-way leaves the newest checkpoint's values file
// cut short (or its index empty); the next start says so in one line, moves it aside, resumes from
// the one before, and ends where an uninterrupted run ends.
func TestResumeSkipsACheckpointCutShort(t *testing.T) {
	corpus := testCorpus(t)
	settings := smallSettings(corpus, "train_steps=12;eval_every=0;checkpoint_every=4")
	_, want, err := runOnce(t, t.TempDir(), settings)
	if err != nil {
		t.Fatal(err)
	}
	for _, damage := range []string{"bin", "json"} {
		t.Run(damage, func(t *testing.T) {
			dir := t.TempDir()
			// The same run stopped after step 10 (checkpoints at steps 4, 8 and 10), the last save then damaged.
			if _, _, err := runUntil(t, dir, settings, 10); !errors.Is(err, ErrInterrupted) {
				t.Fatalf("stopped run returned %v, want ErrInterrupted", err)
			}
			files, _ := filepath.Glob(filepath.Join(dir, "checkpoints", "checkpoint-*."+damage))
			slices.Sort(files)
			newest := files[len(files)-1]
			raw, _ := os.ReadFile(newest)
			if damage == "json" {
				raw = nil // as os.Create leaves it when the kill comes before the index is written
			}
			if err := os.WriteFile(newest, raw[:len(raw)/2], 0o644); err != nil {
				t.Fatal(err)
			}
			var log bytes.Buffer
			res, err := Run(stdctx.Background(), DefaultContext(), Options{OutDir: dir, Backend: goBackend(t), BackendName: "go", Settings: settings, Log: &log})
			if err != nil {
				t.Fatal(err)
			}
			if !strings.Contains(log.String(), "skipped") || !strings.Contains(log.String(), "moved to") || !strings.Contains(log.String(), "12 steps (4 to go)") {
				t.Errorf("log does not say which checkpoint was skipped and that the run resumed at step 8:\n%s", log.String())
			}
			if _, err := os.Stat(filepath.Join(dir, "checkpoints", "unreadable", filepath.Base(newest))); err != nil {
				t.Errorf("the damaged checkpoint was not kept aside: %v", err)
			}
			got, err := ReadMetrics(dir)
			if err != nil {
				t.Fatal(err)
			}
			if len(got) != 12 || got[11].TrainLoss != want[11].TrainLoss || res.FinalLoss != want[11].TrainLoss {
				t.Errorf("%d records, final loss %.7f, want 12 records ending at %.7f", len(got), got[len(got)-1].TrainLoss, want[11].TrainLoss)
			}
		})
	}
}

// TestRunDirectoryIsLocked: while one training runs in a directory, a second one there fails with a
// clear error and writes nothing; after the first ends, and with a lock file left by a dead process,
// training there works.
func TestRunDirectoryIsLocked(t *testing.T) {
	corpus := testCorpus(t)
	dir := t.TempDir()
	goctx, cancel := stdctx.WithCancel(stdctx.Background())
	started, done := make(chan struct{}), make(chan error, 1)
	var once sync.Once
	go func() {
		_, err := Run(goctx, DefaultContext(), Options{OutDir: dir, Backend: goBackend(t), BackendName: "go", Log: io.Discard,
			Settings: smallSettings(corpus, "train_steps=100000;eval_every=0;checkpoint_every=0"),
			OnRecord: func(Record) { once.Do(func() { close(started) }) }})
		done <- err
	}()
	<-started
	before, _ := os.ReadFile(filepath.Join(dir, "config.json"))
	_, err := Run(stdctx.Background(), DefaultContext(), Options{OutDir: dir, Backend: goBackend(t), BackendName: "go", Log: io.Discard,
		Settings: smallSettings(corpus, "train_steps=3;eval_every=0;d_model=64")})
	if err == nil || !strings.Contains(err.Error(), "in use by another training (pid ") || strings.Contains(err.Error(), "\n") {
		t.Errorf("second training: error %v, want one line saying the directory is in use", err)
	}
	if after, _ := os.ReadFile(filepath.Join(dir, "config.json")); !bytes.Equal(before, after) {
		t.Error("the second training rewrote config.json")
	}
	cancel()
	if err := <-done; !errors.Is(err, ErrInterrupted) {
		t.Fatalf("first training: %v", err)
	}
	// The lock is free again once the first has ended (here: starting the directory over).
	if _, err := Run(stdctx.Background(), DefaultContext(), Options{OutDir: dir, Backend: goBackend(t), BackendName: "go", Log: io.Discard,
		Settings: smallSettings(corpus, "train_steps=2;eval_every=0"), Fresh: true}); err != nil {
		t.Errorf("after the first training ended: %v", err)
	}
	// A lock file left by a process that died holds no lock: the kernel dropped it.
	stale := t.TempDir()
	if err := os.WriteFile(filepath.Join(stale, lockName), []byte("pid 999999, since 2000-01-01T00:00:00Z"), 0o644); err != nil {
		t.Fatal(err)
	}
	if _, _, err := runOnce(t, stale, smallSettings(corpus, "train_steps=2;eval_every=0")); err != nil {
		t.Errorf("with a stale lock file: %v", err)
	}
}

// TestResumeRefusesAnotherModel: a finished run given settings of another model shape is refused before
// anything in its directory changes; given its own settings, it says there is nothing to train and
// reports where it stands.
func TestResumeRefusesAnotherModel(t *testing.T) {
	corpus := testCorpus(t)
	dir := t.TempDir()
	if _, _, err := runOnce(t, dir, smallSettings(corpus, "train_steps=2;eval_every=0")); err != nil {
		t.Fatal(err)
	}
	before, _ := os.ReadFile(filepath.Join(dir, "config.json"))
	metricsBefore, _ := os.ReadFile(filepath.Join(dir, "metrics.jsonl"))
	for _, tc := range []struct{ set, want string }{
		{"d_model=64", "d_model 32 → 64"},
		{"structure=blockdense", "structure lowrank → blockdense"},
		{"layers=3;ffn=256", "layers 2 → 3, ffn 128 → 256"},
	} {
		_, _, err := runOnce(t, dir, smallSettings(corpus, "train_steps=2;eval_every=0;"+tc.set))
		if err == nil || !strings.Contains(err.Error(), "holds a checkpoint of another model (") || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("-set %s: error %v, want the difference %q named", tc.set, err, tc.want)
		}
	}
	after, _ := os.ReadFile(filepath.Join(dir, "config.json"))
	metricsAfter, _ := os.ReadFile(filepath.Join(dir, "metrics.jsonl"))
	if !bytes.Equal(before, after) || !bytes.Equal(metricsBefore, metricsAfter) {
		t.Error("a refused start changed config.json or metrics.jsonl")
	}
	var log bytes.Buffer
	res, err := Run(stdctx.Background(), DefaultContext(), Options{OutDir: dir, Backend: goBackend(t), BackendName: "go", Log: &log,
		Settings: smallSettings(corpus, "train_steps=2;eval_every=0")})
	if err != nil || res.Steps != 2 || !(res.ValLoss > 0) || !strings.Contains(log.String(), "nothing to train") {
		t.Errorf("finished run started again: %+v, %v, log:\n%s", res, err, log.String())
	}
}

func TestCorruptCheckpointIsReportedAndKept(t *testing.T) {
	corpus := testCorpus(t)
	dir := t.TempDir()
	if _, _, err := runOnce(t, dir, smallSettings(corpus, "train_steps=2;eval_every=0")); err != nil {
		t.Fatal(err)
	}
	files, _ := filepath.Glob(filepath.Join(dir, "checkpoints", "*"))
	var truncated string
	var before []byte
	for _, f := range files {
		if strings.HasSuffix(f, ".json") {
			before, _ = os.ReadFile(f)
			truncated = f
			if err := os.WriteFile(f, before[:len(before)/2], 0o644); err != nil {
				t.Fatal(err)
			}
			before = before[:len(before)/2]
			break
		}
	}
	if truncated == "" {
		t.Fatalf("no checkpoint written in %v", files)
	}
	_, _, err := runOnce(t, dir, smallSettings(corpus, "train_steps=4;eval_every=0"))
	if err == nil || !strings.Contains(err.Error(), "unreadable") || strings.Contains(err.Error(), "\n") {
		t.Fatalf("error %v, want one line saying the checkpoint is unreadable", err)
	}
	after, _ := os.ReadFile(truncated)
	if !bytes.Equal(before, after) {
		t.Errorf("the corrupt checkpoint was modified")
	}
}

func TestNaNLossStopsWithClearError(t *testing.T) {
	_, _, err := runOnce(t, t.TempDir(), smallSettings(testCorpus(t), "train_steps=30;eval_every=0;learning_rate=1e30;grad_clip=0"))
	if err == nil || !strings.Contains(err.Error(), "loss is") || !strings.Contains(err.Error(), "at step") {
		t.Fatalf("error %v, want the NaN/Inf step named", err)
	}
	fmt.Println(err)
}

func TestBadSettingsFailClearly(t *testing.T) {
	corpus := testCorpus(t)
	tests := []struct {
		name, settings, want string
	}{
		{"blockshuffle fraction", "preset=tiny;structure=blockshuffle;fraction=0.5", "not a whole number"},
		{"missing corpus", smallSettings(filepath.Join(t.TempDir(), "missing.txt"), "train_steps=1"), "missing.txt"},
		{"unknown structure", smallSettings(corpus, "structure=nosuch"), "nosuch"},
		{"blockdense blocks without a rank", smallSettings(corpus, "structure=blockdense;nblocks=4"), "blockdense takes both a rank and a number of blocks"},
		{"context longer than the validation split", smallSettings(corpus, "context=100000"), ""},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			dir := filepath.Join(t.TempDir(), "run")
			_, _, err := runOnce(t, dir, tc.settings)
			if err == nil || strings.Contains(err.Error(), "\n") || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("error %v, want one line naming %q", err, tc.want)
			}
			if _, serr := os.Stat(dir); !os.IsNotExist(serr) {
				t.Errorf("the failed run left %s behind (%v)", dir, serr)
			}
		})
	}
	// A directory that existed before is left in place.
	dir := t.TempDir()
	if _, _, err := runOnce(t, dir, smallSettings(corpus, "structure=nosuch")); err == nil {
		t.Fatal("structure=nosuch: no error")
	}
	if _, err := os.Stat(dir); err != nil {
		t.Errorf("an existing directory was removed: %v", err)
	}
}

// TestValidationLossIsOfTheCurrentModel evaluates twice with training in between: each value must be
// the mean loss of the model at that step over the validation batches (GoMLX's EvalStep alone keeps a
// running mean across calls, so a second evaluation would average in the first).
func TestValidationLossIsOfTheCurrentModel(t *testing.T) {
	dir := t.TempDir()
	corpus := testCorpus(t)
	_, recs, err := runOnce(t, dir, smallSettings(corpus, "train_steps=6;eval_every=3"))
	if err != nil {
		t.Fatal(err)
	}
	var vals []float64
	for _, r := range recs {
		if r.ValLoss != nil {
			vals = append(vals, *r.ValLoss)
		}
	}
	if len(vals) != 2 {
		t.Fatalf("got %d validation losses, want 2", len(vals))
	}
	// The final model's validation loss, recomputed from the checkpoint without the trainer.
	l, err := Load(dir, filepath.Join(t.TempDir(), "cache"))
	if err != nil {
		t.Fatal(err)
	}
	ds, _, err := data.Prepare("file:"+corpus, "byte", filepath.Join(t.TempDir(), "cache"), 0.1)
	if err != nil {
		t.Fatal(err)
	}
	in, tg := ds.ValBatches(l.Config.Batch, l.Config.Context, 2)
	exec := context.MustNewExec(goBackend(t), l.Ctx, func(ctx *context.Context, tokens, targets *Node) *Node {
		return model.Loss(ctx, l.Config, tokens, targets, model.Options{})
	})
	var sum float64
	for i := range in {
		out := exec.MustExec(batchTensor(in[i], l.Config), batchTensor(tg[i], l.Config))
		sum += float64(tensors.ToScalar[float32](out[0]))
	}
	want := sum / float64(len(in))
	if math.Abs(vals[1]-want) > 1e-5 {
		t.Fatalf("final validation loss %.6f, but the final model's is %.6f (first evaluation %.6f)", vals[1], want, vals[0])
	}
}

// TestSelfGuidedRuns trains with SGT in both modes: the guided steps run the guided graph (guide
// weights exist and move), fixed-FLOPs mode trains N(1+p) steps, and train_flops include the guide.
func TestSelfGuidedRuns(t *testing.T) {
	corpus := testCorpus(t)
	for _, c := range []struct {
		mode      string
		wantSteps int64
	}{{"steps", 8}, {"flops", 0}} {
		t.Run(c.mode, func(t *testing.T) {
			dir := t.TempDir()
			res, recs, err := runOnce(t, dir, smallSettings(corpus, "train_steps=8;eval_every=0;sgt="+c.mode))
			if err != nil {
				t.Fatal(err)
			}
			plain, _, err := runOnce(t, t.TempDir(), smallSettings(corpus, "train_steps=8;eval_every=0"))
			if err != nil {
				t.Fatal(err)
			}
			if c.mode == "steps" && res.Steps != 8 {
				t.Errorf("sgt=steps trained %d steps, want 8", res.Steps)
			}
			if c.mode == "flops" && res.Steps <= 8 {
				t.Errorf("sgt=flops trained %d steps, want more than the 8 base steps (replay)", res.Steps)
			}
			last := recs[len(recs)-1]
			base := float64(res.Config.TrainFLOPsPerToken()) * float64(res.Config.TokensPerStep()) * float64(res.Steps)
			if last.TrainFLOPs <= base {
				t.Errorf("train_flops %g does not include the guide (structured alone %g)", last.TrainFLOPs, base)
			}
			if math.IsNaN(res.FinalLoss) || res.FinalLoss == plain.FinalLoss {
				t.Errorf("guided final loss %g vs unguided %g: the guide changed nothing", res.FinalLoss, plain.FinalLoss)
			}
			l, err := Load(dir, filepath.Join(t.TempDir(), "cache"))
			if err != nil {
				t.Fatal(err)
			}
			guides := 0
			l.Ctx.EnumerateVariables(func(v *context.Variable) {
				if v.Name() == "guide" {
					guides++
				}
			})
			if guides != 2 { // block 1's fc1 and fc2 (block 0's FFN is dense)
				t.Errorf("checkpoint has %d guide matrices, want 2", guides)
			}
		})
	}
	if _, _, err := runOnce(t, t.TempDir(), smallSettings(corpus, "train_steps=2;sgt=always")); err == nil || !strings.Contains(err.Error(), "allowed values are off, steps, flops") {
		t.Errorf("bad sgt mode: %v", err)
	}
	if _, _, err := runOnce(t, t.TempDir(), smallSettings(corpus, "train_steps=2;sgt=steps;structure=dense")); err == nil || !strings.Contains(err.Error(), "needs a structured FFN") {
		t.Errorf("sgt on a dense model: %v", err)
	}
}

// TestBFloat16Compute trains a few steps with bf16 activations on each backend: losses stay finite
// and within bf16 rounding of the float32 run's, and the weights stay float32 masters.
func TestBFloat16Compute(t *testing.T) {
	for _, nb := range testbackend.All {
		t.Run(nb.Name, func(t *testing.T) {
			b := nb.Backend(t)
			losses := map[string][]float64{}
			for _, dtype := range []string{"float32", "bfloat16"} {
				ctx := DefaultContext()
				_, err := Run(stdctx.Background(), ctx, Options{OutDir: t.TempDir(), Backend: b, BackendName: nb.Name, CacheDir: filepath.Join(t.TempDir(), "cache"),
					Settings: smallSettings(testCorpus(t), "train_steps=3;eval_every=0;dtype="+dtype), Log: io.Discard,
					OnRecord: func(r Record) { losses[dtype] = append(losses[dtype], r.TrainLoss) }})
				if err != nil {
					t.Fatal(err)
				}
				for v := range ctx.IterVariables() {
					if v.Shape().DType != dtypes.Float32 && v.Shape().DType != dtypes.Int64 {
						t.Errorf("%s: variable %s is %s, want float32 masters", dtype, v.ScopeAndName(), v.Shape().DType)
					}
				}
			}
			for i, l := range losses["bfloat16"] {
				if math.IsNaN(l) || math.Abs(l-losses["float32"][i]) > 0.05 {
					t.Errorf("step %d: bf16 loss %.4f, float32 %.4f", i+1, l, losses["float32"][i])
				}
			}
		})
	}
	ctx := DefaultContext()
	ctx.SetParam(ParamDtype, "fp8")
	if _, err := ComputeDtype(ctx); err == nil || !strings.Contains(err.Error(), "allowed values are float32, bfloat16") {
		t.Errorf("dtype=fp8: %v", err)
	}
}

// TestGradAccumMatchesFullBatch trains the same steps with the batch in one piece and in 2 and 4
// micro-batches: GoMLX averages the micro-batches' gradients, so every step's loss (after the
// first update) must match the full batch's up to float32 rounding.
func TestGradAccumMatchesFullBatch(t *testing.T) {
	losses := map[int][]float64{}
	for _, accum := range []int{1, 2, 4} {
		_, err := Run(stdctx.Background(), DefaultContext(), Options{OutDir: t.TempDir(), Backend: goBackend(t), BackendName: "go",
			CacheDir: filepath.Join(t.TempDir(), "cache"), Log: io.Discard,
			Settings: smallSettings(testCorpus(t), fmt.Sprintf("train_steps=4;eval_every=0;grad_accum=%d", accum)),
			OnRecord: func(r Record) { losses[accum] = append(losses[accum], r.TrainLoss) }})
		if err != nil {
			t.Fatal(err)
		}
	}
	for _, accum := range []int{2, 4} {
		for i, l := range losses[accum] {
			if math.Abs(l-losses[1][i]) > 2e-4 {
				t.Errorf("grad_accum=%d step %d: loss %.6f, full batch %.6f", accum, i+1, l, losses[1][i])
			}
		}
	}
	_, err := Run(stdctx.Background(), DefaultContext(), Options{OutDir: t.TempDir(), Backend: goBackend(t), BackendName: "go",
		CacheDir: filepath.Join(t.TempDir(), "cache"), Log: io.Discard, Settings: smallSettings(testCorpus(t), "train_steps=1;grad_accum=3")})
	if err == nil || !strings.Contains(err.Error(), "grad_accum=3 must be a positive divisor of the batch (8 sequences)") {
		t.Errorf("grad_accum=3 with batch 8: %v", err)
	}
}

// TestSGTCompilesABoundedSetOfGraphs trains SGT on a model with 10 guided matrices (2^10 skip
// patterns): the run compiles the guided and the plain training graph and the evaluation graph, no
// more, whatever the draws; with sgt_plain_graph=never the guided graph trains every step (2 graphs).
// train_flops counts the guides at their expected cost, computed_flops what the guided graph
// computed (every guide on each of its steps), and a plain run's two agree.
func TestSGTCompilesABoundedSetOfGraphs(t *testing.T) {
	corpus := testCorpus(t)
	settings := strings.Replace(smallSettings(corpus, "train_steps=24;eval_every=12;log_every=12;sgt=steps"), "layers=2", "layers=6", 1)
	for _, c := range []struct {
		policy   string
		compiles int
	}{{"always", 3}, {"never", 2}} {
		res, recs, err := runOnce(t, t.TempDir(), settings+";sgt_plain_graph="+c.policy)
		if err != nil {
			t.Fatal(err)
		}
		if res.Compiles != c.compiles {
			t.Errorf("sgt_plain_graph=%s: %d graphs compiled, want %d", c.policy, res.Compiles, c.compiles)
		}
		last := recs[len(recs)-1]
		plainFLOPs := float64(res.Config.TrainFLOPsPerToken()) * float64(res.Config.TokensPerStep()) * float64(res.Steps)
		guideStep := float64(guide.GuideTrainFLOPsPerToken(res.Config)) * float64(res.Config.TokensPerStep())
		expected := plainFLOPs + guide.GuideTrainFLOPs(res.Config, guide.Schedule{Kind: guide.Cosine, Steps: 12}, 0, 24)
		if math.Abs(last.TrainFLOPs-expected) > 1e-6*expected {
			t.Errorf("%s: train_flops %g, want the expected %g", c.policy, last.TrainFLOPs, expected)
		}
		// never: all 24 steps on the guided graph; always: only the window's steps that draw a guide.
		guided := 24.0
		if c.policy == "always" {
			guided = (last.ComputedFLOPs - plainFLOPs) / guideStep
			if guided < 6 || guided > 12 || guided != math.Round(guided) {
				t.Errorf("always: computed_flops %g says %g guided-graph steps, want a whole number in [6, 12]", last.ComputedFLOPs, guided)
			}
		}
		if want := plainFLOPs + guided*guideStep; math.Abs(last.ComputedFLOPs-want) > 1e-6*want {
			t.Errorf("%s: computed_flops %g, want %g (%g guided-graph steps)", c.policy, last.ComputedFLOPs, want, guided)
		}
	}
	_, recs, err := runOnce(t, t.TempDir(), smallSettings(corpus, "train_steps=2;eval_every=0"))
	if err != nil {
		t.Fatal(err)
	}
	if r := recs[len(recs)-1]; r.ComputedFLOPs != r.TrainFLOPs {
		t.Errorf("plain run: computed_flops %g, train_flops %g", r.ComputedFLOPs, r.TrainFLOPs)
	}
	if _, _, err := runOnce(t, t.TempDir(), smallSettings(corpus, "train_steps=2;sgt=steps;sgt_plain_graph=sometimes")); err == nil ||
		!strings.Contains(err.Error(), "sgt_plain_graph=sometimes: allowed values are auto, always, never") {
		t.Errorf("bad sgt_plain_graph: %v", err)
	}
}

// TestSGTResumeContinuesIdentically interrupts an SGT run inside its guided window and resumes it:
// the skip draws are a pure function of (seed, step), so every loss after the resume equals the
// uninterrupted run's.
func TestSGTResumeContinuesIdentically(t *testing.T) {
	corpus := testCorpus(t)
	settings := smallSettings(corpus, "train_steps=12;eval_every=0;checkpoint_every=0;sgt=steps;sgt_plain_graph=always;layers=3")
	_, want, err := runOnce(t, t.TempDir(), settings)
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	if _, _, err := runUntil(t, dir, settings, 3); !errors.Is(err, ErrInterrupted) {
		t.Fatalf("interrupted run returned %v, want ErrInterrupted", err)
	}
	_, got, err := runOnce(t, dir, settings)
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != 12 {
		t.Fatalf("resumed run has %d records, want 12", len(got))
	}
	for i := 3; i < 12; i++ {
		if got[i].TrainLoss != want[i].TrainLoss || got[i].ComputedFLOPs != want[i].ComputedFLOPs {
			t.Errorf("step %d: resumed loss %.7f (computed %g FLOPs), uninterrupted %.7f (%g)", want[i].Step,
				got[i].TrainLoss, got[i].ComputedFLOPs, want[i].TrainLoss, want[i].ComputedFLOPs)
		}
	}
}

// TestSGTDrawPerMicroBatch: with sgt_draw=micro each micro-batch of a step draws its own decisions
// (as the reference's forward calls do), with the default the micro-batches share one draw; both
// train under grad_accum=2, and with one micro-batch the two settings are the same run.
func TestSGTDrawPerMicroBatch(t *testing.T) {
	s := SGT{Schedule: guide.Schedule{Kind: guide.Cosine, Steps: 100}, Matrices: 8}
	perStep, perMicro := s, s
	perMicro.Draw = guide.PerMicroBatch
	differ := false
	for step := int64(0); step < 100; step++ {
		a, b := perStep.Decide(3, step, 2), perMicro.Decide(3, step, 2)
		if !slices.Equal(a.On[0], a.On[1]) {
			t.Fatalf("step %d: per-step draws differ between micro-batches", step)
		}
		if !slices.Equal(a.On[0], b.On[0]) {
			t.Fatalf("step %d: micro-batch 0 draws differently under the two settings", step)
		}
		differ = differ || !slices.Equal(b.On[0], b.On[1])
		for i := range b.Update {
			if b.Update[i] != (b.On[0][i] || b.On[1][i]) {
				t.Fatalf("step %d: update %v is not the micro-batches' or (%v, %v)", step, b.Update, b.On[0], b.On[1])
			}
		}
	}
	if !differ {
		t.Error("sgt_draw=micro: the two micro-batches drew the same decisions at every step")
	}
	corpus := testCorpus(t)
	losses := map[string][]float64{}
	for _, extra := range []string{"grad_accum=2", "grad_accum=2;sgt_draw=micro", "sgt_draw=micro", ""} {
		_, recs, err := runOnce(t, t.TempDir(), smallSettings(corpus, "train_steps=6;eval_every=0;sgt=steps;layers=3;"+extra))
		if err != nil {
			t.Fatalf("%s: %v", extra, err)
		}
		for _, r := range recs {
			losses[extra] = append(losses[extra], r.TrainLoss)
		}
	}
	if slices.Equal(losses["grad_accum=2"], losses["grad_accum=2;sgt_draw=micro"]) {
		t.Error("grad_accum=2: drawing per micro-batch changed nothing")
	}
	if !slices.Equal(losses["sgt_draw=micro"], losses[""]) {
		t.Errorf("one micro-batch: sgt_draw=micro %v, default %v: want the same run", losses["sgt_draw=micro"], losses[""])
	}
}

// TestSGTSettings: p given directly guides floor(N·p) steps as the reference does, the solved p
// round(N·p); bad values of each SGT setting fail with one line naming it.
func TestSGTSettings(t *testing.T) {
	for _, c := range []struct {
		settings string
		guided   int64
		err      string
	}{
		{"train_steps=100;sgt=flops;sgt_p=0.29", 28, ""},
		{"train_steps=100;sgt=steps;sgt_ratio=0.25", 25, ""},
		{"train_steps=100;sgt=flops;sgt_p=1.5", 0, "-set sgt_p=1.5: allowed a number from 1e-06 to 1, or 0 (solved from the FLOP equation)"},
		{"train_steps=100;sgt=steps;sgt_ratio=0", 0, "-set sgt_ratio=0: allowed a number from 1e-06 to 1"},
		{"train_steps=100;sgt=steps;sgt_skip=layer", 0, `unknown sgt_skip "layer": allowed values are matrix, shared`},
		{"train_steps=100;sgt=steps;sgt_draw=epoch", 0, `unknown sgt_draw "epoch": allowed values are step, micro`},
		{"train_steps=100;sgt=steps;sgt_guide_init=zero", 0, `unknown sgt_guide_init "zero": allowed values are merged, reference`},
		{"train_steps=100;sgt=always", 0, `unknown sgt "always": allowed values are off, steps, flops`},
	} {
		ctx := DefaultContext()
		if _, err := commandline.ParseContextSettings(ctx, c.settings); err != nil {
			t.Fatal(err)
		}
		cfg, err := ModelConfig(ctx)
		var s SGT
		if err == nil {
			s, err = NewSGT(ctx, cfg, cfg.Steps())
		}
		if c.err != "" {
			if err == nil || !strings.Contains(err.Error(), c.err) {
				t.Errorf("%s: error %v, want %q", c.settings, err, c.err)
			}
			continue
		}
		if err != nil || s.Schedule.Steps != c.guided {
			t.Errorf("%s: window %d (%v), want %d", c.settings, s.Schedule.Steps, err, c.guided)
		}
	}
}

// TestSavesAreAtomic: saves go through checkpoints/.saving and are renamed into place, so the
// checkpoints directory holds only whole checkpoints (the newest 3, numbered in order); what a kill in
// a save leaves (a partial pair in staging, a values file renamed without its index) is cleared or
// moved aside on the next start, which resumes from the newest whole checkpoint and ends where an
// uninterrupted run ends.
func TestSavesAreAtomic(t *testing.T) {
	corpus := testCorpus(t)
	settings := smallSettings(corpus, "train_steps=16;eval_every=0;checkpoint_every=4")
	_, want, err := runOnce(t, t.TempDir(), settings)
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	ckpts := filepath.Join(dir, "checkpoints")
	if _, _, err := runUntil(t, dir, settings, 12); !errors.Is(err, ErrInterrupted) {
		t.Fatalf("stopped run returned %v, want ErrInterrupted", err)
	}
	listed := func() []string {
		bases, err := checkpointBases(ckpts)
		if err != nil {
			t.Fatal(err)
		}
		for i, b := range bases {
			bases[i] = filepath.Base(b)
			if err := checkCheckpoint(b); err != nil {
				t.Errorf("%s: %v", bases[i], err)
			}
		}
		return bases
	}
	before := listed()
	if len(before) != 3 || !strings.HasSuffix(before[2], "step-00000012") {
		t.Fatalf("checkpoints after 12 steps: %v, want 3 ending at step 12", before)
	}
	if staged, _ := os.ReadDir(filepath.Join(ckpts, stagingDir)); len(staged) != 0 {
		t.Errorf("staging holds %d files after the saves, want none", len(staged))
	}
	// What a kill in the next save leaves: a half-written pair in staging (as GoMLX writes it), and the
	// values file of a save killed between its two renames.
	newest := filepath.Join(ckpts, before[2])
	raw, err := os.ReadFile(newest + ".bin")
	if err != nil {
		t.Fatal(err)
	}
	cut := filepath.Join(ckpts, stagingDir, "checkpoint-n9999999-20260101-000000-step-00000016")
	if err := os.WriteFile(cut+".bin", raw[:len(raw)/2], 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(cut+".json", nil, 0o644); err != nil {
		t.Fatal(err)
	}
	orphan := filepath.Join(ckpts, "checkpoint-n9999998-20260101-000000-step-00000014.bin")
	if err := os.WriteFile(orphan, raw, 0o644); err != nil {
		t.Fatal(err)
	}
	// A kill between a save's two renames: its values in place, its index still in staging (here a
	// copy of the step-12 checkpoint under a newer sequence number); and one while pruning, which
	// removes the index first: the values file of an old checkpoint alone.
	split := "checkpoint-n0000099-20260101-000000-step-00000012"
	if err := os.WriteFile(filepath.Join(ckpts, split+".bin"), raw, 0o644); err != nil {
		t.Fatal(err)
	}
	index, err := os.ReadFile(newest + ".json")
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(ckpts, stagingDir, split+".json"), index, 0o644); err != nil {
		t.Fatal(err)
	}
	pruned := filepath.Join(ckpts, "checkpoint-n0000000-20260101-000000-step-00000002.bin")
	if err := os.WriteFile(pruned, raw, 0o644); err != nil {
		t.Fatal(err)
	}
	var log bytes.Buffer
	if _, err := Run(stdctx.Background(), DefaultContext(), Options{OutDir: dir, Backend: goBackend(t), BackendName: "go", Settings: settings, Log: &log}); err != nil {
		t.Fatal(err)
	}
	for _, line := range []string{"16 steps (4 to go)", "has no index", split + ": its save was cut short between its two renames; completed",
		"checkpoint-n0000000-20260101-000000-step-00000002: removing it (one of the oldest) was cut short; completed"} {
		if !strings.Contains(log.String(), line) {
			t.Errorf("log does not say %q:\n%s", line, log.String())
		}
	}
	if _, err := os.Stat(filepath.Join(ckpts, unreadableDir, filepath.Base(orphan))); err != nil {
		t.Errorf("the orphan values file was not kept aside: %v", err)
	}
	if _, err := os.Stat(pruned); !os.IsNotExist(err) {
		t.Errorf("the half-pruned checkpoint's values file is still there: %v", err)
	}
	after := listed()
	if len(after) != 3 || after[0] != before[2] || after[1] != split || !strings.HasSuffix(after[2], "step-00000016") || after[2] <= split {
		t.Errorf("checkpoints after resuming to 16: %v, want %s, the completed %s and a newer one at step 16", after, before[2], split)
	}
	got := readRecords(t, dir)
	if len(got) != 16 || got[15].TrainLoss != want[15].TrainLoss {
		t.Errorf("%d records ending at %.7f, want 16 ending at %.7f", len(got), got[len(got)-1].TrainLoss, want[15].TrainLoss)
	}
}

// TestCBSScaling: lr_scaling=cbs leaves a dense model's run unchanged, gives every structured FFN
// weight (and nothing else) its multiplier, starts those weights at Compute Better Spent's scale, and
// trains.
func TestCBSScaling(t *testing.T) {
	corpus := testCorpus(t)
	base := smallSettings(corpus, "train_steps=6;eval_every=0")
	_, off, err := runOnce(t, t.TempDir(), base+";structure=dense")
	if err != nil {
		t.Fatal(err)
	}
	_, cbs, err := runOnce(t, t.TempDir(), base+";structure=dense;lr_scaling=cbs")
	if err != nil {
		t.Fatal(err)
	}
	for i := range off {
		if off[i].TrainLoss != cbs[i].TrainLoss {
			t.Fatalf("dense step %d: loss %.7f with lr_scaling=cbs, %.7f without", i+1, cbs[i].TrainLoss, off[i].TrainLoss)
		}
	}
	for _, kind := range []string{"lowrank", "monarch", "btt"} {
		t.Run(kind, func(t *testing.T) {
			ctx, ctxDir := DefaultContext(), t.TempDir()
			settings := base + ";structure=" + kind + ";lr_scaling=cbs"
			if _, err := Run(stdctx.Background(), ctx, Options{OutDir: ctxDir, Backend: goBackend(t), BackendName: "go", Settings: settings, Log: io.Discard}); err != nil {
				t.Fatal(err)
			}
			cfg, err := ModelConfig(ctx)
			if err != nil {
				t.Fatal(err)
			}
			mult := FFNLRMultipliers(cfg)
			scaled := 0
			for v := range ctx.IterVariables() {
				m := mult(v)
				structured := strings.Contains(v.Scope(), "/ffn/fc") && !strings.HasPrefix(v.Scope(), "/block_00") && v.Name() != linear.WeightBias &&
					!strings.HasPrefix(v.Scope(), "/AdamOptimizer")
				if structured != (m != 1) {
					t.Errorf("%s/%s: multiplier %g", v.Scope(), v.Name(), m)
				}
				if m != 1 {
					scaled++
				}
			}
			if want := 2 * 2 * (cfg.Layers - 1); scaled != want {
				t.Errorf("%d variables scaled, want %d (2 factors × fc1, fc2 × %d structured blocks)", scaled, want, cfg.Layers-1)
			}
			// The first step's loss is the initial model's: another initialisation gives another loss.
			_, plain, err := runOnce(t, t.TempDir(), base+";structure="+kind)
			if err != nil {
				t.Fatal(err)
			}
			withCBS := readRecords(t, ctxDir)
			if len(withCBS) != 6 || withCBS[0].TrainLoss == plain[0].TrainLoss || !(withCBS[5].TrainLoss < withCBS[0].TrainLoss) {
				t.Errorf("losses with cbs %v, without %v: want another first loss, and a loss that falls", withCBS, plain)
			}
		})
	}
}
