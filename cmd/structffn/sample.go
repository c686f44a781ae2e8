package main

import (
	"fmt"
	"io"
	"time"

	"github.com/structffn/structffn/structffn/bench"
	"github.com/structffn/structffn/structffn/model"
	"github.com/structffn/structffn/structffn/train"
)

// emptyPromptText is what an empty -prompt starts from: a language model needs a token to continue,
// and a newline is the most neutral one in every corpus here (a fresh line, a fresh file).
const emptyPromptText = "\n"

// runSample implements `structffn sample`: load a run directory's latest checkpoint and tokenizer and
// continue a prompt, printing the prompt and then each token as it is drawn (stdout), with a header
// and a tokens-per-second line on stderr.
func runSample(args []string) error {
	fs := newFlagSet("sample", "[-ckpt DIR] [-prompt TEXT] [-max_tokens N] [-temperature T] [-top_k K] [-seed S] [-premerge auto|structured|merged|N] [-backend NAME] [-cache DIR]")
	ckpt := fs.String("ckpt", "runs/default", "run directory written by structffn train -out DIR")
	prompt := fs.String("prompt", "package main\n", "text to continue (empty: start from a newline); a prompt longer than the context keeps its last tokens")
	maxTokens := fs.Int("max_tokens", 200, "tokens to generate")
	temperature := fs.Float64("temperature", 0.8, "softmax temperature; 0 is greedy (argmax)")
	topK := fs.Int("top_k", 40, "draw among the K most likely tokens; 0 is all")
	seed := fs.Uint64("seed", 0, "random seed: the same seed, run and prompt give the same text")
	backendName := fs.String("backend", "", backendHelp)
	premerge := fs.String("premerge", "auto", "structured models: which weights decode each step (same logits): structured, merged (every structured FFN matrix replaced by its dense product), a crossover N from structffn bench decode (merged below N tokens in flight), or auto (measure the crossover here first, at this prompt's sizes)")
	cache := fs.String("cache", "", "cache directory, only for runs without tokenizer.json (default $STRUCTFFN_CACHE or the user cache dir)")
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	opts := model.SampleOptions{MaxTokens: *maxTokens, Temperature: *temperature, TopK: *topK, Seed: *seed}
	if err := opts.Validate(); err != nil {
		return err
	}
	b, backendConfig, err := newBackend(*backendName)
	if err != nil {
		return err
	}
	run, err := train.Load(*ckpt, *cache)
	if err != nil {
		return err
	}
	cfg, tok := run.Config, run.Tokenizer
	fmt.Fprintf(stderr, "run %s: model %s (%s params), step %d, tokenizer %s, corpus %s, backend %s\n",
		run.Dir, cfg.Name, model.ParamCount(cfg.Params().Total), run.Step, tok.Name(), run.Corpus, backendConfig)

	text := *prompt
	if text == "" {
		text = emptyPromptText
	}
	ids := tok.Encode([]byte(text))
	if len(ids) > cfg.Context {
		fmt.Fprintf(stderr, "the prompt is %d tokens, longer than the context (%d): the model sees only its last %d\n",
			len(ids), cfg.Context, cfg.Context)
	}
	compileStart := time.Now()
	step, err := bench.NewDecoder(b, backendConfig, run.Ctx, run.Config, *premerge, min(len(ids), cfg.Context), stderr)
	if err != nil {
		return err
	}
	sampler, err := model.NewSamplerFor(step)
	if err != nil {
		return err
	}
	compile := time.Since(compileStart)

	if _, err := io.WriteString(stdout, *prompt); err != nil {
		return err
	}
	start := time.Now()
	out, err := sampler.Generate(ids, opts, func(id int32) error {
		_, err := io.WriteString(stdout, tok.Decode([]int32{id}))
		return err
	})
	elapsed := time.Since(start)
	fmt.Fprintln(stdout)
	if err != nil {
		return err
	}
	fmt.Fprintf(stderr, "%d tokens in %.2fs: %.1f tok/s with a KV cache (set up in %.0f ms)\n",
		len(out), elapsed.Seconds(), float64(len(out))/elapsed.Seconds(), float64(compile.Microseconds())/1000)
	if pm, ok := step.(*model.PreMerge); ok {
		fmt.Fprintf(stderr, "pre-merge: %d steps on merged weights, %d on structured ones\n", pm.MergedCalls, pm.StructuredCalls)
	}
	return nil
}
