package main

import (
	"fmt"
	"math"

	"github.com/structffn/structffn/structffn/linear"
	"github.com/structffn/structffn/structffn/model"
	"github.com/structffn/structffn/structffn/train"
)

func runRuns(args []string) error {
	fs := newFlagSet("runs", "[-json] DIR...")
	asJSON := fs.Bool("json", false, "print one JSON object per run instead of a markdown table")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if fs.NArg() == 0 {
		return fmt.Errorf("which runs? usage: structffn runs [-json] DIR... (directories written by structffn train -out)")
	}
	if !*asJSON {
		fmt.Fprintln(stdout, "| run | structure | params (FFN) | tokens | val loss | val ppl | train loss | wall | backend |")
		fmt.Fprintln(stdout, "|---|---|---|---|---|---|---|---|---|")
	}
	for _, dir := range fs.Args() {
		s, err := train.Summarize(dir)
		if err != nil {
			return err
		}
		if *asJSON {
			printJSONLine(stdout, s)
			continue
		}
		structure := s.Config.Structure.String()
		if s.Config.Structure != linear.Dense {
			structure += " " + linear.FractionName(math.Round(s.Fraction*1e4)/1e4)
		}
		val, ppl := "-", "-"
		if s.ValLoss != nil {
			val, ppl = fmt.Sprintf("%.4f", *s.ValLoss), fmt.Sprintf("%.2f", math.Exp(*s.ValLoss))
		}
		fmt.Fprintf(stdout, "| %s | %s | %s (%s) | %s | %s | %s | %.4f | %.0f s | %s |\n", dir, structure,
			model.ParamCount(s.Params), model.ParamCount(s.FFNParams), model.HumanCount(s.Tokens), val, ppl, s.TrainLoss,
			s.WallS, s.Backend)
	}
	return nil
}
