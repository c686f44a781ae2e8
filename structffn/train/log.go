package train

import (
	"encoding/json"
	"fmt"
	"io"
	"os"
)

// Record is one line of metrics.jsonl (and of the stdout log).
type Record struct {
	Step      int64    `json:"step"`
	Tokens    int64    `json:"tokens"`
	TrainLoss float64  `json:"train_loss"`
	ValLoss   *float64 `json:"val_loss,omitempty"`
	ValPPL    *float64 `json:"val_ppl,omitempty"`
	LR        float64  `json:"lr"`
	GradNorm  float64  `json:"grad_norm"`
	MsPerStep float64  `json:"ms_per_step"`
	TokPerS   float64  `json:"tok_per_s"`
	MFU       float64  `json:"mfu"`
	// TrainFLOPs is the paper's accounting up to this step: the model's training FLOPs, and with
	// SGT each guide at its expected cost (α × a dense layer, docs/METHOD.md §3). FLOP-matched
	// comparisons use it.
	TrainFLOPs float64 `json:"train_flops"`
	// ComputedFLOPs is what the compiled graphs computed (same convention, 3 × forward): with SGT
	// every guide of every step that ran the guided graph, skipped ones included, since they are
	// masked, not branched around. Equal to TrainFLOPs without SGT.
	ComputedFLOPs float64 `json:"computed_flops,omitempty"`
	ElapsedS      float64 `json:"elapsed_s"` // Training wall time up to this record, over every session of the run.
}

// writeRecord appends rec to metrics.jsonl and prints the stable log line:
// step N | loss X | val Y | lr Z | ms M | tok/s T | MFU U%
func writeRecord(f *os.File, log io.Writer, rec Record) error {
	line, err := json.Marshal(rec)
	if err != nil {
		return err
	}
	if _, err := f.Write(append(line, '\n')); err != nil {
		return fmt.Errorf("writing metrics.jsonl: %w", err)
	}
	val := "-"
	if rec.ValLoss != nil {
		val = fmt.Sprintf("%.4f", *rec.ValLoss)
	}
	mfu := "-"
	if rec.MFU > 0 {
		mfu = fmt.Sprintf("%.2f%%", 100*rec.MFU)
	}
	_, err = fmt.Fprintf(log, "step %6d | loss %.4f | val %s | lr %.3e | ms %.1f | tok/s %.0f | MFU %s\n",
		rec.Step, rec.TrainLoss, val, rec.LR, rec.MsPerStep, rec.TokPerS, mfu)
	return err
}
