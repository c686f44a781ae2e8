package train

import (
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"

	"github.com/gomlx/gomlx/pkg/ml/context"
	"github.com/gomlx/gomlx/pkg/ml/context/checkpoints"

	"github.com/structffn/structffn/internal/errline"
)

// Atomic checkpoint saves. GoMLX's checkpoints.Handler writes a checkpoint's two files under their
// final names, so a kill during a save would leave a partial pair among the good ones. Training
// therefore points its handler at a staging directory inside the checkpoints directory: a save is
// written there, flushed to disk, and then renamed into place, values file first and index last
// (GoMLX lists a checkpoint by its index), after which the checkpoints directory itself is flushed. A
// checkpoint in checkpoints/ is thus always whole; what a kill leaves behind sits in staging, which the
// next start clears (a save cut short between its two renames is completed: skipOrphanValues).
//
// The handler loads what is in its own directory, so on start the newest checkpoint is hard-linked
// (copied where links are not supported) into staging; GoMLX's sequence numbering then continues from
// it, and the handler's Keep(1) drops that link after the first save. Checkpoints other than the last
// keepCheckpoints are removed from checkpoints/ after each save, as GoMLX's Keep would.

// stagingDir is the staging directory's name inside the checkpoints directory. GoMLX skips
// directories when listing checkpoints, and the name matches no checkpoint glob.
const stagingDir = ".saving"

// keepCheckpoints is how many checkpoints a run directory keeps.
const keepCheckpoints = 3

// openCheckpoints moves aside what a save cut short left in dir (the checkpoints directory), prepares
// the staging directory with dir's newest checkpoint and returns the handler, which has loaded it
// into ctx (variables on first use, as GoMLX does).
func openCheckpoints(ctx *context.Context, dir string, log io.Writer) (*checkpoints.Handler, error) {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, err
	}
	if err := skipOrphanValues(dir, log); err != nil {
		return nil, err
	}
	if err := skipUnreadableCheckpoints(dir, log); err != nil {
		return nil, fmt.Errorf("%v; it was left untouched: move %s away to start fresh, or use another -out", err, dir)
	}
	staging := filepath.Join(dir, stagingDir)
	// Staging holds only a link to a checkpoint of dir and what a save cut short wrote: nothing that
	// is not also, whole, in dir.
	if err := os.RemoveAll(staging); err != nil {
		return nil, fmt.Errorf("clearing %s: %v", staging, err)
	}
	if err := os.Mkdir(staging, 0o755); err != nil {
		return nil, err
	}
	bases, err := checkpointBases(dir)
	if err != nil {
		return nil, err
	}
	if len(bases) > 0 {
		newest := bases[len(bases)-1]
		for _, suffix := range []string{checkpoints.BinDataSuffix, checkpoints.JsonNameSuffix} {
			if err := linkOrCopy(newest+suffix, filepath.Join(staging, filepath.Base(newest)+suffix)); err != nil {
				return nil, fmt.Errorf("preparing %s: %v", staging, err)
			}
		}
	}
	h, err := checkpoints.Build(ctx).Dir(staging).Keep(1).Done()
	if err != nil {
		return nil, fmt.Errorf("checkpoint in %s is unreadable (corrupt or truncated?): %v; it was left untouched: move it away to start fresh, or use another -out",
			dir, errline.First(err))
	}
	return h, nil
}

// commitCheckpoint moves the save that the handler just wrote into staging to dir, durably: both files
// flushed, the values file renamed, then the index, then dir flushed; then only the newest
// keepCheckpoints are kept.
func commitCheckpoint(dir string) error {
	staged, err := checkpointBases(filepath.Join(dir, stagingDir))
	if err != nil {
		return err
	}
	if len(staged) == 0 {
		return fmt.Errorf("checkpoint save left nothing in %s", filepath.Join(dir, stagingDir))
	}
	base := staged[len(staged)-1]
	final := filepath.Join(dir, filepath.Base(base))
	for _, suffix := range []string{checkpoints.BinDataSuffix, checkpoints.JsonNameSuffix} {
		if err := syncFile(base + suffix); err != nil {
			return err
		}
	}
	for _, suffix := range []string{checkpoints.BinDataSuffix, checkpoints.JsonNameSuffix} {
		if err := os.Rename(base+suffix, final+suffix); err != nil {
			return err
		}
	}
	if err := syncDir(dir); err != nil {
		return err
	}
	return pruneCheckpoints(dir, keepCheckpoints)
}

// pruneCheckpoints removes all but dir's newest keep checkpoints, each index before its values file
// (so that no listed checkpoint lacks its values).
func pruneCheckpoints(dir string, keep int) error {
	bases, err := checkpointBases(dir)
	if err != nil || len(bases) <= keep {
		return err
	}
	for _, base := range bases[:len(bases)-keep] {
		for _, suffix := range []string{checkpoints.JsonNameSuffix, checkpoints.BinDataSuffix} {
			if err := os.Remove(base + suffix); err != nil && !os.IsNotExist(err) {
				return err
			}
		}
	}
	return syncDir(dir)
}

// skipOrphanValues deals with values files of dir that have no index, each with one line on log:
//
//   - the index is still in staging (a kill between a save's two renames): the save is completed, the
//     index renamed into place;
//   - the file is older than dir's newest checkpoint (a kill while pruning, which removes the index
//     first): the prune is completed, the file removed;
//   - otherwise (not something a save or prune leaves): moved into dir/unreadable.
func skipOrphanValues(dir string, log io.Writer) error {
	values, err := filepath.Glob(filepath.Join(dir, "checkpoint-*"+checkpoints.BinDataSuffix))
	if err != nil {
		return err
	}
	for _, v := range values {
		base := strings.TrimSuffix(v, checkpoints.BinDataSuffix)
		if _, err := os.Stat(base + checkpoints.JsonNameSuffix); !os.IsNotExist(err) {
			continue
		}
		name := filepath.Base(base)
		staged := filepath.Join(dir, stagingDir, name+checkpoints.JsonNameSuffix)
		if _, err := os.Stat(staged); err == nil {
			if err := syncFile(staged); err != nil {
				return err
			}
			if err := os.Rename(staged, base+checkpoints.JsonNameSuffix); err != nil {
				return err
			}
			fmt.Fprintf(log, "checkpoint %s: its save was cut short between its two renames; completed\n", name)
			continue
		}
		bases, err := checkpointBases(dir)
		if err != nil {
			return err
		}
		if len(bases) > 0 && name < filepath.Base(bases[len(bases)-1]) {
			if err := os.Remove(v); err != nil {
				return err
			}
			fmt.Fprintf(log, "checkpoint %s: removing it (one of the oldest) was cut short; completed\n", name)
			continue
		}
		to := filepath.Join(dir, unreadableDir)
		if err := os.MkdirAll(to, 0o755); err != nil {
			return err
		}
		if err := os.Rename(v, filepath.Join(to, filepath.Base(v))); err != nil {
			return err
		}
		fmt.Fprintf(log, "checkpoint values file %s has no index; moved to %s\n", filepath.Base(v), to)
	}
	return syncDir(dir)
}

// linkOrCopy makes to hold from's contents: a hard link, or a copy (written to a temporary name and
// renamed) on file systems without links.
func linkOrCopy(from, to string) error {
	if os.Link(from, to) == nil {
		return nil
	}
	in, err := os.Open(from)
	if err != nil {
		return err
	}
	defer in.Close()
	tmp := to + ".tmp"
	out, err := os.Create(tmp)
	if err != nil {
		return err
	}
	if _, err := io.Copy(out, in); err != nil {
		out.Close()
		return err
	}
	if err := out.Close(); err != nil {
		return err
	}
	return os.Rename(tmp, to)
}

// syncFile flushes path's contents to disk.
func syncFile(path string) error {
	f, err := os.Open(path)
	if err != nil {
		return err
	}
	err = f.Sync()
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	return err
}
