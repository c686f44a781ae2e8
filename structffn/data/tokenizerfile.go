package data

import (
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"

	"github.com/structffn/structffn/internal/atomicfile"
)

// TokenizerFile is the name of the file SaveTokenizer writes into a run directory, so that the run
// can be sampled from without its corpus (a trained BPE's merges depend on the corpus).
const TokenizerFile = "tokenizer.json"

// tokenizerFormat tags the JSON layout of TokenizerFile.
const tokenizerFormat = "structffn-tokenizer v1"

// tokenizerJSON is the layout of TokenizerFile: the tokenizer's spec ("byte", "bpe:N", "gpt2"), its
// vocabulary size, and for a BPE its learned merges in order, each [left, right].
type tokenizerJSON struct {
	Format    string     `json:"format"`
	Name      string     `json:"name"`
	VocabSize int        `json:"vocab_size"`
	Merges    [][2]int32 `json:"merges,omitempty"`
}

// SaveTokenizer writes tok to dir/tokenizer.json atomically: its name and, for a BPE, its merges.
// The byte and GPT-2 tokenizers need nothing more (GPT-2's vocabulary is compiled in).
func SaveTokenizer(dir string, tok Tokenizer) error {
	out := tokenizerJSON{Format: tokenizerFormat, Name: tok.Name(), VocabSize: tok.VocabSize()}
	switch t := tok.(type) {
	case ByteTokenizer, *GPT2:
	case *BPE:
		out.Merges = make([][2]int32, len(t.Merges()))
		for i, m := range t.Merges() {
			out.Merges[i] = [2]int32{m.Left, m.Right}
		}
	default:
		return fmt.Errorf("cannot save tokenizer %q of type %T: only byte, bpe:N and gpt2 are saved", tok.Name(), tok)
	}
	b, err := json.Marshal(out)
	if err != nil {
		return err
	}
	path := filepath.Join(dir, TokenizerFile)
	if err := atomicfile.Write(path, append(b, '\n')); err != nil {
		return fmt.Errorf("writing %s: %w", path, err)
	}
	return nil
}

// LoadTokenizer reads the tokenizer SaveTokenizer wrote into dir. A missing file is an error that
// wraps fs.ErrNotExist (run directories written before the file existed lack it); a damaged one is
// a one-line error naming the file.
func LoadTokenizer(dir string) (Tokenizer, error) {
	path := filepath.Join(dir, TokenizerFile)
	raw, err := os.ReadFile(path)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, fmt.Errorf("no %s in %s (%w): run `structffn train -out %s` again to write it (a finished run only rewrites its files)",
			TokenizerFile, dir, fs.ErrNotExist, dir)
	}
	if err != nil {
		return nil, fmt.Errorf("reading %s: %w", path, err)
	}
	corrupt := func(why string) error {
		return fmt.Errorf("%s is damaged (%s): delete it and run `structffn train -out %s` again to rewrite it", path, why, dir)
	}
	var in tokenizerJSON
	if err := json.Unmarshal(raw, &in); err != nil {
		return nil, corrupt("not valid JSON")
	}
	if in.Format != tokenizerFormat {
		return nil, corrupt(fmt.Sprintf("format %q, want %q", in.Format, tokenizerFormat))
	}
	var tok Tokenizer
	switch in.Name {
	case "byte":
		tok = ByteTokenizer{}
	case "gpt2":
		if tok, err = newGPT2(); err != nil {
			return nil, err
		}
	default:
		var n int
		if _, err := fmt.Sscanf(in.Name, "bpe:%d", &n); err != nil || fmt.Sprintf("bpe:%d", n) != in.Name {
			return nil, corrupt(fmt.Sprintf("unknown tokenizer %q", in.Name))
		}
		merges := make([]Pair, len(in.Merges))
		for i, m := range in.Merges {
			merges[i] = Pair{m[0], m[1]}
		}
		bpe, err := NewBPE(n, merges)
		if err != nil {
			return nil, corrupt(err.Error())
		}
		tok = bpe
	}
	if tok.VocabSize() != in.VocabSize {
		return nil, corrupt(fmt.Sprintf("vocab_size %d, but %s has %d ids", in.VocabSize, in.Name, tok.VocabSize()))
	}
	return tok, nil
}
