package data

import (
	"os"
	"path/filepath"
	"slices"
	"testing"
)

// naiveTrain is a reference trainer written the slow, obvious way: recount every pair before each
// merge. TrainBPE must learn exactly the same merges.
func naiveTrain(text []byte, vocabSize int) []Pair {
	var words [][]int32
	preSplit(text, func(p []byte) {
		w := make([]int32, len(p))
		for i, b := range p {
			w[i] = int32(b)
		}
		words = append(words, w)
	})
	var merges []Pair
	for len(merges) < vocabSize-256 {
		counts := map[Pair]int{}
		for _, w := range words {
			for i := 0; i+1 < len(w); i++ {
				counts[Pair{w[i], w[i+1]}]++
			}
		}
		best, bestN := Pair{}, 0
		for p, n := range counts {
			if n > bestN || n == bestN && (p.Left < best.Left || p.Left == best.Left && p.Right < best.Right) {
				best, bestN = p, n
			}
		}
		if bestN == 0 {
			break
		}
		z := int32(256 + len(merges))
		merges = append(merges, best)
		for i, w := range words {
			words[i] = mergeWord(w, best.Left, best.Right, z)
		}
	}
	return merges
}

func TestTrainBPEMatchesNaive(t *testing.T) {
	for _, n := range []int{256, 300, 600, 5000} {
		got, err := TrainBPE(sampleText, n)
		if err != nil {
			t.Fatal(err)
		}
		want := naiveTrain(sampleText, n)
		if !slices.Equal(got, want) {
			t.Errorf("bpe:%d: %d merges differ from the reference's %d", n, len(got), len(want))
		}
	}
}

func TestTrainBPEDeterministicAndNested(t *testing.T) {
	a, _ := TrainBPE(sampleText, 400)
	b, _ := TrainBPE(sampleText, 400)
	if !slices.Equal(a, b) {
		t.Fatal("two trainings of bpe:400 differ")
	}
	small, _ := TrainBPE(sampleText, 320)
	if !slices.Equal(a[:len(small)], small) {
		t.Error("the merges of bpe:320 are not a prefix of those of bpe:400")
	}
}

func TestBPECompresses(t *testing.T) {
	// Train on the first half, measure on the whole text.
	c := &Corpus{Name: "sample", Text: sampleText[:len(sampleText)/2]}
	tok, err := NewTokenizer("bpe:400", c, "")
	if err != nil {
		t.Fatal(err)
	}
	for _, text := range []string{string(sampleText), "The brown dog jumps over the quick fox.", "if err != nil {\n\t\treturn err\n\t}"} {
		ids := tok.Encode([]byte(text))
		if len(ids) >= len(text) {
			t.Errorf("%d tokens for %d bytes of %.30q: no compression", len(ids), len(text), text)
		}
		t.Logf("%.2f bytes/token on %.30q", float64(len(text))/float64(len(ids)), text)
	}
}

func TestBPEMergesCache(t *testing.T) {
	dir := t.TempDir()
	c := &Corpus{Name: "file:/some/where.txt", Text: sampleText}
	tok1, err := NewTokenizer("bpe:400", c, dir)
	if err != nil {
		t.Fatal(err)
	}
	files, _ := filepath.Glob(filepath.Join(dir, "bpe", "*.merges"))
	if len(files) != 1 {
		t.Fatalf("%d merges files in the cache, want 1", len(files))
	}
	tok2, err := NewTokenizer("bpe:400", c, dir)
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(tok1.(*BPE).Merges(), tok2.(*BPE).Merges()) {
		t.Fatal("merges reloaded from the cache differ")
	}
	// A damaged merges file is ignored and rewritten.
	if err := os.WriteFile(files[0], []byte("structffn-bpe-merges v1 vocab=400 merges=144\n1 2\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	tok3, err := NewTokenizer("bpe:400", c, dir)
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(tok1.(*BPE).Merges(), tok3.(*BPE).Merges()) {
		t.Fatal("merges after a damaged cache differ")
	}
	if _, err := readMerges(files[0], 400); err != nil {
		t.Errorf("damaged merges file was not rewritten: %v", err)
	}
}

func TestNewBPEErrors(t *testing.T) {
	for _, tc := range []struct {
		name   string
		vocab  int
		merges []Pair
	}{
		{"too small", 256, []Pair{{1, 2}}},
		{"future id", 300, []Pair{{1, 256}}},
		{"negative id", 300, []Pair{{-1, 2}}},
		{"duplicate", 300, []Pair{{1, 2}, {1, 2}}},
	} {
		if _, err := NewBPE(tc.vocab, tc.merges); err == nil {
			t.Errorf("%s: NewBPE accepted %v", tc.name, tc.merges)
		}
	}
}
