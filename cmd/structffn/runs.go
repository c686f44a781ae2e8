package main

import (
	"fmt"
	"strings"

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
		fmt.Fprintln(stdout, "| "+strings.Join(train.SummaryHeader, " | ")+" |")
		fmt.Fprintln(stdout, "|"+strings.Repeat("---|", len(train.SummaryHeader)))
	}
	var bad []string
	for _, dir := range fs.Args() {
		s, err := train.Summarize(dir)
		if err != nil {
			fmt.Fprintf(stderr, "structffn runs: %v\n", err) // the other directories are still listed
			bad = append(bad, dir)
			continue
		}
		if *asJSON {
			printJSONLine(stdout, s)
			continue
		}
		fmt.Fprintln(stdout, "| "+strings.Join(s.Row(dir), " | ")+" |")
	}
	if len(bad) > 0 {
		return fmt.Errorf("%d of %d directories could not be read (%s): see the lines above", len(bad), fs.NArg(), strings.Join(bad, ", "))
	}
	return nil
}
