package data

import (
	"encoding/binary"
	"errors"
	"fmt"
	"hash/crc32"
	"os"
	"path/filepath"
)

// Token cache files are a 32-byte header — magic "SFFNTOK1", id width in bytes (2 or 4, uint32),
// vocabulary size (uint32), id count (uint64), CRC-32C of the payload (uint32), 4 zero bytes — then
// the ids as little-endian uint16 (vocabulary <= 65536) or uint32. All integers are little-endian.
const (
	tokenMagic      = "SFFNTOK1"
	tokenHeaderSize = 32
	// tokenFormat changes the cache file names when encoding rules change, so old caches are ignored.
	tokenFormat = "v1"
)

var crcTable = crc32.MakeTable(crc32.Castagnoli)

// TokenCachePath is the file that caches the ids of corpus c under tokenizer tok: it is named from
// the corpus name, the tokenizer name and the corpus content hash.
func TokenCachePath(cacheDir string, c *Corpus, tok Tokenizer) string {
	return filepath.Join(cacheDir, "tokens", fmt.Sprintf("%s-%s-%s-%s.tok", sanitize(c.Name), sanitize(tok.Name()), c.Hash(), tokenFormat))
}

func writeTokenCache(path string, ids []int32, vocab int) error {
	width := 4
	if vocab <= 1<<16 {
		width = 2
	}
	buf := make([]byte, tokenHeaderSize+width*len(ids))
	payload := buf[tokenHeaderSize:]
	for i, id := range ids {
		if width == 2 {
			binary.LittleEndian.PutUint16(payload[2*i:], uint16(id))
		} else {
			binary.LittleEndian.PutUint32(payload[4*i:], uint32(id))
		}
	}
	copy(buf, tokenMagic)
	binary.LittleEndian.PutUint32(buf[8:], uint32(width))
	binary.LittleEndian.PutUint32(buf[12:], uint32(vocab))
	binary.LittleEndian.PutUint64(buf[16:], uint64(len(ids)))
	binary.LittleEndian.PutUint32(buf[24:], crc32.Checksum(payload, crcTable))
	return writeFileAtomic(path, buf)
}

// errBadCache marks a token cache file that must be rebuilt.
var errBadCache = errors.New("bad token cache")

// readTokenCache returns the ids in path, or an error if the file is missing, truncated, corrupt or
// for another vocabulary size.
func readTokenCache(path string, vocab int) ([]int32, error) {
	buf, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	if len(buf) < tokenHeaderSize || string(buf[:8]) != tokenMagic {
		return nil, fmt.Errorf("%w: %s has no header", errBadCache, path)
	}
	width := int(binary.LittleEndian.Uint32(buf[8:]))
	gotVocab := int(binary.LittleEndian.Uint32(buf[12:]))
	count := binary.LittleEndian.Uint64(buf[16:])
	sum := binary.LittleEndian.Uint32(buf[24:])
	payload := buf[tokenHeaderSize:]
	wantWidth := 4
	if vocab <= 1<<16 {
		wantWidth = 2
	}
	if width != wantWidth || gotVocab != vocab || count != uint64(len(payload)/width) || len(payload)%width != 0 {
		return nil, fmt.Errorf("%w: %s header does not match (width %d, vocab %d, count %d, %d payload bytes)", errBadCache, path, width, gotVocab, count, len(payload))
	}
	if crc32.Checksum(payload, crcTable) != sum {
		return nil, fmt.Errorf("%w: %s checksum mismatch", errBadCache, path)
	}
	ids := make([]int32, count)
	for i := range ids {
		var id uint32
		if width == 2 {
			id = uint32(binary.LittleEndian.Uint16(payload[2*i:]))
		} else {
			id = binary.LittleEndian.Uint32(payload[4*i:])
		}
		if int64(id) >= int64(vocab) {
			return nil, fmt.Errorf("%w: %s has id %d >= vocabulary %d", errBadCache, path, id, vocab)
		}
		ids[i] = int32(id)
	}
	return ids, nil
}
