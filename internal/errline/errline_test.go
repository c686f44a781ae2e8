package errline

import (
	"errors"
	"testing"
)

func TestFirst(t *testing.T) {
	for _, c := range []struct{ in, want string }{
		{"one line", "one line"},
		{"message\nstack trace\nmore", "message"},
		{"", ""},
	} {
		if got := First(errors.New(c.in)); got != c.want {
			t.Errorf("First(%q) = %q, want %q", c.in, got, c.want)
		}
	}
}
