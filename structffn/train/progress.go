package train

import (
	"fmt"
	"io"
	"strings"
	"time"
)

// progressBar draws a one-line bar on a terminal, redrawn in place after every step:
//
//	[██████████░░░░░░░░░░]  52% step 312/600 | loss 4.8312 | 953 tok/s | ETA 1m02s
//
// Log lines are printed above it: clear() erases the bar first and the next update redraws it.
type progressBar struct {
	w            io.Writer
	total, first int64 // Last step of the run, and the step it (re)started from.
	start        time.Time
	drawn        bool
	lastDraw     time.Time
}

const barWidth = 24

func newProgressBar(w io.Writer, first, total int64) *progressBar {
	return &progressBar{w: w, first: first, total: total, start: time.Now()}
}

// update redraws the bar after step done (1-based) with the latest loss and throughput; redraws are
// limited to ten a second.
func (p *progressBar) update(done int64, loss, tokPerS float64) {
	if p == nil {
		return
	}
	now := time.Now()
	if done < p.total && now.Sub(p.lastDraw) < 100*time.Millisecond {
		return
	}
	p.lastDraw = now
	frac := float64(done) / float64(max(p.total, 1))
	filled := int(frac * barWidth)
	eta := "-"
	if ran := done - p.first; ran > 0 {
		left := time.Duration(float64(now.Sub(p.start)) / float64(ran) * float64(p.total-done))
		eta = left.Round(time.Second).String()
	}
	fmt.Fprintf(p.w, "\r\033[K[%s%s] %3.0f%% step %d/%d | loss %.4f | %.0f tok/s | ETA %s",
		strings.Repeat("█", filled), strings.Repeat("░", barWidth-filled), 100*frac, done, p.total, loss, tokPerS, eta)
	p.drawn = true
}

// clear erases the bar (before a log line, and at the end of the run).
func (p *progressBar) clear() {
	if p == nil || !p.drawn {
		return
	}
	fmt.Fprint(p.w, "\r\033[K")
	p.drawn = false
}
