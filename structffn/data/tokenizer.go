package data

import (
	"fmt"
	"strconv"
	"strings"
	"sync"
	"unicode/utf8"

	"github.com/tiktoken-go/tokenizer"
)

// Tokenizer turns bytes into token ids and back.
type Tokenizer interface {
	// Name is the spec that builds this tokenizer: "byte", "bpe:512", "gpt2".
	Name() string
	// VocabSize is the number of ids; every id is in [0, VocabSize).
	VocabSize() int
	// Encode tokenises text.
	Encode(text []byte) []int32
	// Decode returns the bytes of ids as a string (which may be invalid UTF-8 for a partial sequence);
	// Decode(Encode(x)) == string(x) for any x.
	Decode(ids []int32) string
}

// TokenizerInfo describes one accepted tokenizer spec form.
type TokenizerInfo struct {
	Form, Description string
}

// TokenizerForms lists the accepted tokenizer specs with a one-line description each.
func TokenizerForms() []TokenizerInfo {
	return []TokenizerInfo{
		{"byte", "256 ids, one per byte"},
		{"bpe:N", "byte-level BPE with N >= 256 ids, trained on the corpus (GPT-2 pre-split), cached"},
		{"gpt2", "GPT-2's BPE (r50k_base, 50257 ids), compiled in"},
	}
}

func tokenizerFormList() string {
	var names []string
	for _, f := range TokenizerForms() {
		names = append(names, f.Form)
	}
	return strings.Join(names, ", ")
}

// NewTokenizer builds a tokenizer by spec: "byte", "bpe:N" (trained on corpus, with the learned merges
// cached under cacheDir/bpe; cacheDir "" trains without caching) or "gpt2".
func NewTokenizer(spec string, corpus *Corpus, cacheDir string) (Tokenizer, error) {
	switch {
	case spec == "byte":
		return ByteTokenizer{}, nil
	case spec == "gpt2":
		return newGPT2()
	case strings.HasPrefix(spec, "bpe:"):
		n, err := strconv.Atoi(strings.TrimPrefix(spec, "bpe:"))
		if err != nil || n < 256 {
			return nil, fmt.Errorf("bad tokenizer %q: bpe:N needs an integer N >= 256 (the byte alphabet), e.g. bpe:1024", spec)
		}
		if corpus == nil || len(corpus.Text) == 0 {
			return nil, fmt.Errorf("tokenizer %s needs a non-empty corpus to train on", spec)
		}
		return loadOrTrainBPE(n, corpus, cacheDir)
	}
	return nil, fmt.Errorf("unknown tokenizer %q: use one of %s", spec, tokenizerFormList())
}

// ByteTokenizer maps each byte to its own id.
type ByteTokenizer struct{}

// Name returns "byte".
func (ByteTokenizer) Name() string { return "byte" }

// VocabSize returns 256.
func (ByteTokenizer) VocabSize() int { return 256 }

// Encode returns one id per byte.
func (ByteTokenizer) Encode(text []byte) []int32 {
	ids := make([]int32, len(text))
	for i, b := range text {
		ids[i] = int32(b)
	}
	return ids
}

// Decode returns the bytes; ids outside [0, 256) decode to U+FFFD.
func (ByteTokenizer) Decode(ids []int32) string {
	var sb strings.Builder
	sb.Grow(len(ids))
	for _, id := range ids {
		if id < 0 || id > 255 {
			sb.WriteRune('\uFFFD')
			continue
		}
		sb.WriteByte(byte(id))
	}
	return sb.String()
}

// GPT2 is GPT-2's tokenizer (r50k_base) from github.com/tiktoken-go/tokenizer. Text is pre-split by
// this package's scanner of the same pattern; each valid UTF-8 piece is encoded by tiktoken-go (with
// a word cache), and bytes of invalid UTF-8 by GPT-2's single-byte tokens, so any bytes round-trip.
type GPT2 struct {
	codec  tokenizer.Codec
	byteID [256]int32

	words wordCache
}

var (
	gpt2Once  sync.Once
	gpt2Byte  [256]int32
	gpt2Error error
)

func newGPT2() (*GPT2, error) {
	codec, err := tokenizer.Get(tokenizer.R50kBase)
	if err != nil {
		return nil, fmt.Errorf("gpt2 tokenizer: %w", err)
	}
	// GPT-2's first 256 ids are its single bytes (in its printable-first order); read that table
	// from the vocabulary instead of re-deriving it.
	gpt2Once.Do(func() {
		var found [256]bool
		for id := range 256 {
			s, err := codec.Decode([]uint{uint(id)})
			if err != nil || len(s) != 1 {
				gpt2Error = fmt.Errorf("gpt2 tokenizer: id %d is not a single byte (%q, %v)", id, s, err)
				return
			}
			gpt2Byte[s[0]], found[s[0]] = int32(id), true
		}
		for b, ok := range found {
			if !ok {
				gpt2Error = fmt.Errorf("gpt2 tokenizer: no single-byte token for byte %d", b)
				return
			}
		}
	})
	if gpt2Error != nil {
		return nil, gpt2Error
	}
	return &GPT2{codec: codec, byteID: gpt2Byte}, nil
}

// Name returns "gpt2".
func (*GPT2) Name() string { return "gpt2" }

// VocabSize returns 50257.
func (*GPT2) VocabSize() int { return 50257 }

// Encode tokenises text as GPT-2 does (Encode("Hello world") = [15496 995]).
func (t *GPT2) Encode(text []byte) []int32 { return t.words.encode(text, t.encodePiece) }

func (t *GPT2) encodePiece(piece []byte) []int32 {
	var out []int32
	for len(piece) > 0 {
		// The longest valid UTF-8 prefix goes to tiktoken; an invalid byte becomes its byte token.
		n := 0
		for n < len(piece) {
			r, w := utf8.DecodeRune(piece[n:])
			if r == utf8.RuneError && w <= 1 {
				break
			}
			n += w
		}
		if n == 0 {
			out = append(out, t.byteID[piece[0]])
			piece = piece[1:]
			continue
		}
		out = t.appendValid(out, piece[:n], true)
		piece = piece[n:]
	}
	return out
}

// appendValid appends the ids of valid UTF-8 text. tiktoken-go v0.10.0 silently drops some characters
// (U+007F DEL, for one), so its output is checked against the input's length; on a mismatch the text
// is encoded one rune at a time (whole if splitRunes is false), and a rune it still drops by its bytes.
func (t *GPT2) appendValid(out []int32, text []byte, splitRunes bool) []int32 {
	ids, toks, err := t.codec.Encode(string(text))
	n := 0
	for _, tok := range toks {
		n += len(tok)
	}
	if err == nil && n == len(text) && len(ids) == len(toks) {
		for _, id := range ids {
			out = append(out, int32(id))
		}
		return out
	}
	if !splitRunes {
		for _, b := range text {
			out = append(out, t.byteID[b])
		}
		return out
	}
	for i := 0; i < len(text); {
		_, w := utf8.DecodeRune(text[i:])
		out = t.appendValid(out, text[i:i+w], false)
		i += w
	}
	return out
}

// Decode returns the bytes of ids; unknown ids decode to U+FFFD.
func (t *GPT2) Decode(ids []int32) string {
	var sb strings.Builder
	one := make([]uint, 1)
	for _, id := range ids {
		one[0] = uint(id)
		s, err := t.codec.Decode(one)
		if id < 0 || err != nil {
			sb.WriteRune('\uFFFD')
			continue
		}
		sb.WriteString(s)
	}
	return sb.String()
}

// SpecVocabSize is the vocabulary a tokenizer spec gives, without building the tokenizer: 256 for
// byte, GPT-2's for gpt2, N for bpe:N. ok is false for a spec it cannot tell.
func SpecVocabSize(spec string) (n int, ok bool) {
	switch {
	case spec == "byte":
		return ByteTokenizer{}.VocabSize(), true
	case spec == "gpt2":
		return (*GPT2)(nil).VocabSize(), true
	case strings.HasPrefix(spec, "bpe:"):
		n, err := strconv.Atoi(strings.TrimPrefix(spec, "bpe:"))
		return n, err == nil
	}
	return 0, false
}
