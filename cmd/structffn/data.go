package main

import (
	"fmt"
	"text/tabwriter"

	"github.com/structffn/structffn/structffn/data"
)

// runData implements `structffn data`: list the corpora and tokenizers, or prepare (and cache) one
// dataset and print a summary line.
func runData(args []string) error {
	fs := newFlagSet("data", "[-list] [-corpus NAME] [-tokenizer SPEC] [-cache DIR] [-val F]")
	list := fs.Bool("list", false, "list the corpora and tokenizer forms and exit")
	corpus := fs.String("corpus", data.DefaultCorpus, "corpus: gosrc, sotu, brown, file:PATH or dir:PATH (see -list)")
	tokenizer := fs.String("tokenizer", "bpe:1024", "tokenizer: byte, bpe:N (N >= 256) or gpt2")
	cache := fs.String("cache", data.DefaultCacheDir(), "cache directory for fetched corpora, BPE merges and token ids ($STRUCTFFN_CACHE)")
	val := fs.Float64("val", 0.1, "validation fraction, the last part of the token stream, in (0, 0.5]")
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	if *list {
		w := tabwriter.NewWriter(stdout, 0, 0, 2, ' ', 0)
		fmt.Fprintln(w, "corpora (-corpus):")
		for _, c := range data.CorpusNames() {
			fmt.Fprintf(w, "  %s\t%s\n", c.Name, c.Description)
		}
		fmt.Fprintln(w, "tokenizers (-tokenizer):")
		for _, t := range data.TokenizerForms() {
			fmt.Fprintf(w, "  %s\t%s\n", t.Form, t.Description)
		}
		return w.Flush()
	}
	ds, _, err := data.Prepare(*corpus, *tokenizer, *cache, *val)
	if err != nil {
		return err
	}
	tokens := len(ds.Train) + len(ds.Val)
	bpt := 0.0
	if tokens > 0 {
		bpt = float64(ds.Bytes) / float64(tokens)
	}
	_, err = fmt.Fprintf(stdout, "corpus %s | tokenizer %s | vocab %d | bytes %d | train tokens %d | val tokens %d | bytes/token %.3f | cache %s\n",
		ds.Corpus, ds.Tokenizer, ds.VocabSize, ds.Bytes, len(ds.Train), len(ds.Val), bpt, ds.CachePath)
	return err
}
