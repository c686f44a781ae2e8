package train

import (
	"bytes"
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
	"github.com/structffn/structffn/structffn/model"
)

// A run directory holds config.json (every effective setting), tokenizer.json, metrics.jsonl (one
// Record per logged step) and checkpoints/ (GoMLX checkpoints, the last 3 kept, saved atomically: ckptsave.go).

// prepareRunDir creates (or, for opts.Fresh, empties) opts.OutDir and loads its latest checkpoint into
// ctx, holding the directory's lock (lockRunDir) from before anything in it is read or written;
// it returns the checkpoint handler, the lock's release and whether it created the directory (so that
// a run that then fails its checks can remove it again).
func prepareRunDir(ctx *context.Context, opts Options) (ckpt *checkpoints.Handler, unlock func(), created bool, err error) {
	if opts.OutDir == "" {
		return nil, nil, false, fmt.Errorf("no run directory: pass -out DIR")
	}
	if opts.Fresh {
		if _, err := os.Stat(filepath.Join(opts.OutDir, "config.json")); err == nil {
			probe, err := lockRunDir(opts.OutDir) // not while another training uses it
			if err != nil {
				return nil, nil, false, err
			}
			probe()
			if err := os.RemoveAll(opts.OutDir); err != nil {
				return nil, nil, false, fmt.Errorf("starting %s fresh: %w", opts.OutDir, err)
			}
		}
	}
	if _, err := os.Stat(opts.OutDir); os.IsNotExist(err) {
		created = true
	}
	if err := os.MkdirAll(opts.OutDir, 0o755); err != nil {
		return nil, nil, false, fmt.Errorf("cannot create run directory: %w", err)
	}
	release, err := lockRunDir(opts.OutDir)
	if err != nil {
		return nil, nil, false, err
	}
	defer func() {
		if err != nil { // the error returns carry no release: let go of the lock here
			release()
		}
	}()
	ckptDir := filepath.Join(opts.OutDir, "checkpoints")
	if ckpt, err = openCheckpoints(ctx, ckptDir, opts.Log); err != nil {
		return nil, nil, created, err
	}
	return ckpt, release, created, nil
}

// resumeMetrics makes metrics.jsonl end at the checkpoint's step start: records of later steps (logged
// after the last checkpoint by a session that was killed) are dropped, atomically, so that each step
// appears once after the resumed session logs it again. It returns the training wall time recorded up
// to start (elapsed_s of the last record kept), from which the resumed session's records count on.
func resumeMetrics(dir string, start int64) (priorElapsed float64, err error) {
	path := filepath.Join(dir, "metrics.jsonl")
	raw, err := os.ReadFile(path)
	if os.IsNotExist(err) {
		return 0, nil
	}
	if err != nil {
		return 0, err
	}
	var kept []byte
	dropped := false
	for _, line := range bytes.SplitAfter(raw, []byte("\n")) {
		var r Record
		if len(bytes.TrimSpace(line)) == 0 {
			continue
		}
		if json.Unmarshal(line, &r) != nil || r.Step > start || !bytes.HasSuffix(line, []byte("\n")) {
			dropped = true // a later step, or a line cut short by a kill
			continue
		}
		kept = append(kept, line...)
		priorElapsed = r.ElapsedS
	}
	if dropped {
		if err := atomicfile.Write(path, kept); err != nil {
			return 0, fmt.Errorf("trimming %s to the checkpoint's step %d: %v", path, start, err)
		}
	}
	return priorElapsed, nil
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
