package data

import (
	"archive/tar"
	"bytes"
	"compress/gzip"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func writeFiles(t *testing.T, dir string, files map[string]string) {
	t.Helper()
	for name, text := range files {
		path := filepath.Join(dir, filepath.FromSlash(name))
		if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(path, []byte(text), 0o644); err != nil {
			t.Fatal(err)
		}
	}
}

func TestOpenCorpusFileAndDir(t *testing.T) {
	dir := t.TempDir()
	writeFiles(t, dir, map[string]string{
		"b.txt":        "second",
		"a/one.txt":    "first\n",
		".git/config":  "hidden",
		"z/binary.bin": "bin\x00ary",
	})
	c, err := OpenCorpus("dir:"+dir, t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	if got, want := string(c.Text), "first\nsecond\n"; got != want {
		t.Errorf("dir corpus = %q, want %q", got, want)
	}
	c, err = OpenCorpus("file:"+filepath.Join(dir, "b.txt"), "")
	if err != nil {
		t.Fatal(err)
	}
	if string(c.Text) != "second" || c.Name != "file:"+filepath.Join(dir, "b.txt") {
		t.Errorf("file corpus = %q named %q", c.Text, c.Name)
	}
}

func TestOpenCorpusErrors(t *testing.T) {
	dir := t.TempDir()
	writeFiles(t, dir, map[string]string{"empty.txt": ""})
	for _, tc := range []struct{ name, want string }{
		{"shakespeare", `unknown corpus "shakespeare": use one of gosrc, sotu, brown, file:PATH, dir:PATH`},
		{"file:" + filepath.Join(dir, "missing.txt"), "give an existing text file"},
		{"file:", "needs a path"},
		{"dir:" + filepath.Join(dir, "missing"), "give an existing directory"},
		{"dir:" + filepath.Join(dir, "empty.txt"), "not a directory"},
		{"file:" + filepath.Join(dir, "empty.txt"), "is empty"},
	} {
		_, err := OpenCorpus(tc.name, dir)
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("OpenCorpus(%q) error = %v, want it to contain %q", tc.name, err, tc.want)
		}
	}
}

func TestGoSrcCapped(t *testing.T) {
	defer func(old int64) { MaxCorpusBytes = old }(MaxCorpusBytes)
	MaxCorpusBytes = 200 << 10
	a, err := OpenCorpus("gosrc", t.TempDir())
	if err != nil {
		t.Skipf("no Go source here: %v", err)
	}
	b, _ := OpenCorpus("", t.TempDir())
	if !bytes.Equal(a.Text, b.Text) || a.Hash() != b.Hash() {
		t.Error("gosrc is not deterministic")
	}
	if n := int64(len(a.Text)); n > MaxCorpusBytes || n < MaxCorpusBytes/2 {
		t.Errorf("gosrc has %d bytes with a cap of %d", n, MaxCorpusBytes)
	}
	if !bytes.HasPrefix(a.Text, []byte("// file: archive/")) {
		t.Errorf("gosrc starts with %.40q, want the first file by path", a.Text)
	}
	if bytes.Contains(a.Text, []byte("_test.go\n")) || bytes.Contains(a.Text, []byte("/testdata/")) {
		t.Error("gosrc includes tests or testdata")
	}
}

func TestCapText(t *testing.T) {
	defer func(old int64) { MaxCorpusBytes = old }(MaxCorpusBytes)
	MaxCorpusBytes = 10
	for _, tc := range []struct{ in, want string }{
		{"short", "short"},
		{"line one\nline two\n", "line one\n"},
		{"no newlines at all", "no newline"},
	} {
		if got := string(capText([]byte(tc.in))); got != tc.want {
			t.Errorf("capText(%q) = %q, want %q", tc.in, got, tc.want)
		}
	}
}

// makeTgz builds an npm-style tarball in memory.
func makeTgz(t *testing.T, files map[string]string) []byte {
	t.Helper()
	var buf bytes.Buffer
	zw := gzip.NewWriter(&buf)
	tw := tar.NewWriter(zw)
	if err := tw.WriteHeader(&tar.Header{Name: "package/", Typeflag: tar.TypeDir, Mode: 0o755}); err != nil {
		t.Fatal(err)
	}
	for name, text := range files {
		if err := tw.WriteHeader(&tar.Header{Name: name, Typeflag: tar.TypeReg, Mode: 0o644, Size: int64(len(text))}); err != nil {
			t.Fatal(err)
		}
		if _, err := tw.Write([]byte(text)); err != nil {
			t.Fatal(err)
		}
	}
	if err := tw.Close(); err != nil {
		t.Fatal(err)
	}
	if err := zw.Close(); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

func TestNPMCorporaFromTarball(t *testing.T) {
	files, err := extractTgz(bytes.NewReader(makeTgz(t, map[string]string{
		"package/package.json":                       "{}",
		"package/data/1791_george_washington_n.txt":  "Second address.\n",
		"package/data/1790_george_washington_n.txt":  "First address.",
		"package/data/1790_george_washington_n.json": `{"text":"First address."}`,
		"package/README":                             "readme",
		"package/cb01":                               "\n\n\tSecond/ap file/nn ./.\n",
		"package/ca01": "\n\n\tThe/at Fulton/np-tl jury/nn said/vbd ,/, ``/`` no/at 1/2/cd evidence/nn ''/'' (/( yes/rb )/) ./.\n\n\n" +
			"\tIt/pps ended/vbd ;/. it's/pps+bez over/rb !/.\n",
	})))
	if err != nil {
		t.Fatal(err)
	}
	sotu, err := sotuText(files)
	if err != nil {
		t.Fatal(err)
	}
	if got, want := string(sotu), "First address.\n\nSecond address.\n"; got != want {
		t.Errorf("sotu text = %q, want %q", got, want)
	}
	brown, err := brownText(files)
	if err != nil {
		t.Fatal(err)
	}
	want := "The Fulton jury said, \"no 1/2 evidence\" (yes).\nIt ended; it's over!\n\nSecond file.\n"
	if string(brown) != want {
		t.Errorf("brown text = %q, want %q", brown, want)
	}
	// A tarball without the expected layout is a clear error.
	empty := map[string][]byte{"package/README": []byte("x")}
	if _, err := sotuText(empty); err == nil || !strings.Contains(err.Error(), "layout") {
		t.Errorf("sotuText on a bad layout: %v", err)
	}
	if _, err := brownText(empty); err == nil || !strings.Contains(err.Error(), "layout") {
		t.Errorf("brownText on a bad layout: %v", err)
	}
	if _, err := extractTgz(strings.NewReader("not gzip")); err == nil {
		t.Error("extractTgz accepted a non-gzip stream")
	}
}

func TestNPMCorpusUsesCache(t *testing.T) {
	// With the extracted text already in the cache, neither npm nor the network is needed.
	dir := t.TempDir()
	writeFiles(t, dir, map[string]string{"corpora/" + sanitize(brownPackage) + ".txt": "cached brown text\n"})
	t.Setenv("PATH", "") // no npm
	c, err := OpenCorpus("brown", dir)
	if err != nil {
		t.Fatal(err)
	}
	if string(c.Text) != "cached brown text\n" {
		t.Errorf("brown = %q, want the cached text", c.Text)
	}
	if _, err := OpenCorpus("sotu", dir); err == nil || !strings.Contains(err.Error(), "npm not found: install Node.js/npm or use -corpus gosrc / file:PATH") {
		t.Errorf("sotu without npm: %v", err)
	}
}

func TestIsGenerated(t *testing.T) {
	for _, tc := range []struct {
		src  string
		want bool
	}{
		{"// Code generated by go tool; DO NOT EDIT.\n\npackage x\n", true},
		{"// Copyright.\n\n// Code generated from gen/x.rules using 'go generate'; DO NOT EDIT.\n\npackage ssa\n", true},
		{"package x\n\n// Code generated by hand; DO NOT EDIT.\n", false},
		{"// Package x does things.\npackage x\n", false},
		{"// Code generated by go tool; DO NOT EDIT\npackage x\n", false}, // no final period
	} {
		if got := isGenerated([]byte(tc.src)); got != tc.want {
			t.Errorf("isGenerated(%q) = %v, want %v", tc.src, got, tc.want)
		}
	}
}
