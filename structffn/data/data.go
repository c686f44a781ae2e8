// Package data provides the training text of structffn's language models: corpora (Go source, State
// of the Union addresses, the Brown corpus, your own files), tokenizers (bytes, a byte-level BPE trained
// here, GPT-2's), token caches on disk, the train/validation split and batching.
//
// The usual entry point is Prepare, which does all of it once and caches the result:
//
//	ds, tok, err := data.Prepare("gosrc", "bpe:1024", data.DefaultCacheDir(), 0.1)
//	inputs, targets := ds.TrainBatch(seed, step, batch, context)
//
// Everything is deterministic: the same corpus and tokenizer give the same ids, and TrainBatch is a
// pure function of (seed, step), so a resumed run sees exactly the batches it would have seen.
package data

import (
	"fmt"
	"github.com/structffn/structffn/internal/atomicfile"
	"math"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strings"
)

// Dataset is a tokenised corpus split into train and validation ids: Val is the last valFraction of
// the token stream, Train everything before it. They are separate slices (Train's capacity ends where
// Val starts), so no window taken from Train can reach into Val.
type Dataset struct {
	// Corpus and Tokenizer are the names they were built from ("gosrc", "bpe:1024").
	Corpus, Tokenizer string
	// VocabSize is the tokenizer's number of ids.
	VocabSize int
	// Train and Val are the token ids.
	Train, Val []int32
	// Bytes is the size of the corpus text.
	Bytes int64
	// CachePath is the token cache file (empty when Prepare ran without a cache directory).
	CachePath string
}

// DefaultCacheDir is $STRUCTFFN_CACHE if set, else os.UserCacheDir()/structffn (or
// os.TempDir()/structffn-cache when there is no user cache directory).
func DefaultCacheDir() string {
	if dir := os.Getenv("STRUCTFFN_CACHE"); dir != "" {
		return dir
	}
	if dir, err := os.UserCacheDir(); err == nil {
		return filepath.Join(dir, "structffn")
	}
	return filepath.Join(os.TempDir(), "structffn-cache")
}

// Prepare opens the corpus, builds the tokenizer and tokenises, and splits the ids: the last valFraction
// (in (0, 0.5]) of the stream is validation. The ids are cached under cacheDir/tokens once per
// (corpus, corpus content, tokenizer); the cache holds the whole stream, so any valFraction reuses it,
// and a damaged cache file is detected and rebuilt. cacheDir "" means DefaultCacheDir(). The corpus
// is still read (and hashed) on every call, so an edited file: or dir: corpus is never stale.
func Prepare(corpus, tokenizer, cacheDir string, valFraction float64) (*Dataset, Tokenizer, error) {
	if !(valFraction > 0 && valFraction <= 0.5) {
		return nil, nil, fmt.Errorf("validation fraction %g is out of range: use a value in (0, 0.5], e.g. 0.1", valFraction)
	}
	if cacheDir == "" {
		cacheDir = DefaultCacheDir()
	}
	c, err := OpenCorpus(corpus, cacheDir)
	if err != nil {
		return nil, nil, err
	}
	tok, err := NewTokenizer(tokenizer, c, cacheDir)
	if err != nil {
		return nil, nil, err
	}
	path := TokenCachePath(cacheDir, c, tok)
	ids, err := readTokenCache(path, tok.VocabSize())
	if err != nil {
		ids = tok.Encode(c.Text)
		if err := writeTokenCache(path, ids, tok.VocabSize()); err != nil {
			return nil, nil, err
		}
	}
	nVal := int(math.Round(float64(len(ids)) * valFraction))
	nTrain := len(ids) - nVal
	return &Dataset{
		Corpus:    c.Name,
		Tokenizer: tok.Name(),
		VocabSize: tok.VocabSize(),
		Train:     ids[:nTrain:nTrain],
		Val:       ids[nTrain:],
		Bytes:     int64(len(c.Text)),
		CachePath: path,
	}, tok, nil
}

// CheckContext returns an error if Train is too short to give one window of context+1 tokens
// (TrainBatch panics then).
func (d *Dataset) CheckContext(context int) error {
	if context < 1 {
		return fmt.Errorf("context %d must be at least 1", context)
	}
	if len(d.Train) < context+1 {
		return fmt.Errorf("corpus %s has %d training tokens, fewer than context+1 = %d: use a larger corpus or a smaller context", d.Corpus, len(d.Train), context+1)
	}
	return nil
}

// TrainBatch returns batch windows of context+1 consecutive Train tokens as inputs (each window's first
// context tokens) and targets (its last context tokens, i.e. inputs shifted by one), both
// [batch*context] row-major. Window starts are uniform in [0, len(Train)-context-1], drawn from a PCG
// seeded with (seed, step): the same (seed, step) always gives the same batch. It panics if Train is
// shorter than context+1 (see CheckContext).
func (d *Dataset) TrainBatch(seed uint64, step int64, batch, context int) (inputs, targets []int32) {
	if err := d.CheckContext(context); err != nil {
		panic("data.TrainBatch: " + err.Error())
	}
	rng := rand.New(rand.NewPCG(seed, uint64(step)))
	inputs = make([]int32, batch*context)
	targets = make([]int32, batch*context)
	for b := range batch {
		off := rng.IntN(len(d.Train) - context)
		copy(inputs[b*context:(b+1)*context], d.Train[off:off+context])
		copy(targets[b*context:(b+1)*context], d.Train[off+1:off+context+1])
	}
	return inputs, targets
}

// ValBatches returns a fixed validation set: the consecutive, non-overlapping windows of context+1
// tokens from the start of Val, grouped into up to maxBatches batches (no limit if maxBatches <= 0) of
// batch windows each, as [batch*context] inputs and targets like TrainBatch. Only whole batches are
// returned, except that when Val holds fewer than batch windows there is one smaller batch with all of
// them; nil if Val is shorter than one window.
func (d *Dataset) ValBatches(batch, context, maxBatches int) (inputs, targets [][]int32) {
	if batch < 1 || context < 1 {
		return nil, nil
	}
	windows := len(d.Val) / (context + 1)
	if windows == 0 {
		return nil, nil
	}
	nb, per := windows/batch, batch
	if nb == 0 {
		nb, per = 1, windows
	}
	if maxBatches > 0 {
		nb = min(nb, maxBatches)
	}
	for i := range nb {
		in := make([]int32, 0, per*context)
		tg := make([]int32, 0, per*context)
		for w := range per {
			win := d.Val[(i*per+w)*(context+1):][:context+1]
			in = append(in, win[:context]...)
			tg = append(tg, win[1:]...)
		}
		inputs = append(inputs, in)
		targets = append(targets, tg)
	}
	return inputs, targets
}

// sanitize makes s safe as part of a file name: runs of characters other than letters, digits, '.',
// '-' and '_' become '_', and long names are cut to 48 bytes.
func sanitize(s string) string {
	var sb strings.Builder
	under := false
	for _, r := range s {
		ok := r < 128 && (r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || r == '.' || r == '-' || r == '_')
		if ok {
			sb.WriteRune(r)
			under = false
		} else if !under {
			sb.WriteByte('_')
			under = true
		}
	}
	out := strings.Trim(sb.String(), "_.")
	if len(out) > 48 {
		out = out[len(out)-48:]
	}
	if out == "" {
		out = "corpus"
	}
	return out
}

// writeFileAtomic writes a cache file atomically (internal/atomicfile), naming the cache fix on error.
func writeFileAtomic(path string, data []byte) error {
	if err := atomicfile.Write(path, data); err != nil {
		return fmt.Errorf("cache: writing %s: %w (set -cache or $STRUCTFFN_CACHE to a writable directory)", path, err)
	}
	return nil
}
