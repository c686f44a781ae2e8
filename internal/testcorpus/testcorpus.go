// Package testcorpus writes small text corpora for tests: sentences of random words, the same for the
// same seed.
package testcorpus

import (
	"math/rand/v2"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// Write writes at least size bytes of sentences (4 to 11 of words each, drawn with seed) to
// corpus.txt in a temporary directory of t and returns its path.
func Write(t testing.TB, seed uint64, words string, size int) string {
	t.Helper()
	rng := rand.New(rand.NewPCG(seed, seed))
	vocab := strings.Fields(words)
	var b strings.Builder
	for b.Len() < size {
		n := 4 + rng.IntN(8)
		for i := range n {
			if i > 0 {
				b.WriteByte(' ')
			}
			b.WriteString(vocab[rng.IntN(len(vocab))])
		}
		b.WriteString(".\n")
	}
	path := filepath.Join(t.TempDir(), "corpus.txt")
	if err := os.WriteFile(path, []byte(b.String()), 0o644); err != nil {
		t.Fatal(err)
	}
	return path
}
