package train

import (
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"

	"github.com/gomlx/gomlx/pkg/ml/context"
	"github.com/gomlx/gomlx/pkg/ml/context/checkpoints"
	"github.com/gomlx/gomlx/pkg/ml/train/optimizers"

	"github.com/structffn/structffn/internal/errline"
	"github.com/structffn/structffn/structffn/data"
	"github.com/structffn/structffn/structffn/model"
)

// Loaded is a trained model read back from a run directory, ready for model.NewSampler.
type Loaded struct {
	Dir       string           // The run directory.
	Ctx       *context.Context // Hyperparameters and the latest checkpoint's variables; model weights at the root scope, Reuse() set.
	Config    model.Config     // The model, as config.json recorded it.
	Tokenizer data.Tokenizer   // The run's tokenizer (from tokenizer.json, or rebuilt for older runs).
	Corpus    string           // The corpus the model was trained on.
	Step      int64            // Optimizer steps of the loaded checkpoint (the global step).
}

// runConfig is the part of config.json (see writeConfig) that loading needs.
type runConfig struct {
	Model     *model.Config  `json:"model"`
	Params    map[string]any `json:"params"`
	Tokenizer string         `json:"tokenizer"`
	Corpus    string         `json:"corpus"`
}

// Load reads the run directory dir written by Run: config.json, the latest checkpoint and the
// tokenizer. It never writes to dir. Run directories written before tokenizer.json existed get their
// tokenizer rebuilt from the corpus named in config.json, with cacheDir ("": data.DefaultCacheDir())
// holding (or receiving) the BPE merges. Errors are one line naming the file and the fix.
func Load(dir, cacheDir string) (*Loaded, error) {
	if dir == "" {
		return nil, errors.New("no run directory: pass -ckpt DIR (a directory written by structffn train -out DIR)")
	}
	rc, err := readRunConfig(dir)
	if err != nil {
		return nil, err
	}
	cfg := *rc.Model
	if err := cfg.Validate(); err != nil {
		return nil, fmt.Errorf("%s: %v", filepath.Join(dir, "config.json"), err)
	}

	// The context: every default, the saved parameters over them, then the checkpoint (which also
	// holds the parameters, and is authoritative).
	ctx := DefaultContext()
	if err := setSavedParams(ctx, rc.Params); err != nil {
		return nil, fmt.Errorf("%s: %v", filepath.Join(dir, "config.json"), err)
	}
	ctx = ctx.Checked(false)
	ckptDir := filepath.Join(dir, "checkpoints")
	if err := hasCheckpoint(ckptDir); err != nil {
		return nil, err
	}
	// The directory exists, so checkpoints.Build does not create it; Immediate puts every variable in
	// ctx now, and the handler is never asked to Save, so the files stay as they are.
	if _, err := checkpoints.Build(ctx).Dir(ckptDir).Immediate().Done(); err != nil {
		return nil, fmt.Errorf("checkpoint in %s is unreadable (corrupt or truncated?): %v; it was left untouched: train again with structffn train -out %s, or use another run",
			ckptDir, errline.First(err), dir)
	}
	step := optimizers.GetGlobalStep(ctx)

	tok, err := loadRunTokenizer(dir, cacheDir, rc)
	if err != nil {
		return nil, err
	}
	if tok.VocabSize() != cfg.Vocab {
		return nil, fmt.Errorf("%s: the model's vocabulary is %d but tokenizer %s has %d ids: the run directory is inconsistent",
			dir, cfg.Vocab, tok.Name(), tok.VocabSize())
	}
	return &Loaded{Dir: dir, Ctx: ctx.Reuse(), Config: cfg, Tokenizer: tok, Corpus: rc.Corpus, Step: step}, nil
}

// readRunConfig reads and checks dir/config.json.
func readRunConfig(dir string) (*runConfig, error) {
	path := filepath.Join(dir, "config.json")
	raw, err := os.ReadFile(path)
	if errors.Is(err, fs.ErrNotExist) {
		if _, serr := os.Stat(dir); serr != nil {
			return nil, fmt.Errorf("run directory %s does not exist: train first with structffn train -out %s", dir, dir)
		}
		return nil, fmt.Errorf("%s is not a run directory (no config.json): train first with structffn train -out %s", dir, dir)
	}
	if err != nil {
		return nil, fmt.Errorf("reading %s: %w", path, err)
	}
	var rc runConfig
	if err := json.Unmarshal(raw, &rc); err != nil {
		return nil, fmt.Errorf("%s is damaged (%v): structffn train -out %s rewrites it from the checkpoint", path, err, dir)
	}
	if rc.Model == nil || rc.Tokenizer == "" {
		return nil, fmt.Errorf("%s lacks the \"model\" or \"tokenizer\" entry: it was not written by structffn train", path)
	}
	return &rc, nil
}

// setSavedParams sets config.json's parameters on ctx, converted to the types of DefaultContext's
// (JSON has only float64 numbers). Parameters DefaultContext does not know are kept as read.
func setSavedParams(ctx *context.Context, saved map[string]any) error {
	for key, v := range saved {
		scope, name := context.RootScope, key
		if i := strings.LastIndex(key, "/"); i >= 0 {
			scope, name = key[:i], key[i+1:]
		}
		c := ctx.InAbsPath(scope)
		if def, ok := c.GetParam(name); ok {
			switch def.(type) {
			case int:
				f, ok := v.(float64)
				if !ok || f != float64(int(f)) {
					return fmt.Errorf("parameter %s is %v, want an integer", key, v)
				}
				v = int(f)
			case float64:
				if _, ok := v.(float64); !ok {
					return fmt.Errorf("parameter %s is %v, want a number", key, v)
				}
			case string:
				if _, ok := v.(string); !ok {
					return fmt.Errorf("parameter %s is %v, want a string", key, v)
				}
			}
		}
		c.SetParam(name, v)
	}
	return nil
}

// hasCheckpoint checks that ckptDir holds at least one GoMLX checkpoint, without creating anything.
func hasCheckpoint(ckptDir string) error {
	runDir := filepath.Dir(ckptDir)
	matches, err := filepath.Glob(filepath.Join(ckptDir, "checkpoint-*"+checkpoints.JsonNameSuffix))
	if err != nil {
		return err
	}
	if len(matches) == 0 {
		return fmt.Errorf("no checkpoint in %s: train first with structffn train -out %s", ckptDir, runDir)
	}
	return nil
}

// loadRunTokenizer reads dir/tokenizer.json, or, for runs written before it existed, rebuilds the
// tokenizer named in config.json (a BPE from the corpus, or its cached merges).
func loadRunTokenizer(dir, cacheDir string, rc *runConfig) (data.Tokenizer, error) {
	tok, err := data.LoadTokenizer(dir)
	if err == nil || !errors.Is(err, fs.ErrNotExist) {
		return tok, err
	}
	var corpus *data.Corpus
	if strings.HasPrefix(rc.Tokenizer, "bpe:") {
		if cacheDir == "" {
			cacheDir = data.DefaultCacheDir()
		}
		if corpus, err = data.OpenCorpus(rc.Corpus, cacheDir); err != nil {
			return nil, fmt.Errorf("%s has no %s, and its tokenizer %s cannot be rebuilt: %v", dir, data.TokenizerFile, rc.Tokenizer, err)
		}
	}
	tok, err = data.NewTokenizer(rc.Tokenizer, corpus, cacheDir)
	if err != nil {
		return nil, fmt.Errorf("%s has no %s, and its tokenizer %s cannot be rebuilt: %v", dir, data.TokenizerFile, rc.Tokenizer, err)
	}
	return tok, nil
}
