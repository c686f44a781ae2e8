package data

import (
	"bytes"
	"math/rand/v2"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/tiktoken-go/tokenizer"
)

// sampleText is a little English and Go, enough to train a small BPE.
var sampleText = []byte(strings.Repeat(`The quick brown fox jumps over the lazy dog. It's the dog's day; they're all here.
We hold these truths to be self-evident, that all men are created equal.
func (d *Dataset) TrainBatch(seed uint64, step int64) (inputs, targets []int32) {
	if err != nil {
		return nil, fmt.Errorf("data: %w", err)
	}
}
`, 20))

// roundTripInputs are awkward byte strings every tokenizer must give back exactly.
var roundTripInputs = []string{
	"", "a", "Hello world", "\x00\x01\xff\xfe invalid \xc3 utf8 \xe2\x82",
	"naïve café 世界 🙂 ½", "  \t\n\r\n   trailing   ", "<|endoftext|> is plain text here",
	string(sampleText[:500]),
}

func newTestTokenizers(t *testing.T) []Tokenizer {
	t.Helper()
	c := &Corpus{Name: "sample", Text: sampleText}
	var toks []Tokenizer
	for _, spec := range []string{"byte", "bpe:300", "bpe:700", "gpt2"} {
		tok, err := NewTokenizer(spec, c, "")
		if err != nil {
			t.Fatalf("NewTokenizer(%q): %v", spec, err)
		}
		if tok.Name() != spec {
			t.Errorf("NewTokenizer(%q).Name() = %q", spec, tok.Name())
		}
		toks = append(toks, tok)
	}
	return toks
}

func TestTokenizerRoundTrip(t *testing.T) {
	rng := rand.New(rand.NewPCG(3, 4))
	inputs := slices.Clone(roundTripInputs)
	for range 50 {
		b := make([]byte, rng.IntN(40))
		for i := range b {
			b[i] = byte(rng.UintN(256))
		}
		inputs = append(inputs, string(b))
	}
	for _, tok := range newTestTokenizers(t) {
		for _, in := range inputs {
			ids := tok.Encode([]byte(in))
			for _, id := range ids {
				if id < 0 || int(id) >= tok.VocabSize() {
					t.Fatalf("%s: id %d out of [0, %d)", tok.Name(), id, tok.VocabSize())
				}
			}
			if got := tok.Decode(ids); got != in {
				t.Errorf("%s: Decode(Encode(%q)) = %q", tok.Name(), in, got)
			}
		}
	}
}

func TestGPT2(t *testing.T) {
	tok, err := NewTokenizer("gpt2", nil, "")
	if err != nil {
		t.Fatal(err)
	}
	if got, want := tok.Encode([]byte("Hello world")), []int32{15496, 995}; !slices.Equal(got, want) {
		t.Errorf(`Encode("Hello world") = %v, want %v`, got, want)
	}
	if tok.VocabSize() != 50257 {
		t.Errorf("VocabSize() = %d, want 50257", tok.VocabSize())
	}
	// On valid UTF-8 our pre-split + per-piece encoding must equal tiktoken-go's own whole-text Encode.
	codec, err := tokenizer.Get(tokenizer.R50kBase)
	if err != nil {
		t.Fatal(err)
	}
	src, err := os.ReadFile(filepath.Join("testdata", "presplit.json"))
	if err != nil {
		t.Fatal(err)
	}
	for _, text := range append([]string{string(sampleText), string(src)}, roundTripInputs[4:7]...) {
		want, _, err := codec.Encode(text)
		if err != nil {
			t.Fatal(err)
		}
		got := tok.Encode([]byte(text))
		if len(got) != len(want) {
			t.Fatalf("%d ids, tiktoken-go gives %d for %.40q", len(got), len(want), text)
		}
		for i := range got {
			if uint(got[i]) != want[i] {
				t.Fatalf("id %d = %d, tiktoken-go gives %d for %.40q", i, got[i], want[i], text)
			}
		}
	}
}

func TestByteTokenizer(t *testing.T) {
	tok := ByteTokenizer{}
	all := make([]byte, 256)
	for i := range all {
		all[i] = byte(i)
	}
	ids := tok.Encode(all)
	for i, id := range ids {
		if id != int32(i) {
			t.Fatalf("Encode(byte %d) = %d", i, id)
		}
	}
	if got := tok.Decode(ids); !bytes.Equal([]byte(got), all) {
		t.Errorf("Decode of all bytes is not exact")
	}
}

func TestNewTokenizerErrors(t *testing.T) {
	c := &Corpus{Name: "sample", Text: sampleText}
	for _, tc := range []struct {
		spec   string
		corpus *Corpus
		want   string
	}{
		{"bpe:abc", c, "bpe:N needs an integer N >= 256"},
		{"bpe:10", c, "bpe:N needs an integer N >= 256"},
		{"bpe:", c, "bpe:N needs an integer N >= 256"},
		{"wordpiece", c, "unknown tokenizer \"wordpiece\": use one of byte, bpe:N, gpt2"},
		{"", c, "unknown tokenizer"},
		{"bpe:512", nil, "needs a non-empty corpus"},
	} {
		_, err := NewTokenizer(tc.spec, tc.corpus, "")
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("NewTokenizer(%q) error = %v, want it to contain %q", tc.spec, err, tc.want)
		}
	}
}
