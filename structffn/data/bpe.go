package data

import (
	"bufio"
	"bytes"
	"container/heap"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
)

// Pair is one BPE merge: the tokens Left and Right, adjacent in a pre-split word, become one new token.
type Pair struct{ Left, Right int32 }

// BPE is a byte-level byte-pair-encoding tokenizer trained by this package (Sennrich et al. 2016, with
// GPT-2's byte-level alphabet and pre-split). Ids 0..255 are the bytes; merge i creates id 256+i.
type BPE struct {
	vocabSize int
	merges    []Pair
	ranks     map[uint64]int32 // pair key -> merge index
	pieces    [][]byte         // id -> bytes

	words wordCache // pre-split word -> ids
}

// maxWordCache bounds the encoder's word cache; it is cleared when full.
const maxWordCache = 1 << 20

// wordCache memoises the ids of pre-split pieces, for the BPE and GPT-2 encoders alike.
type wordCache struct {
	mu    sync.Mutex
	cache map[string][]int32
}

// encode pre-splits text and encodes each piece with encodePiece, reusing cached pieces.
func (c *wordCache) encode(text []byte, encodePiece func([]byte) []int32) []int32 {
	ids := make([]int32, 0, len(text)/3+1)
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.cache == nil {
		c.cache = make(map[string][]int32)
	}
	preSplit(text, func(piece []byte) {
		if cached, ok := c.cache[string(piece)]; ok {
			ids = append(ids, cached...)
			return
		}
		word := encodePiece(piece)
		if len(c.cache) >= maxWordCache {
			clear(c.cache)
		}
		c.cache[string(piece)] = word
		ids = append(ids, word...)
	})
	return ids
}

func pairKey(a, b int32) uint64 { return uint64(uint32(a))<<32 | uint64(uint32(b)) }

// NewBPE builds a tokenizer from learned merges; vocabSize must be at least 256+len(merges).
// Merge i must only use ids below 256+i.
func NewBPE(vocabSize int, merges []Pair) (*BPE, error) {
	if vocabSize < 256+len(merges) {
		return nil, fmt.Errorf("bpe: vocabulary size %d is too small for 256 bytes + %d merges", vocabSize, len(merges))
	}
	t := &BPE{
		vocabSize: vocabSize,
		merges:    merges,
		ranks:     make(map[uint64]int32, len(merges)),
		pieces:    make([][]byte, 256+len(merges)),
	}
	for b := range 256 {
		t.pieces[b] = []byte{byte(b)}
	}
	for i, m := range merges {
		next := int32(256 + i)
		if m.Left < 0 || m.Right < 0 || m.Left >= next || m.Right >= next {
			return nil, fmt.Errorf("bpe: merge %d (%d, %d) uses an id not defined before it", i, m.Left, m.Right)
		}
		key := pairKey(m.Left, m.Right)
		if _, dup := t.ranks[key]; dup {
			return nil, fmt.Errorf("bpe: merge %d (%d, %d) is a duplicate", i, m.Left, m.Right)
		}
		t.ranks[key] = int32(i)
		t.pieces[next] = slices.Concat(t.pieces[m.Left], t.pieces[m.Right])
	}
	return t, nil
}

// Name returns "bpe:N".
func (t *BPE) Name() string { return "bpe:" + strconv.Itoa(t.vocabSize) }

// VocabSize returns N, the number of ids (256 bytes + merges; ids beyond the learned merges, if
// training ran out of pairs, are never produced).
func (t *BPE) VocabSize() int { return t.vocabSize }

// Merges returns the learned merges in order (do not modify).
func (t *BPE) Merges() []Pair { return t.merges }

// Encode pre-splits text like GPT-2 and applies the merges by rank within each piece.
func (t *BPE) Encode(text []byte) []int32 { return t.words.encode(text, t.encodeWord) }

// encodeWord merges the bytes of one piece: repeatedly the adjacent pair of lowest rank, all its
// occurrences left to right. That equals applying the merges in training order.
func (t *BPE) encodeWord(piece []byte) []int32 {
	word := make([]int32, len(piece))
	for i, b := range piece {
		word[i] = int32(b)
	}
	for len(word) > 1 {
		best, bestRank := uint64(0), int32(-1)
		for i := 0; i+1 < len(word); i++ {
			k := pairKey(word[i], word[i+1])
			if r, ok := t.ranks[k]; ok && (bestRank < 0 || r < bestRank) {
				best, bestRank = k, r
			}
		}
		if bestRank < 0 {
			break
		}
		word = mergeWord(word, int32(best>>32), int32(uint32(best)), 256+bestRank)
	}
	return word
}

// mergeWord replaces the non-overlapping occurrences of (a, b), left to right, by z, in place.
func mergeWord(word []int32, a, b, z int32) []int32 {
	out := word[:0]
	for i := 0; i < len(word); i++ {
		if i+1 < len(word) && word[i] == a && word[i+1] == b {
			out = append(out, z)
			i++
			continue
		}
		out = append(out, word[i])
	}
	return out
}

// Decode concatenates the bytes of the ids; unknown ids decode to U+FFFD.
func (t *BPE) Decode(ids []int32) string {
	var sb strings.Builder
	for _, id := range ids {
		if id < 0 || int(id) >= len(t.pieces) {
			sb.WriteRune('\uFFFD')
			continue
		}
		sb.Write(t.pieces[id])
	}
	return sb.String()
}

// TrainBPE learns vocabSize-256 merges on text. Training is deterministic: the most frequent adjacent
// pair (counted within pre-split words, weighted by word frequency) is merged next, ties going to the
// lowest (Left, Right) ids. Merges of a smaller vocabulary are therefore a prefix of a larger one's.
// Training stops early if no adjacent pair is left.
func TrainBPE(text []byte, vocabSize int) ([]Pair, error) {
	if vocabSize < 256 {
		return nil, fmt.Errorf("bpe: vocabulary size %d < 256 (the byte alphabet): use bpe:N with N >= 256", vocabSize)
	}
	// Unique pre-split words with their frequencies.
	freq := make(map[string]int64)
	preSplit(text, func(piece []byte) {
		if len(piece) > 1 {
			freq[string(piece)]++
		}
	})
	keys := make([]string, 0, len(freq))
	for k := range freq {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	words := make([][]int32, len(keys))
	counts := make([]int64, len(keys))
	for w, k := range keys {
		word := make([]int32, len(k))
		for i := range len(k) {
			word[i] = int32(k[i])
		}
		words[w], counts[w] = word, freq[k]
	}
	freq = nil

	// Pair counts, the words each pair occurs in (may hold stale or repeated entries), and a
	// max-heap of (count, pair) with lazy deletion: entries whose count no longer matches are skipped.
	pairs := make(map[uint64]int64)
	where := make(map[uint64][]int32)
	for w, word := range words {
		for i := 0; i+1 < len(word); i++ {
			k := pairKey(word[i], word[i+1])
			pairs[k] += counts[w]
			if l := where[k]; len(l) == 0 || l[len(l)-1] != int32(w) {
				where[k] = append(l, int32(w))
			}
		}
	}
	h := &pairHeap{}
	for k, c := range pairs {
		h.items = append(h.items, pairCount{k, c})
	}
	heap.Init(h)

	numMerges := vocabSize - 256
	merges := make([]Pair, 0, numMerges)
	seen := make([]int32, len(words)) // stamp of the last merge that visited each word
	for len(merges) < numMerges && h.Len() > 0 {
		top := heap.Pop(h).(pairCount)
		if c, ok := pairs[top.key]; !ok || c != top.count || c <= 0 {
			continue // stale entry
		}
		a, b := int32(top.key>>32), int32(uint32(top.key))
		z := int32(256 + len(merges))
		merges = append(merges, Pair{a, b})
		stamp := int32(len(merges))
		changed := make(map[uint64]struct{})
		for _, w := range where[top.key] {
			if seen[w] == stamp {
				continue
			}
			seen[w] = stamp
			word, c := words[w], counts[w]
			if !containsPair(word, a, b) {
				continue
			}
			for i := 0; i+1 < len(word); i++ {
				k := pairKey(word[i], word[i+1])
				pairs[k] -= c
				changed[k] = struct{}{}
			}
			word = mergeWord(word, a, b, z)
			words[w] = word
			for i := 0; i+1 < len(word); i++ {
				k := pairKey(word[i], word[i+1])
				pairs[k] += c
				changed[k] = struct{}{}
				if word[i] == z || word[i+1] == z {
					if l := where[k]; len(l) == 0 || l[len(l)-1] != int32(w) {
						where[k] = append(l, int32(w))
					}
				}
			}
		}
		delete(pairs, top.key)
		delete(where, top.key)
		for k := range changed {
			c, ok := pairs[k]
			if !ok {
				continue
			}
			if c <= 0 {
				delete(pairs, k)
				delete(where, k)
				continue
			}
			heap.Push(h, pairCount{k, c})
		}
	}
	return merges, nil
}

func containsPair(word []int32, a, b int32) bool {
	for i := 0; i+1 < len(word); i++ {
		if word[i] == a && word[i+1] == b {
			return true
		}
	}
	return false
}

type pairCount struct {
	key   uint64
	count int64
}

// pairHeap orders by count descending, then by pair key ascending (the deterministic tie rule).
type pairHeap struct{ items []pairCount }

func (h *pairHeap) Len() int { return len(h.items) }
func (h *pairHeap) Less(i, j int) bool {
	if h.items[i].count != h.items[j].count {
		return h.items[i].count > h.items[j].count
	}
	return h.items[i].key < h.items[j].key
}
func (h *pairHeap) Swap(i, j int) { h.items[i], h.items[j] = h.items[j], h.items[i] }
func (h *pairHeap) Push(x any)    { h.items = append(h.items, x.(pairCount)) }
func (h *pairHeap) Pop() any {
	x := h.items[len(h.items)-1]
	h.items = h.items[:len(h.items)-1]
	return x
}

// bpeMagic starts a merges file; the format is one header line, then one "left right" line per merge.
const bpeMagic = "structffn-bpe-merges v1"

// loadOrTrainBPE returns the bpe:vocabSize tokenizer for corpus, reading learned merges from
// cacheDir/bpe when present and valid, else training and saving them (cacheDir "" disables caching).
func loadOrTrainBPE(vocabSize int, corpus *Corpus, cacheDir string) (*BPE, error) {
	var path string
	if cacheDir != "" {
		path = filepath.Join(cacheDir, "bpe", fmt.Sprintf("%s-%s-%d.merges", sanitize(corpus.Name), corpus.Hash(), vocabSize))
		if merges, err := readMerges(path, vocabSize); err == nil {
			return NewBPE(vocabSize, merges)
		}
	}
	merges, err := TrainBPE(corpus.Text, vocabSize)
	if err != nil {
		return nil, err
	}
	t, err := NewBPE(vocabSize, merges)
	if err != nil {
		return nil, err
	}
	if path != "" {
		var buf bytes.Buffer
		fmt.Fprintf(&buf, "%s vocab=%d merges=%d\n", bpeMagic, vocabSize, len(merges))
		for _, m := range merges {
			fmt.Fprintf(&buf, "%d %d\n", m.Left, m.Right)
		}
		if err := writeFileAtomic(path, buf.Bytes()); err != nil {
			return nil, err
		}
	}
	return t, nil
}

// readMerges reads a merges file written by loadOrTrainBPE; any damage is an error.
func readMerges(path string, vocabSize int) ([]Pair, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	if !sc.Scan() {
		return nil, fmt.Errorf("%s: empty", path)
	}
	var gotVocab, n int
	if _, err := fmt.Sscanf(sc.Text(), bpeMagic+" vocab=%d merges=%d", &gotVocab, &n); err != nil || gotVocab != vocabSize || n < 0 || n > vocabSize-256 {
		return nil, fmt.Errorf("%s: bad header %q", path, sc.Text())
	}
	merges := make([]Pair, 0, n)
	for sc.Scan() {
		var m Pair
		if _, err := fmt.Sscanf(sc.Text(), "%d %d", &m.Left, &m.Right); err != nil {
			return nil, fmt.Errorf("%s: bad line %q", path, sc.Text())
		}
		merges = append(merges, m)
	}
	if err := sc.Err(); err != nil {
		return nil, err
	}
	if len(merges) != n {
		return nil, fmt.Errorf("%s: %d merges, header says %d", path, len(merges), n)
	}
	if _, err := NewBPE(vocabSize, merges); err != nil {
		return nil, err
	}
	return merges, nil
}
