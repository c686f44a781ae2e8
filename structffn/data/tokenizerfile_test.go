package data

import (
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

func TestSaveLoadTokenizerRoundTrip(t *testing.T) {
	for _, tok := range newTestTokenizers(t) {
		t.Run(tok.Name(), func(t *testing.T) {
			dir := t.TempDir()
			if err := SaveTokenizer(dir, tok); err != nil {
				t.Fatal(err)
			}
			got, err := LoadTokenizer(dir)
			if err != nil {
				t.Fatal(err)
			}
			if got.Name() != tok.Name() || got.VocabSize() != tok.VocabSize() {
				t.Fatalf("loaded %s (vocab %d), saved %s (vocab %d)", got.Name(), got.VocabSize(), tok.Name(), tok.VocabSize())
			}
			for _, text := range roundTripInputs {
				want := tok.Encode([]byte(text))
				if ids := got.Encode([]byte(text)); !slices.Equal(ids, want) {
					t.Errorf("Encode(%.30q): loaded %v, saved %v", text, ids, want)
				}
				if s := got.Decode(want); s != text {
					t.Errorf("Decode(Encode(%.30q)) = %.30q", text, s)
				}
			}
			if bpe, ok := tok.(*BPE); ok && !slices.Equal(got.(*BPE).Merges(), bpe.Merges()) {
				t.Errorf("merges differ after the round trip")
			}
		})
	}
}

func TestLoadTokenizerErrors(t *testing.T) {
	for _, tc := range []struct {
		name, content string // content "" leaves the file missing
		want          string
		notExist      bool
	}{
		{"missing", "", "no tokenizer.json in", true},
		{"not json", "{merges", "not valid JSON", false},
		{"truncated", `{"format":"structffn-tokenizer v1","name":"bpe:300","vocab_size":300,"merges":[[104,1`, "not valid JSON", false},
		{"other format", `{"format":"v0","name":"byte","vocab_size":256}`, "format", false},
		{"unknown name", `{"format":"structffn-tokenizer v1","name":"wordpiece","vocab_size":256}`, "unknown tokenizer", false},
		{"bad merge", `{"format":"structffn-tokenizer v1","name":"bpe:300","vocab_size":300,"merges":[[104,400]]}`, "not defined before it", false},
		{"vocab mismatch", `{"format":"structffn-tokenizer v1","name":"byte","vocab_size":512}`, "vocab_size 512", false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			if tc.content != "" {
				if err := os.WriteFile(filepath.Join(dir, TokenizerFile), []byte(tc.content), 0o644); err != nil {
					t.Fatal(err)
				}
			}
			_, err := LoadTokenizer(dir)
			if err == nil || !strings.Contains(err.Error(), tc.want) || strings.Contains(err.Error(), "\n") {
				t.Fatalf("error %v, want one line containing %q", err, tc.want)
			}
			if !strings.Contains(err.Error(), dir) {
				t.Errorf("error %v does not name the run directory", err)
			}
			if got := errors.Is(err, fs.ErrNotExist); got != tc.notExist {
				t.Errorf("errors.Is(err, fs.ErrNotExist) = %v, want %v", got, tc.notExist)
			}
		})
	}
}
