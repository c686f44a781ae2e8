package model

import (
	"strings"

	"github.com/structffn/structffn/structffn/linear"
)

// PaperRow is one model of the paper's tables with its figures as printed (parameters and FFN
// parameters in millions with one decimal, training FLOPs with three significant digits): published
// for xl (Table 1) and the wide models (Table 2), derived from the reference code's formulas for s, m
// and l, for which the paper prints no table (Published tells which).
type PaperRow struct {
	Preset    string
	Structure linear.Kind
	Fraction  float64 // 1 for dense; linear.Fraction63 or linear.Fraction32; Table 2: the realised fraction.
	Rank      int     // Set only where the paper fixes it outside the size rules (Table 2).
	Params    string
	FFN       string // Empty where the paper does not print it.
	FLOPs     string
}

// Published reports whether the row's figures are printed in the paper (Table 1: xl; Table 2: m-wide,
// l-wide) rather than derived from the reference code's formulas (s, m, l).
func (r PaperRow) Published() bool { return paperSource(r.Preset) != derived }

const derived = "derived"

// paperSource is where the paper's figures for a PaperTable preset come from: "Table 1" (xl),
// "Table 2" (the wide models) or "derived" (s, m, l: the reference code's formulas, no table).
func paperSource(preset string) string {
	switch {
	case preset == "xl":
		return "Table 1"
	case strings.HasSuffix(preset, "-wide"):
		return "Table 2"
	}
	return derived
}

// Config returns the model of the row: the preset with the row's structure.
func (r PaperRow) Config() (Config, error) {
	base, err := Preset(r.Preset)
	if err != nil {
		return Config{}, err
	}
	if r.Rank > 0 {
		base.Structure, base.Rank = r.Structure, r.Rank
		return base, base.Validate()
	}
	return base.WithStructure(r.Structure, r.Fraction)
}

// PaperTable is the paper's models with their figures: the sizes s, m, l (derived) and xl (Table 1's
// models), and Table 2's wide-and-structured models, whose training FLOPs equal the dense m and l
// models' (the reference code's token budgets 10.58B and 23.36B).
var PaperTable = []PaperRow{
	{"s", linear.Dense, 1, 0, "109.6M", "56.6M", "1.69e18"},
	{"s", linear.LowRank, linear.Fraction63, 0, "90.2M", "37.2M", "1.44e18"},
	{"s", linear.BlockDense, linear.Fraction63, 0, "90.2M", "37.2M", "1.44e18"},
	{"s", linear.BlockShuffle, linear.Fraction63, 0, "90.2M", "37.2M", "1.44e18"},
	{"s", linear.LowRank, linear.Fraction32, 0, "73.9M", "20.9M", "1.22e18"},
	{"s", linear.BlockDense, linear.Fraction32, 0, "73.9M", "20.9M", "1.22e18"},
	{"s", linear.BlockShuffle, linear.Fraction32, 0, "73.9M", "20.9M", "1.22e18"},

	{"m", linear.Dense, 1, 0, "335.1M", "201.3M", "1.55e19"},
	{"m", linear.LowRank, linear.Fraction63, 0, "262.7M", "129.0M", "1.26e19"},
	{"m", linear.BlockDense, linear.Fraction63, 0, "255.2M", "121.4M", "1.23e19"},
	{"m", linear.BlockShuffle, linear.Fraction63, 0, "262.7M", "129.0M", "1.26e19"},
	{"m", linear.LowRank, linear.Fraction32, 0, "202.4M", "68.7M", "1.01e19"},
	{"m", linear.BlockDense, linear.Fraction32, 0, "198.7M", "64.9M", "1.00e19"},
	{"m", linear.BlockShuffle, linear.Fraction32, 0, "202.4M", "68.7M", "1.01e19"},

	{"l", linear.Dense, 1, 0, "729.1M", "453.0M", "7.03e19"},
	{"l", linear.LowRank, linear.Fraction63, 0, "566.3M", "290.2M", "5.61e19"},
	{"l", linear.BlockDense, linear.Fraction63, 0, "566.3M", "290.2M", "5.61e19"},
	{"l", linear.BlockShuffle, linear.Fraction63, 0, "566.3M", "290.2M", "5.61e19"},
	{"l", linear.LowRank, linear.Fraction32, 0, "430.7M", "154.5M", "4.42e19"},
	{"l", linear.BlockDense, linear.Fraction32, 0, "430.7M", "154.5M", "4.42e19"},
	{"l", linear.BlockShuffle, linear.Fraction32, 0, "430.7M", "154.5M", "4.42e19"},

	{"xl", linear.Dense, 1, 0, "1274.1M", "805.3M", "2.10e20"},
	{"xl", linear.LowRank, linear.Fraction63, 0, "984.7M", "515.9M", "1.66e20"},
	{"xl", linear.BlockDense, linear.Fraction63, 0, "954.6M", "485.8M", "1.61e20"},
	{"xl", linear.BlockShuffle, linear.Fraction63, 0, "984.7M", "515.9M", "1.66e20"},
	{"xl", linear.LowRank, linear.Fraction32, 0, "743.6M", "274.7M", "1.29e20"},
	{"xl", linear.BlockDense, linear.Fraction32, 0, "728.5M", "259.7M", "1.27e20"},
	{"xl", linear.BlockShuffle, linear.Fraction32, 0, "743.6M", "274.7M", "1.29e20"},

	{"m-wide", linear.LowRank, 0, 512, "219.4M", "", "1.55e19"},
	{"l-wide", linear.LowRank, 0, 768, "464.4M", "", "7.03e19"},
}

// FLOPsRow is one model's exact accounting beside the paper's figures (empty when the paper has none;
// Published false where they are derived from the reference code's formulas), as printed by
// `structffn flops`.
type FLOPsRow struct {
	Preset      string  `json:"preset"`
	Structure   string  `json:"structure"`
	Fraction    float64 `json:"fraction"`          // Requested (nominal) fraction: 1, 0.625, 0.3125, ...
	Realised    float64 `json:"realised_fraction"` // FFN parameter fraction each structured block realises.
	Rank        int     `json:"rank"`
	NBlocks     int     `json:"nblocks"`
	Params      int64   `json:"params"`
	FFNParams   int64   `json:"ffn_params"`
	Tokens      int64   `json:"tokens"`
	TrainFLOPs  float64 `json:"train_flops"`
	PaperParams string  `json:"paper_params,omitempty"`
	PaperFFN    string  `json:"paper_ffn_params,omitempty"`
	PaperFLOPs  string  `json:"paper_train_flops,omitempty"`
	Published   bool    `json:"published,omitempty"` // the paper figures are printed in the paper (Table 1, Table 2)
}

// Matches reports whether every paper figure of the row is reproduced at its printed precision.
func (r FLOPsRow) Matches() bool {
	return (r.PaperParams == "" || r.PaperParams == Millions(r.Params)) &&
		(r.PaperFFN == "" || r.PaperFFN == Millions(r.FFNParams)) &&
		(r.PaperFLOPs == "" || r.PaperFLOPs == Sig3(r.TrainFLOPs))
}

// Source names where the row's paper figures come from: "Table 1" (xl), "Table 2" (the wide models),
// "derived" (s, m, l: the reference code's formulas, no published table), or "" when there are none.
func (r FLOPsRow) Source() string {
	if r.PaperParams == "" {
		return ""
	}
	return paperSource(r.Preset)
}

// NewFLOPsRow computes the accounting of cfg for its token budget.
func NewFLOPsRow(cfg Config) FLOPsRow {
	p := cfg.Params()
	row := FLOPsRow{Preset: cfg.Name, Structure: cfg.Structure.String(), Rank: cfg.Rank, NBlocks: cfg.NBlocks,
		Params: p.Total, FFNParams: p.FFN, Tokens: cfg.Tokens, TrainFLOPs: cfg.TrainFLOPs(), Fraction: 1, Realised: 1}
	if cfg.Structure != linear.Dense {
		row.Realised = linear.FFNFraction(cfg.Structure, cfg.DModel, cfg.FFN, cfg.Rank, cfg.NBlocks)
		row.Fraction = row.Realised
	}
	return row
}

// NewFLOPsRowAt is NewFLOPsRow for a model sized for the nominal fraction.
func NewFLOPsRowAt(cfg Config, fraction float64) FLOPsRow {
	row := NewFLOPsRow(cfg)
	row.Fraction = fraction
	return row
}

// PaperFLOPsTable computes every model of PaperTable beside its paper figures.
func PaperFLOPsTable() ([]FLOPsRow, error) {
	rows := make([]FLOPsRow, 0, len(PaperTable))
	for _, pr := range PaperTable {
		cfg, err := pr.Config()
		if err != nil {
			return nil, err
		}
		row := NewFLOPsRow(cfg)
		if pr.Fraction > 0 {
			row.Fraction = pr.Fraction
		}
		row.PaperParams, row.PaperFFN, row.PaperFLOPs, row.Published = pr.Params, pr.FFN, pr.FLOPs, pr.Published()
		rows = append(rows, row)
	}
	return rows, nil
}

// PaperPerplexity is a validation perplexity the paper reports (docs/METHOD.md §5) with the model's
// training FLOPs: the points a scaling chart can show beside ours (RefinedWeb, LLaMA tokenizer).
type PaperPerplexity struct {
	Model string  // as the paper names it
	FLOPs float64 // training FLOPs
	PPL   float64 // validation perplexity, exp(mean loss)
}

// PaperPerplexities are Table 1 (xl size, 25.5B tokens) and Table 2's wide-and-structured models
// against their grouped-query-attention baselines at equal training FLOPs (not the dense models).
var PaperPerplexities = []PaperPerplexity{
	{"xl dense", 2.10e20, 12.46},
	{"xl LowRank 63%", 1.66e20, 12.86},
	{"xl BlockDense 63%", 1.61e20, 12.97},
	{"xl BlockShuffle 63%", 1.66e20, 12.98},
	{"xl LowRank 32%", 1.29e20, 13.55},
	{"xl BlockDense 32%", 1.27e20, 13.74},
	{"xl BlockShuffle 32%", 1.29e20, 13.81},
	{"m GQA baseline", 1.55e19, 18.23},
	{"m-wide LowRank", 1.55e19, 17.89},
	{"l GQA baseline", 7.03e19, 14.40},
	{"l-wide LowRank", 7.03e19, 14.27},
}
