package train

import (
	"bytes"
	"strings"
	"testing"
	"time"
)

func TestProgressBar(t *testing.T) {
	for _, c := range []struct {
		first, done, total int64
		want               []string
	}{
		{0, 1, 4, []string{"[██████░░░░░░░░░░░░░░░░░░]  25% step 1/4", "loss 2.5000", "100 tok/s", "ETA "}},
		{0, 4, 4, []string{"[████████████████████████] 100% step 4/4", "ETA 0s"}},
		{2, 3, 10, []string{"  30% step 3/10"}},
	} {
		var buf bytes.Buffer
		p := newProgressBar(&buf, c.first, c.total)
		p.start = time.Now().Add(-time.Second)
		p.update(c.done, 2.5, 100)
		got := buf.String()
		if !strings.HasPrefix(got, "\r\033[K") {
			t.Errorf("bar %q does not start by erasing the line", got)
		}
		for _, w := range c.want {
			if !strings.Contains(got, w) {
				t.Errorf("bar %q lacks %q", got, w)
			}
		}
		buf.Reset()
		p.clear()
		if buf.String() != "\r\033[K" {
			t.Errorf("clear wrote %q", buf.String())
		}
		buf.Reset()
		p.clear()
		if buf.Len() != 0 {
			t.Errorf("second clear wrote %q", buf.String())
		}
	}
	var nilBar *progressBar
	nilBar.update(1, 1, 1) // no bar: no-ops
	nilBar.clear()
}
