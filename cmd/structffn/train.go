package main

import (
	stdctx "context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/signal"

	"github.com/gomlx/gomlx/ui/commandline"

	"github.com/structffn/structffn/structffn/train"
)

func runTrain(args []string) error {
	fs := newFlagSet("train", "[-out DIR] [-set \"k=v;k2=v2\"] [-backend NAME] [-cache DIR] [-params]")
	out := fs.String("out", "runs/default", "run directory: config.json, metrics.jsonl and checkpoints; an existing run resumes")
	settings := fs.String("set", "", "hyperparameters, e.g. -set=\"preset=mini;structure=blockdense;train_steps=500\" (see -params)")
	backendName := fs.String("backend", "", backendHelp)
	cache := fs.String("cache", "", "cache directory for corpora, tokenizers and token ids (default $STRUCTFFN_CACHE or the user cache dir)")
	listParams := fs.Bool("params", false, "print every hyperparameter with its default and exit")
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	ctx := train.DefaultContext()
	if *listParams {
		fmt.Fprintln(stdout, commandline.SprintContextSettings(ctx))
		return nil
	}
	// Validate -set before any work: unknown names and unparsable values fail here.
	if _, err := train.ApplySettings(train.DefaultContext(), *settings); err != nil {
		return err
	}
	if _, err := train.ApplySettings(ctx, *settings); err != nil {
		return err
	}
	b, config, err := newBackend(train.BackendName(ctx, *backendName))
	if err != nil {
		return err
	}
	goctx, stop := signal.NotifyContext(stdctx.Background(), stopSignals...)
	defer stop()
	res, err := train.Run(goctx, ctx, train.Options{
		OutDir: *out, Backend: b, BackendName: config, Progress: terminal(os.Stderr), CacheDir: *cache, Settings: *settings, Log: stdout,
	})
	if errors.Is(err, train.ErrInterrupted) {
		return err
	}
	if err != nil {
		return err
	}
	fmt.Fprintf(stdout, "done: %d steps, final val loss %.4f, %d graphs compiled, run directory %s\n", res.Steps, res.ValLoss, res.Compiles, res.RunDir)
	return nil
}

// terminal returns f when it is a terminal (so a progress bar can be redrawn in place), else nil.
func terminal(f *os.File) io.Writer {
	if st, err := f.Stat(); err == nil && st.Mode()&os.ModeCharDevice != 0 {
		return f
	}
	return nil
}
