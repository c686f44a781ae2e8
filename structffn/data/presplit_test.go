package data

import (
	"bytes"
	"encoding/json"
	"math/rand/v2"
	"os"
	"path/filepath"
	"slices"
	"testing"
)

func split(text string) []string {
	var out []string
	preSplit([]byte(text), func(p []byte) { out = append(out, string(p)) })
	return out
}

// TestPreSplitMatchesGPT2 compares preSplit with GPT-2's regular expression as Python's regex module
// applies it (testdata/gen_presplit.py wrote the golden file).
func TestPreSplitMatchesGPT2(t *testing.T) {
	raw, err := os.ReadFile(filepath.Join("testdata", "presplit.json"))
	if err != nil {
		t.Fatal(err)
	}
	var cases []struct {
		Text   string
		Pieces []string
	}
	if err := json.Unmarshal(raw, &cases); err != nil {
		t.Fatal(err)
	}
	bad := 0
	for _, tc := range cases {
		if got := split(tc.Text); !slices.Equal(got, tc.Pieces) {
			bad++
			t.Errorf("preSplit(%q) = %q, want %q", tc.Text, got, tc.Pieces)
		}
	}
	t.Logf("%d/%d strings split as GPT-2 does", len(cases)-bad, len(cases))
}

// Invalid UTF-8 has no reference; its bytes count as "other" characters.
func TestPreSplitInvalidUTF8(t *testing.T) {
	for _, tc := range []struct {
		text string
		want []string
	}{
		{"\xff\xfeab", []string{"\xff\xfe", "ab"}},
		{"a \xffb", []string{"a", " \xff", "b"}},
		{"'\xc3", []string{"'\xc3"}},
	} {
		if got := split(tc.text); !slices.Equal(got, tc.want) {
			t.Errorf("preSplit(%q) = %q, want %q", tc.text, got, tc.want)
		}
	}
}

func TestPreSplitPartitionsAnyBytes(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	alphabet := []byte("ab 1\t\n'.,é\xff\xc3")
	for range 200 {
		text := make([]byte, rng.IntN(64))
		for i := range text {
			text[i] = alphabet[rng.IntN(len(alphabet))]
		}
		var joined []byte
		preSplit(text, func(p []byte) {
			if len(p) == 0 {
				t.Fatalf("empty piece in %q", text)
			}
			joined = append(joined, p...)
		})
		if !bytes.Equal(joined, text) {
			t.Fatalf("pieces of %q join to %q", text, joined)
		}
	}
}
