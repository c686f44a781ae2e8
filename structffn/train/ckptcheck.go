package train

import (
	"compress/gzip"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strings"
)

// A checkpoint is two files: checkpoint-*.json, the variables' index, and checkpoint-*.bin, their
// values. Saves are atomic (ckptsave.go), but a checkpoints directory can still hold a partial pair:
// written in place by an older structffn or by GoMLX directly, or damaged on disk. These helpers find
// such a pair before the checkpoint handler loads the newest one, and move it aside.

// unreadableDir is where skipped checkpoints are moved, inside the checkpoints directory (nothing is
// deleted: a person decides).
const unreadableDir = "unreadable"

// checkCheckpoint reports why the checkpoint base (path without suffix) does not read back whole, or
// nil: its index must parse, and its values file must hold every variable the index lists (gzip
// streams are read to their end, which checks their length and CRC).
func checkCheckpoint(base string) error {
	raw, err := os.ReadFile(base + ".json")
	if err != nil {
		return err
	}
	var index struct {
		Variables []struct{ Pos, Length int }
		BinFormat string
	}
	if err := json.Unmarshal(raw, &index); err != nil {
		return fmt.Errorf("its index %s does not parse (%v)", filepath.Base(base)+".json", err)
	}
	need := 0
	for _, v := range index.Variables {
		need = max(need, v.Pos+v.Length)
	}
	f, err := os.Open(base + ".bin")
	if err != nil {
		return fmt.Errorf("its values file: %v", err)
	}
	defer f.Close()
	var r io.Reader = f
	const magic = "gomlx_checkpoints" // GoMLX's header of a compressed values file: magic, a length byte, "gzip"
	header := make([]byte, len(magic))
	if n, _ := io.ReadFull(f, header); n == len(magic) && string(header) == magic {
		var l [1]byte
		if _, err := io.ReadFull(f, l[:]); err != nil {
			return fmt.Errorf("its values file is cut short")
		}
		if _, err := io.CopyN(io.Discard, f, int64(l[0])); err != nil {
			return fmt.Errorf("its values file is cut short")
		}
		zr, err := gzip.NewReader(f)
		if err != nil {
			return fmt.Errorf("its values file is cut short (%v)", err)
		}
		r = zr
	} else if _, err := f.Seek(0, io.SeekStart); err != nil {
		return err
	}
	got, err := io.Copy(io.Discard, r)
	if err != nil {
		return fmt.Errorf("its values file is cut short (%v)", err)
	}
	if got < int64(need) {
		return fmt.Errorf("its values file holds %d of the %d bytes its index lists", got, need)
	}
	return nil
}

// skipUnreadableCheckpoints makes the newest checkpoint of dir that reads back whole the one GoMLX
// loads: newer ones that do not are moved into dir/unreadable/, with one line each on log saying
// which and why. When none reads back whole it moves nothing and returns an error naming the newest.
func skipUnreadableCheckpoints(dir string, log io.Writer) error {
	bases, err := checkpointBases(dir)
	if err != nil || len(bases) == 0 {
		return err
	}
	var bad []string
	var reasons []error
	for i := len(bases) - 1; i >= 0; i-- {
		base := bases[i]
		err := checkCheckpoint(base)
		if err == nil {
			break
		}
		bad, reasons = append(bad, base), append(reasons, err)
	}
	if len(bad) == len(bases) {
		return fmt.Errorf("checkpoint %s is unreadable: %v, and no older one reads back whole", filepath.Base(bad[0]), reasons[0])
	}
	if len(bad) == 0 {
		return nil
	}
	to := filepath.Join(dir, unreadableDir)
	if err := os.MkdirAll(to, 0o755); err != nil {
		return err
	}
	for i, base := range bad {
		for _, suffix := range []string{".json", ".bin"} {
			if err := os.Rename(base+suffix, filepath.Join(to, filepath.Base(base)+suffix)); err != nil && !os.IsNotExist(err) {
				return err
			}
		}
		fmt.Fprintf(log, "checkpoint %s skipped: %v (a save cut short?); moved to %s, resuming from the one before\n",
			filepath.Base(base), reasons[i], to)
	}
	return syncDir(dir)
}

// checkpointBases lists dir's checkpoints (paths without suffix) as GoMLX orders them: by the sequence
// number in their names, oldest first.
func checkpointBases(dir string) ([]string, error) {
	indexes, err := filepath.Glob(filepath.Join(dir, "checkpoint-*.json"))
	if err != nil {
		return nil, err
	}
	slices.Sort(indexes)
	for i := range indexes {
		indexes[i] = strings.TrimSuffix(indexes[i], ".json")
	}
	return indexes, nil
}

func syncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return err
	}
	defer d.Close()
	return d.Sync()
}
