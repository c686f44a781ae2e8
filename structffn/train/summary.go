package train

import (
	"bufio"
	"encoding/json"
	"fmt"
	"math"
	"os"
	"path/filepath"

	"github.com/structffn/structffn/structffn/linear"
	"github.com/structffn/structffn/structffn/model"
)

// Summary is what a finished (or interrupted) run directory says about itself: its model, backend
// and the last metrics record, for tables that compare runs (structffn runs).
type Summary struct {
	Dir       string       `json:"dir"`
	Config    model.Config `json:"model"`
	Fraction  float64      `json:"fraction"` // Realised FFN parameter fraction of the structured blocks.
	Params    int64        `json:"params"`
	FFNParams int64        `json:"ffn_params"`
	Backend   string       `json:"backend"`
	Tokenizer string       `json:"tokenizer"`
	Corpus    string       `json:"corpus"`
	Seed      int          `json:"seed"`
	Steps     int64        `json:"steps"`
	Tokens    int64        `json:"tokens"`
	TrainLoss float64      `json:"train_loss"`
	ValLoss   *float64     `json:"val_loss,omitempty"` // Last evaluation.
	TrainFLOP float64      `json:"train_flops"`
	WallS     float64      `json:"wall_s"` // Training wall time over all sessions (elapsed_s of the last record).
	TokPerS   float64      `json:"tok_per_s"`
}

// Summarize reads dir's config.json and metrics.jsonl.
func Summarize(dir string) (Summary, error) {
	s := Summary{Dir: dir}
	raw, err := os.ReadFile(filepath.Join(dir, "config.json"))
	if err != nil {
		return s, fmt.Errorf("%s is not a run directory (no config.json): %v", dir, err)
	}
	var rc struct {
		Model     model.Config `json:"model"`
		Backend   string       `json:"backend"`
		Tokenizer string       `json:"tokenizer"`
		Corpus    string       `json:"corpus"`
		Seed      int          `json:"seed"`
	}
	if err := json.Unmarshal(raw, &rc); err != nil {
		return s, fmt.Errorf("%s: config.json is damaged (%v): structffn train -out %s rewrites it from the checkpoint", dir, err, dir)
	}
	s.Config, s.Backend, s.Tokenizer, s.Corpus, s.Seed = rc.Model, rc.Backend, rc.Tokenizer, rc.Corpus, rc.Seed
	p := s.Config.Params()
	s.Params, s.FFNParams, s.Fraction = p.Total, p.FFN, 1
	if s.Config.Structure != linear.Dense {
		s.Fraction = linear.FFNFraction(s.Config.Structure, s.Config.DModel, s.Config.FFN, s.Config.Rank, s.Config.NBlocks)
	}
	records, err := ReadMetrics(dir)
	if err != nil {
		return s, err
	}
	for _, r := range records {
		s.Steps, s.Tokens, s.TrainLoss, s.TrainFLOP, s.WallS, s.TokPerS = r.Step, r.Tokens, r.TrainLoss, r.TrainFLOPs, r.ElapsedS, r.TokPerS
		if r.ValLoss != nil {
			s.ValLoss = r.ValLoss
		}
	}
	if s.Steps == 0 {
		return s, fmt.Errorf("%s: metrics.jsonl has no record yet", dir)
	}
	return s, nil
}

// ReadMetrics returns the records of dir's metrics.jsonl in order (loss curves of a finished or
// running run). A line cut short by a crash is skipped; the others still count.
func ReadMetrics(dir string) ([]Record, error) {
	f, err := os.Open(filepath.Join(dir, "metrics.jsonl"))
	if err != nil {
		return nil, fmt.Errorf("%s has no metrics.jsonl: %v", dir, err)
	}
	defer f.Close()
	var out []Record
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 64*1024), 1<<20)
	for sc.Scan() {
		var r Record
		if json.Unmarshal(sc.Bytes(), &r) != nil {
			continue
		}
		out = append(out, r)
	}
	return out, sc.Err()
}

// SummaryHeader names the columns of Summary.Row: the table `structffn runs` prints.
var SummaryHeader = []string{"run", "structure", "params (FFN)", "steps", "tokens", "train FLOPs", "val loss", "val ppl", "train loss", "tok/s", "wall", "backend"}

// Row formats the summary as a table row under SummaryHeader, the run named name.
func (s Summary) Row(name string) []string {
	structure := s.Config.Structure.String()
	if s.Config.Structure != linear.Dense {
		structure += " " + linear.FractionName(math.Round(s.Fraction*1e4)/1e4)
	}
	val, ppl := "-", "-"
	if s.ValLoss != nil {
		val, ppl = fmt.Sprintf("%.4f", *s.ValLoss), fmt.Sprintf("%.2f", math.Exp(*s.ValLoss))
	}
	return []string{name, structure, model.ParamCount(s.Params) + " (" + model.ParamCount(s.FFNParams) + ")", fmt.Sprint(s.Steps),
		model.HumanCount(s.Tokens), fmt.Sprintf("%.4g", s.TrainFLOP), val, ppl, fmt.Sprintf("%.4f", s.TrainLoss),
		fmt.Sprintf("%.0f", s.TokPerS), fmt.Sprintf("%.0f s", s.WallS), s.Backend}
}
