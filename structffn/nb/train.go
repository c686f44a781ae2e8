package nb

import (
	"context"
	"fmt"
	"html"
	"slices"
	"sync"
	"time"

	"github.com/janpfeifer/gonb/gonbui"
	"github.com/janpfeifer/gonb/gonbui/protocol"

	"github.com/structffn/structffn/structffn/plot"
	"github.com/structffn/structffn/structffn/train"
)

// Train trains the running cell's grid (CellGrid: its --set, --grid and --quick flags) into
// prefix-<run name>, each run from scratch, with one live loss chart and a progress line, and returns
// the run directories. It panics on an error (bad settings fail before anything trains).
func Train(prefix string) []string {
	return Must(TrainGrid(prefix, Must(CellGrid()), *titleFlag))
}

// TrainGrid trains every run of g from scratch (a rerun of the cell starts over rather than resuming
// from the checkpoints the last one left) on Backend(), drawing all of them on one live loss chart
// titled title (a default from the preset, steps and backend when empty), with a progress line
// under it, and returns the run directories.
func TrainGrid(prefix string, g Grid, title string) ([]string, error) {
	runs, err := g.Runs(prefix)
	if err != nil {
		return nil, err
	}
	b, backendName := Backend()
	if title == "" {
		title = defaultTitle(runs, backendName)
	}
	live, err := NewLiveLoss(title)
	if err != nil {
		return nil, err
	}
	prog := newProgress(runs)
	var dirs []string
	for i, r := range runs {
		label := r.Name
		if label == "" {
			label = r.Planned.Config.Structure.String()
		}
		fmt.Printf("── [%d/%d] %s: %s\n", i+1, len(runs), r.Dir, r.Settings)
		record := live.Record(label)
		_, err := train.Run(context.Background(), train.DefaultContext(), train.Options{OutDir: r.Dir, Backend: b, BackendName: backendName,
			Settings: r.Settings, Fresh: true, OnRecord: func(rec train.Record) { record(rec); prog.update(i, rec) }})
		if err != nil {
			return dirs, err
		}
		dirs = append(dirs, r.Dir)
	}
	prog.done()
	return dirs, live.Done() // the final chart, as the saved notebook keeps it
}

// defaultTitle describes the runs: "tiny preset, 500 steps × 2048 tokens (xla:cpu)" ("up to" when
// their lengths differ).
func defaultTitle(runs []Run, backendName string) string {
	var most int64
	same := true
	for _, r := range runs {
		same = same && r.Planned.Steps == runs[0].Planned.Steps
		most = max(most, r.Planned.Steps)
	}
	steps := fmt.Sprintf("%d steps", most)
	if !same {
		steps = "up to " + steps
	}
	cfg := runs[0].Planned.Config
	return fmt.Sprintf("%s preset, %s × %d tokens (%s)", cfg.Name, steps, cfg.TokensPerStep(), backendName)
}

// progress is the line under a grid's live chart: which run, which step, and about how long is left
// (from the tokens still to train at the speed measured so far), redrawn in place at most twice a
// second.
type progress struct {
	mu        sync.Mutex
	runs      []Run
	displayID string
	start     time.Time
	last      time.Time
	doneTok   int64 // tokens of the runs finished before the current one
	current   int
}

func newProgress(runs []Run) *progress {
	p := &progress{runs: runs, displayID: "structffn-progress-" + gonbui.UniqueID(), start: time.Now()}
	p.show(fmt.Sprintf("%d runs to train", len(runs)))
	return p
}

func (p *progress) update(i int, r train.Record) {
	p.mu.Lock()
	defer p.mu.Unlock()
	for p.current < i {
		p.doneTok += p.runs[p.current].Planned.Tokens
		p.current++
	}
	if time.Since(p.last) < 500*time.Millisecond && r.Step < p.runs[i].Planned.Steps {
		return
	}
	p.last = time.Now()
	var total int64
	for _, run := range p.runs {
		total += run.Planned.Tokens
	}
	elapsed := time.Since(p.start)
	line := fmt.Sprintf("run %d of %d (%s): step %d of %d · %.0f tok/s · %s elapsed", i+1, len(p.runs), p.runs[i].Name,
		r.Step, p.runs[i].Planned.Steps, r.TokPerS, elapsed.Round(time.Second))
	if done := p.doneTok + r.Tokens; done > 0 && done < total {
		left := time.Duration(float64(elapsed) * float64(total-done) / float64(done))
		line += fmt.Sprintf(" · about %s left", left.Round(time.Second))
	}
	p.show(line)
}

func (p *progress) done() {
	p.show(fmt.Sprintf("%d runs trained in %s", len(p.runs), time.Since(p.start).Round(time.Second)))
}

// show replaces the progress line (the first call displays it).
func (p *progress) show(line string) {
	if !gonbui.IsNotebook {
		return
	}
	gonbui.SendData(&protocol.DisplayData{DisplayID: p.displayID, Data: map[protocol.MIMEType]any{
		protocol.MIMETextHTML: `<pre class="structffn-progress">` + html.EscapeString(line) + `</pre>`, protocol.MIMETextPlain: line}})
	gonbui.Sync()
}

// LiveLoss is a loss chart redrawn while runs train: pass Record(name) as train.Options.OnRecord, and
// call Done when training ends.
type LiveLoss struct {
	mu     sync.Mutex
	title  string
	live   *plot.Live
	curves []plot.Curve
	last   time.Time
}

// NewLiveLoss displays an empty loss chart.
func NewLiveLoss(title string) (*LiveLoss, error) {
	l := &LiveLoss{title: title}
	var err error
	l.live, err = plot.NewLive(plot.LossCurves(title))
	return l, err
}

// Record returns a callback that adds each metrics record to the curve named name and redraws the
// chart (at most twice a second, and always on validation records).
func (l *LiveLoss) Record(name string) func(train.Record) {
	return func(r train.Record) {
		l.mu.Lock()
		defer l.mu.Unlock()
		i := slices.IndexFunc(l.curves, func(c plot.Curve) bool { return c.Name == name })
		if i < 0 {
			l.curves = append(l.curves, plot.Curve{Name: name})
			i = len(l.curves) - 1
		}
		l.curves[i].Records = append(l.curves[i].Records, r)
		if r.ValLoss != nil || time.Since(l.last) > 500*time.Millisecond {
			l.last = time.Now()
			_ = l.live.Update(plot.LossCurves(l.title, l.curves...))
		}
	}
}

// Done draws the chart a last time as a regular chart (plot.Live.Done): call it when training ends.
func (l *LiveLoss) Done() error {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.live.Done(plot.LossCurves(l.title, l.curves...))
}

// Curves returns what the chart holds so far.
func (l *LiveLoss) Curves() []plot.Curve {
	l.mu.Lock()
	defer l.mu.Unlock()
	return slices.Clone(l.curves)
}
