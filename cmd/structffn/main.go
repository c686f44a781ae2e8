// Command structffn trains and measures transformer language models with structured feed-forward
// layers. It is a thin layer over the library in structffn/: each subcommand parses flags and calls it.
//
//	structffn flops [-json] [-preset NAME [-structure K] [-fraction F] [-tokens N]]
//	structffn sample [-ckpt DIR] [-prompt TEXT] [-max_tokens N] [-temperature T] [-top_k K] [-seed S]
//
// Run `structffn help` for the list of commands. STRUCTFFN_CPUPROFILE=FILE writes a CPU profile of the
// command for `go tool pprof`.
package main

import (
	"fmt"
	"io"
	"maps"
	"math"
	"os"
	"runtime/pprof"
	"slices"
	"strings"

	"github.com/gomlx/gomlx/backends"

	"github.com/structffn/structffn/structffn/backend"
)

// stdout is where commands print their results (a variable so that tests capture it).
var stdout io.Writer = os.Stdout

// stderr is where commands print progress and summaries that are not their result (tests capture it).
var stderr io.Writer = os.Stderr

// newBackend is backend.New, with a line on stderr naming the XLA flags it added (xla:cuda's
// compile-time defaults, backend.CUDAFlags) so that a run says what it chose.
func newBackend(name string) (backends.Backend, string, error) {
	b, config, err := backend.New(name)
	if err == nil {
		if added := backend.XLAFlagsAdded(); len(added) > 0 {
			fmt.Fprintf(stderr, "%s: XLA_FLAGS += %s (structffn's default: compiles 4-5x faster at the same speed; set either flag in XLA_FLAGS to choose yourself)\n",
				config, strings.Join(added, " "))
		}
	}
	return b, config, err
}

// backendHelp is the help line of every -backend flag.
const backendHelp = "GoMLX backend: auto (XLA if its plugin is installed, else go), go (pure Go, no set-up), xla:cpu, xla:cuda, or any GoMLX config; default $GOMLX_BACKEND, else auto"

// command is one subcommand: its one-line summary and its entry point (args exclude the name).
type command struct {
	summary string
	run     func(args []string) error
}

var commands = map[string]command{
	"flops":  {"parameter counts and training FLOPs of the paper's models (or any preset), beside the paper's figures", runFLOPs},
	"train":  {"train a model (default: tiny preset, 32% LowRank FFN, Go-source corpus; resumes an existing -out)", runTrain},
	"data":   {"list corpora and tokenizers, or prepare (download, train the tokenizer, tokenise and cache) one", runData},
	"bench":  {"measure FFN latency (dense vs structured) or a model's training tokens/s and MFU: bench ffn | bench train", runBench},
	"runs":   {"summarise run directories (model, tokens, val loss, wall time) as a markdown table or JSON", runRuns},
	"check":  {"run the same seeded model on the pure-Go backend and on -backend (e.g. xla:cuda): logits and loss must agree", runCheck},
	"fit":    {"fit L(C) = E + A·C^-α per model family to a sweep's results.jsonl: α with bootstrap CIs, slopes vs dense, crossings, iso-FLOP", runFit},
	"sweep":  {"train a plan of runs (sizes × structures × fractions × SGT × seeds) for scaling fits; resumable, shardable, -dry-run", runSweep},
	"sample": {"generate text from a trained run directory (its latest checkpoint), streaming as it goes", runSample},
}

func usage() {
	fmt.Fprintf(os.Stderr, "usage: structffn <command> [flags]\n\ncommands:\n")
	for _, n := range slices.Sorted(maps.Keys(commands)) {
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
		fmt.Fprintf(os.Stderr, "structffn: unknown command %q: allowed values are %s\n", name,
			strings.Join(slices.Sorted(maps.Keys(commands)), ", "))
		os.Exit(2)
	}
	if path := os.Getenv("STRUCTFFN_CPUPROFILE"); path != "" {
		// A CPU profile of the whole command, for `go tool pprof`.
		f, err := os.Create(path)
		if err == nil {
			err = pprof.StartCPUProfile(f)
		}
		if err != nil {
			fmt.Fprintf(os.Stderr, "structffn: STRUCTFFN_CPUPROFILE=%s: %v\n", path, err)
			os.Exit(1)
		}
		defer pprof.StopCPUProfile()
	}
	if err := cmd.run(os.Args[2:]); err != nil {
		pprof.StopCPUProfile()
		fmt.Fprintf(os.Stderr, "structffn %s: %v\n", name, err)
		os.Exit(1)
	}
}

// flagRange is a numeric flag and the values it accepts, lo to hi (inclusive).
type flagRange struct {
	name   string
	v      float64
	lo, hi float64
}

// checkFlags returns a one-line error for the first flag outside its range, naming the flag, its
// value and the range.
func checkFlags(flags ...flagRange) error {
	for _, f := range flags {
		if math.IsNaN(f.v) || f.v < f.lo || f.v > f.hi {
			upTo := fmt.Sprintf("to %g", f.hi)
			if math.IsInf(f.hi, 1) {
				upTo = "up"
			}
			return fmt.Errorf("-%s %g: allowed %g %s", f.name, f.v, f.lo, upTo)
		}
	}
	return nil
}
