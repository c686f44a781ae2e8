package train

import (
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"time"

	"github.com/gomlx/gomlx/pkg/ml/context"
	"github.com/gomlx/gomlx/pkg/ml/context/checkpoints"

	"github.com/structffn/structffn/internal/atomicfile"
	"github.com/structffn/structffn/internal/errline"
	"github.com/structffn/structffn/structffn/model"
)

// A run directory holds config.json (every effective setting), tokenizer.json, metrics.jsonl (one
// Record per logged step) and checkpoints/ (GoMLX checkpoints, the last 3 kept).

// prepareRunDir creates (or, for opts.Fresh, empties) opts.OutDir and loads its latest checkpoint into
// ctx, returning the checkpoint handler and whether it created the directory (so that a run that then
// fails its checks can remove it again).
func prepareRunDir(ctx *context.Context, opts Options) (ckpt *checkpoints.Handler, created bool, err error) {
	if opts.OutDir == "" {
		return nil, false, fmt.Errorf("no run directory: pass -out DIR")
	}
	if opts.Fresh {
		if _, err := os.Stat(filepath.Join(opts.OutDir, "config.json")); err == nil {
			if err := os.RemoveAll(opts.OutDir); err != nil {
				return nil, false, fmt.Errorf("starting %s fresh: %w", opts.OutDir, err)
			}
		}
	}
	if _, err := os.Stat(opts.OutDir); os.IsNotExist(err) {
		created = true
	}
	if err := os.MkdirAll(opts.OutDir, 0o755); err != nil {
		return nil, false, fmt.Errorf("cannot create run directory: %w", err)
	}
	ckptDir := filepath.Join(opts.OutDir, "checkpoints")
	ckpt, err = checkpoints.Build(ctx).Dir(ckptDir).Keep(3).Done()
	if err != nil {
		return nil, created, fmt.Errorf("checkpoint in %s is unreadable (corrupt or truncated?): %v; it was left untouched: move it away to start fresh, or use another -out",
			ckptDir, errline.First(err))
	}
	return ckpt, created, nil
}

// openMetrics opens the run's metrics.jsonl for appending.
func openMetrics(dir string) (*os.File, error) {
	return os.OpenFile(filepath.Join(dir, "metrics.jsonl"), os.O_CREATE|os.O_APPEND|os.O_WRONLY, 0o644)
}

// writeConfig writes config.json (every effective setting) atomically.
func writeConfig(opts Options, ctx *context.Context, cfg model.Config, corpus, tokenizer string, steps int64) error {
	params := map[string]any{}
	ctx.EnumerateParams(func(scope, key string, value any) {
		if scope == context.RootScope {
			params[key] = value
		} else {
			params[scope+"/"+key] = value
		}
	})
	out := map[string]any{
		"model": cfg, "params": params, "backend": opts.BackendName, "corpus": corpus, "tokenizer": tokenizer,
		"seed": Param[int](ctx, ParamSeed), "train_steps": steps, "tokens_per_step": cfg.TokensPerStep(),
		"git_revision": gitRevision(), "written": time.Now().UTC().Format(time.RFC3339),
	}
	b, err := json.MarshalIndent(out, "", "  ")
	if err != nil {
		return err
	}
	return atomicfile.Write(filepath.Join(opts.OutDir, "config.json"), append(b, '\n'))
}

// gitRevision is the current commit of the working directory's repository ("unknown" outside one).
func gitRevision() string {
	out, err := exec.Command("git", "rev-parse", "--short", "HEAD").Output()
	if err != nil {
		return "unknown"
	}
	rev := strings.TrimSpace(string(out))
	if st, err := exec.Command("git", "status", "--porcelain", "--untracked-files=no").Output(); err == nil && len(st) > 0 {
		rev += "-dirty"
	}
	return rev
}
