// Command structffn trains and measures transformer language models with structured feed-forward
// layers. It is a thin layer over the library in structffn/: each subcommand parses flags and calls it.
//
//	structffn flops [-json] [-preset NAME [-structure K] [-fraction F] [-tokens N]]
//
// Run `structffn help` for the list of commands.
package main

import (
	"fmt"
	"io"
	"os"
	"sort"
	"strings"
)

// stdout is where commands print their results (a variable so that tests capture it).
var stdout io.Writer = os.Stdout

// command is one subcommand: its one-line summary and its entry point (args exclude the name).
type command struct {
	summary string
	run     func(args []string) error
}

var commands = map[string]command{
	"flops": {"parameter counts and training FLOPs of the paper's models (or any preset), beside the paper's figures", runFLOPs},
	"train": {"train a model (default: tiny preset, 32% LowRank FFN, Go-source corpus; resumes an existing -out)", runTrain},
	"data":  {"list corpora and tokenizers, or prepare (download, train the tokenizer, tokenise and cache) one", runData},
}

func usage() {
	fmt.Fprintf(os.Stderr, "usage: structffn <command> [flags]\n\ncommands:\n")
	names := make([]string, 0, len(commands))
	for n := range commands {
		names = append(names, n)
	}
	sort.Strings(names)
	for _, n := range names {
		fmt.Fprintf(os.Stderr, "  %-8s %s\n", n, commands[n].summary)
	}
	fmt.Fprintf(os.Stderr, "\nRun 'structffn <command> -h' for a command's flags.\n")
}

func main() {
	if len(os.Args) < 2 || os.Args[1] == "help" || os.Args[1] == "-h" || os.Args[1] == "--help" {
		usage()
		if len(os.Args) < 2 {
			os.Exit(2)
		}
		return
	}
	name := os.Args[1]
	cmd, ok := commands[name]
	if !ok {
		names := make([]string, 0, len(commands))
		for n := range commands {
			names = append(names, n)
		}
		sort.Strings(names)
		fmt.Fprintf(os.Stderr, "structffn: unknown command %q: allowed values are %s\n", name, strings.Join(names, ", "))
		os.Exit(2)
	}
	if err := cmd.run(os.Args[2:]); err != nil {
		fmt.Fprintf(os.Stderr, "structffn %s: %v\n", name, err)
		os.Exit(1)
	}
}
