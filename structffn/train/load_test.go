package train

import (
	"bytes"
	stdctx "context"
	"io"
	"io/fs"
	"math"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/gomlx/gomlx/pkg/ml/context"
	"github.com/gomlx/gomlx/pkg/ml/train/optimizers"
	"github.com/gomlx/gomlx/ui/commandline"

	"github.com/structffn/structffn/structffn/data"
	"github.com/structffn/structffn/structffn/model"
)

// trainTiny trains a 2-step run into a new directory and returns it with the trained context.
func trainTiny(t *testing.T, extra string) (string, *context.Context, *Result) {
	t.Helper()
	dir := t.TempDir()
	ctx := DefaultContext()
	res, err := Run(stdctx.Background(), ctx, Options{
		OutDir: dir, Backend: goBackend(t), BackendName: "go", CacheDir: filepath.Join(t.TempDir(), "cache"),
		Settings: smallSettings(testCorpus(t), "train_steps=2;eval_every=0;"+extra), Log: io.Discard,
	})
	if err != nil {
		t.Fatal(err)
	}
	return dir, ctx, res
}

// snapshot maps every file under dir to its contents.
func snapshot(t *testing.T, dir string) map[string][]byte {
	t.Helper()
	files := map[string][]byte{}
	err := filepath.WalkDir(dir, func(path string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			files[path+"/"] = nil
			return err
		}
		b, err := os.ReadFile(path)
		files[path] = b
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	return files
}

func sameFiles(a, b map[string][]byte) bool {
	if len(a) != len(b) {
		return false
	}
	for k, v := range a {
		if w, ok := b[k]; !ok || !bytes.Equal(v, w) {
			return false
		}
	}
	return true
}

// loadUnchanged loads dir and checks that loading left every file in it as it was.
func loadUnchanged(t *testing.T, dir string) *Loaded {
	t.Helper()
	before := snapshot(t, dir)
	l, err := Load(dir, t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	if !sameFiles(before, snapshot(t, dir)) {
		t.Errorf("Load changed the run directory")
	}
	return l
}

func TestLoadRestoresTrainedModel(t *testing.T) {
	dir, trained, res := trainTiny(t, "")
	l := loadUnchanged(t, dir)
	if l.Step != 2 || l.Config != res.Config || l.Tokenizer.Name() != "byte" || l.Dir != dir || !strings.HasPrefix(l.Corpus, "file:") {
		t.Errorf("loaded step %d, config %+v, tokenizer %s, corpus %q; want step 2, config %+v, byte, the file corpus",
			l.Step, l.Config, l.Tokenizer.Name(), l.Corpus, res.Config)
	}
	if got := context.GetParamOr(l.Ctx, ParamTrainSteps, 0); got != 2 {
		t.Errorf("loaded train_steps = %d, want the run's 2", got)
	}
	if !l.Ctx.IsReuse() {
		t.Errorf("loaded context is not in reuse mode: a missing weight would be silently initialised")
	}
	// Every trained variable (weights and optimizer state) is back, bit for bit.
	n := 0
	for v := range trained.IterVariables() {
		got := l.Ctx.GetVariableByScopeAndName(v.Scope(), v.Name())
		if got == nil {
			t.Errorf("variable %s not loaded", v.ParameterName())
			continue
		}
		if !got.MustValue().Equal(v.MustValue()) {
			t.Errorf("variable %s: loaded value differs from the trained one", v.ParameterName())
		}
		n++
	}
	if n == 0 {
		t.Fatalf("the trained context has no variables")
	}
	// The loaded weights are the model's, at the root scope: same next-token logits as the trained context.
	prompt := l.Tokenizer.Encode([]byte("the model"))
	var logits [2][]float32
	for i, ctx := range []*context.Context{trained, l.Ctx} {
		s, err := model.NewSampler(goBackend(t), ctx, l.Config)
		if err != nil {
			t.Fatal(err)
		}
		if logits[i], err = s.NextLogits(prompt); err != nil {
			t.Fatal(err)
		}
	}
	if !slices.Equal(logits[0], logits[1]) {
		t.Errorf("next-token logits of the loaded model differ from the trained one's")
	}
	if step := optimizers.GetGlobalStep(trained); step != l.Step {
		t.Errorf("trained global step %d, loaded %d", step, l.Step)
	}
}

func TestLoadRebuildsTokenizerOfOldRuns(t *testing.T) {
	dir, _, _ := trainTiny(t, "tokenizer=bpe:300")
	saved, err := data.LoadTokenizer(dir)
	if err != nil {
		t.Fatalf("Run did not save its tokenizer: %v", err)
	}
	// A run directory from before tokenizer.json: the BPE is trained again from config.json's corpus.
	if err := os.Remove(filepath.Join(dir, data.TokenizerFile)); err != nil {
		t.Fatal(err)
	}
	l := loadUnchanged(t, dir)
	text := []byte("the low rank model trains. every guided step")
	if l.Tokenizer.Name() != "bpe:300" || !slices.Equal(l.Tokenizer.Encode(text), saved.Encode(text)) {
		t.Errorf("rebuilt tokenizer %s encodes differently from the saved one", l.Tokenizer.Name())
	}
}

func TestLoadErrors(t *testing.T) {
	good, _, _ := trainTiny(t, "")
	// copyRun copies the good run directory, then lets edit damage the copy.
	copyRun := func(t *testing.T, edit func(dir string)) string {
		dir := filepath.Join(t.TempDir(), "run")
		if err := os.CopyFS(dir, os.DirFS(good)); err != nil {
			t.Fatal(err)
		}
		edit(dir)
		return dir
	}
	checkpointJSON := func(t *testing.T, dir string) string {
		m, _ := filepath.Glob(filepath.Join(dir, "checkpoints", "checkpoint-*.json"))
		if len(m) == 0 {
			t.Fatal("no checkpoint in the good run")
		}
		return m[len(m)-1]
	}
	for _, tc := range []struct {
		name string
		dir  func(t *testing.T) string
		want string
	}{
		{"missing directory", func(t *testing.T) string { return filepath.Join(t.TempDir(), "nope") }, "does not exist: train first with structffn train -out"},
		{"not a run", func(t *testing.T) string { return t.TempDir() }, "not a run directory (no config.json)"},
		{"damaged config", func(t *testing.T) string {
			return copyRun(t, func(dir string) { os.WriteFile(filepath.Join(dir, "config.json"), []byte(`{"model": {`), 0o644) })
		}, "config.json is damaged"},
		{"no checkpoints directory", func(t *testing.T) string {
			return copyRun(t, func(dir string) { os.RemoveAll(filepath.Join(dir, "checkpoints")) })
		}, "no checkpoint in "},
		{"empty checkpoints directory", func(t *testing.T) string {
			return copyRun(t, func(dir string) {
				os.RemoveAll(filepath.Join(dir, "checkpoints"))
				os.Mkdir(filepath.Join(dir, "checkpoints"), 0o755)
			})
		}, "no checkpoint in "},
		{"truncated checkpoint", func(t *testing.T) string {
			return copyRun(t, func(dir string) {
				f := checkpointJSON(t, dir)
				b, _ := os.ReadFile(f)
				os.WriteFile(f, b[:len(b)/2], 0o644)
			})
		}, "is unreadable (corrupt or truncated?)"},
		{"damaged tokenizer", func(t *testing.T) string {
			return copyRun(t, func(dir string) { os.WriteFile(filepath.Join(dir, data.TokenizerFile), []byte("{"), 0o644) })
		}, "tokenizer.json is damaged"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			dir, cache := tc.dir(t), t.TempDir()
			parent := snapshot(t, filepath.Dir(dir))
			_, err := Load(dir, cache)
			if err == nil || !strings.Contains(err.Error(), tc.want) || strings.Contains(err.Error(), "\n") {
				t.Fatalf("error %v, want one line containing %q", err, tc.want)
			}
			if !sameFiles(parent, snapshot(t, filepath.Dir(dir))) {
				t.Errorf("Load changed files (or created directories) on error")
			}
		})
	}
}

func TestSummarize(t *testing.T) {
	dir, _, res := trainTiny(t, "")
	s, err := Summarize(dir)
	if err != nil {
		t.Fatal(err)
	}
	if s.Steps != res.Steps || s.Tokens != res.Steps*res.Config.TokensPerStep() || s.ValLoss == nil || *s.ValLoss != res.ValLoss ||
		s.Config != res.Config || s.Params != res.Config.Params().Total || s.WallS <= 0 || s.Backend == "" {
		t.Fatalf("summary %+v does not describe the run (%+v)", s, res)
	}
	// A line cut short by a crash is skipped; a directory without metrics is an error.
	f, err := os.OpenFile(filepath.Join(dir, "metrics.jsonl"), os.O_APPEND|os.O_WRONLY, 0)
	if err != nil {
		t.Fatal(err)
	}
	f.WriteString(`{"step": 9`)
	f.Close()
	if s2, err := Summarize(dir); err != nil || s2.Steps != s.Steps {
		t.Fatalf("after a truncated line: %+v, %v", s2, err)
	}
	if _, err := Summarize(t.TempDir()); err == nil || !strings.Contains(err.Error(), "not a run directory") {
		t.Fatalf("empty directory: %v", err)
	}
}

// TestPlanMatchesRun checks the dry-run plan against what a run then does: steps, tokens and the
// training FLOPs of its last metrics record, with and without fixed-FLOPs SGT.
func TestPlanMatchesRun(t *testing.T) {
	for _, extra := range []string{"structure=lowrank", "structure=lowrank;sgt=flops", "structure=dense"} {
		t.Run(strings.NewReplacer("=", "-", ";", "_").Replace(extra), func(t *testing.T) { // no "=" in temp dir paths
			dir, _, _ := trainTiny(t, extra)
			ctx := DefaultContext()
			if _, err := commandline.ParseContextSettings(ctx, smallSettings(testCorpus(t), "train_steps=2;eval_every=0;"+extra)); err != nil {
				t.Fatal(err)
			}
			plan, err := Plan(ctx)
			if err != nil {
				t.Fatal(err)
			}
			records, err := ReadMetrics(dir)
			if err != nil || len(records) == 0 {
				t.Fatalf("metrics: %v", err)
			}
			last := records[len(records)-1]
			if plan.Steps != last.Step || plan.Tokens != last.Tokens || math.Abs(plan.TrainFLOPs-last.TrainFLOPs) > 1e-9*last.TrainFLOPs {
				t.Errorf("plan %d steps, %d tokens, %.6g FLOPs; the run did %d, %d, %.6g", plan.Steps, plan.Tokens, plan.TrainFLOPs, last.Step, last.Tokens, last.TrainFLOPs)
			}
		})
	}
}

// TestFreshStartsOver trains twice into one directory with Fresh: the second run's metrics are its
// own (not appended to the first's), and a directory that is not a run directory is not removed.
func TestFreshStartsOver(t *testing.T) {
	dir, _, _ := trainTiny(t, "")
	first, _ := ReadMetrics(dir)
	ctx := DefaultContext()
	if _, err := Run(stdctx.Background(), ctx, Options{OutDir: dir, Backend: goBackend(t), BackendName: "go", CacheDir: filepath.Join(t.TempDir(), "cache"),
		Settings: smallSettings(testCorpus(t), "train_steps=2;eval_every=0"), Log: io.Discard, Fresh: true}); err != nil {
		t.Fatal(err)
	}
	again, _ := ReadMetrics(dir)
	if len(again) != len(first) || again[0].Step != 1 {
		t.Errorf("fresh run left %d records (first run %d), starting at step %d", len(again), len(first), again[0].Step)
	}
	other := t.TempDir()
	keep := filepath.Join(other, "notes.txt")
	if err := os.WriteFile(keep, []byte("x"), 0o644); err != nil {
		t.Fatal(err)
	}
	if _, err := Run(stdctx.Background(), DefaultContext(), Options{OutDir: other, Backend: goBackend(t), BackendName: "go", CacheDir: filepath.Join(t.TempDir(), "cache"),
		Settings: smallSettings(testCorpus(t), "train_steps=1;eval_every=0"), Log: io.Discard, Fresh: true}); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(keep); err != nil {
		t.Errorf("Fresh removed a directory that was not a run directory: %v", err)
	}
}
