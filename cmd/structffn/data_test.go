package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestDataList(t *testing.T) {
	out, err := capture(t, func() error { return runData([]string{"-list"}) })
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"gosrc", "sotu", "brown", "file:PATH", "dir:PATH", "byte", "bpe:N", "gpt2"} {
		if !strings.Contains(out, want) {
			t.Errorf("-list output lacks %q:\n%s", want, out)
		}
	}
}

func TestDataSummary(t *testing.T) {
	path := filepath.Join(t.TempDir(), "tiny.txt")
	if err := os.WriteFile(path, []byte(strings.Repeat("the cat sat on the mat. ", 200)), 0o644); err != nil {
		t.Fatal(err)
	}
	out, err := capture(t, func() error {
		return runData([]string{"-corpus", "file:" + path, "-tokenizer", "bpe:300", "-cache", t.TempDir()})
	})
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"corpus file:", "tokenizer bpe:300", "vocab 300", "bytes 4800", "train tokens", "val tokens", "bytes/token", "cache "} {
		if !strings.Contains(out, want) {
			t.Errorf("summary lacks %q: %s", want, out)
		}
	}
}

func TestDataErrors(t *testing.T) {
	text := filepath.Join(t.TempDir(), "text.txt")
	if err := os.WriteFile(text, []byte("some text"), 0o644); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"-nosuchflag"}, "flag provided but not defined"},
		{[]string{"-corpus", "nope", "-cache", t.TempDir()}, "unknown corpus"},
		{[]string{"-tokenizer", "wordpiece", "-corpus", "file:" + text, "-cache", t.TempDir()}, "unknown tokenizer"},
		{[]string{"stray"}, "unexpected argument"},
	} {
		_, err := capture(t, func() error { return runData(tc.args) })
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("runData(%q) error = %v, want it to contain %q", tc.args, err, tc.want)
		}
	}
}
