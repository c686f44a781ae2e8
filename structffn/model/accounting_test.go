package model

import (
	"fmt"
	"strings"
	"testing"

	"github.com/structffn/structffn/structffn/linear"
)

// paperRow is one cell group of PAPER.md §5's exact tables: params / FFN params / training FLOPs as printed.
type paperRow struct {
	preset   string
	kind     linear.Kind
	fraction float64
	params   string
	ffn      string
	flops    string
}

// paperRows is every figure of PAPER.md §5's "Exact sizes" table and Table 1 (xl).
var paperRows = []paperRow{
	{"s", linear.Dense, 1, "109.6M", "56.6M", "1.70e18"},
	{"s", linear.LowRank, linear.Fraction63, "90.2M", "37.2M", "1.44e18"},
	{"s", linear.BlockShuffle, linear.Fraction63, "90.2M", "37.2M", "1.44e18"},
	{"s", linear.BlockDense, linear.Fraction63, "90.2M", "37.2M", "1.44e18"},
	{"s", linear.LowRank, linear.Fraction32, "73.9M", "20.9M", "1.22e18"},
	{"s", linear.BlockShuffle, linear.Fraction32, "73.9M", "20.9M", "1.22e18"},
	{"s", linear.BlockDense, linear.Fraction32, "73.9M", "20.9M", "1.22e18"},

	{"m", linear.Dense, 1, "335.1M", "201.3M", "1.55e19"},
	{"m", linear.LowRank, linear.Fraction63, "262.7M", "129.0M", "1.26e19"},
	{"m", linear.BlockShuffle, linear.Fraction63, "262.7M", "129.0M", "1.26e19"},
	{"m", linear.BlockDense, linear.Fraction63, "255.2M", "121.4M", "1.23e19"},
	{"m", linear.LowRank, linear.Fraction32, "202.4M", "68.7M", "1.02e19"},
	{"m", linear.BlockShuffle, linear.Fraction32, "202.4M", "68.7M", "1.02e19"},
	{"m", linear.BlockDense, linear.Fraction32, "198.7M", "64.9M", "1.00e19"},

	{"l", linear.Dense, 1, "729.1M", "453.0M", "7.03e19"},
	{"l", linear.LowRank, linear.Fraction63, "566.3M", "290.2M", "5.61e19"},
	{"l", linear.BlockShuffle, linear.Fraction63, "566.3M", "290.2M", "5.61e19"},
	{"l", linear.BlockDense, linear.Fraction63, "566.3M", "290.2M", "5.61e19"},
	{"l", linear.LowRank, linear.Fraction32, "430.7M", "154.5M", "4.42e19"},
	{"l", linear.BlockShuffle, linear.Fraction32, "430.7M", "154.5M", "4.42e19"},
	{"l", linear.BlockDense, linear.Fraction32, "430.7M", "154.5M", "4.42e19"},

	// Table 1 (xl) prints params to the million: 1274M, 985M, 955M, 744M, 728M; the size table prints
	// one decimal, checked here.
	{"xl", linear.Dense, 1, "1274.1M", "805.3M", "2.10e20"},
	{"xl", linear.LowRank, linear.Fraction63, "984.7M", "515.9M", "1.66e20"},
	{"xl", linear.BlockShuffle, linear.Fraction63, "984.7M", "515.9M", "1.66e20"},
	{"xl", linear.BlockDense, linear.Fraction63, "954.6M", "485.8M", "1.61e20"},
	{"xl", linear.LowRank, linear.Fraction32, "743.6M", "274.7M", "1.29e20"},
	{"xl", linear.BlockShuffle, linear.Fraction32, "743.6M", "274.7M", "1.29e20"},
	{"xl", linear.BlockDense, linear.Fraction32, "728.5M", "259.7M", "1.27e20"},
}

func TestAccountingReproducesPaperTables(t *testing.T) {
	for _, row := range paperRows {
		name := row.preset + "/" + linear.FractionName(row.fraction) + "/" + row.kind.String()
		t.Run(name, func(t *testing.T) {
			base, err := Preset(row.preset)
			if err != nil {
				t.Fatal(err)
			}
			cfg, err := base.WithStructure(row.kind, row.fraction)
			if err != nil {
				t.Fatal(err)
			}
			if err := cfg.Validate(); err != nil {
				t.Fatal(err)
			}
			p := cfg.Params()
			if got := Millions(p.Total); got != row.params {
				t.Errorf("params %s (%d), paper %s", got, p.Total, row.params)
			}
			if got := Millions(p.FFN); got != row.ffn {
				t.Errorf("FFN params %s (%d), paper %s", got, p.FFN, row.ffn)
			}
			if got := PaperFormat(cfg.TrainFLOPs()); got != row.flops {
				t.Errorf("training FLOPs %s (%.5e), paper %s", got, cfg.TrainFLOPs(), row.flops)
			}
		})
	}
}

func TestTable1RoundedParams(t *testing.T) {
	// Table 1 prints xl params to the million.
	want := map[string]string{"dense": "1274M", "lowrank": "985M", "blockdense": "955M", "blockshuffle": "985M"}
	want32 := map[string]string{"lowrank": "744M", "blockdense": "728M", "blockshuffle": "744M"}
	for _, kind := range linear.Kinds {
		for fraction, table := range map[float64]map[string]string{linear.Fraction63: want, linear.Fraction32: want32} {
			w, ok := table[kind.String()]
			if !ok || kind == linear.Dense && fraction != linear.Fraction63 {
				continue
			}
			cfg, err := Presets["xl"].WithStructure(kind, fraction)
			if err != nil {
				t.Fatal(err)
			}
			if got := formatMillions0(cfg.Params().Total); got != w {
				t.Errorf("xl %s %s: %s, Table 1 says %s", kind, linear.FractionName(fraction), got, w)
			}
		}
	}
}

func formatMillions0(n int64) string { return fmt.Sprintf("%.0fM", float64(n)/1e6) }

func TestTable2WideAndStructured(t *testing.T) {
	tests := []struct {
		preset string
		rank   int
		params string
	}{
		{"m-wide", 512, "219.4M"},
		{"l-wide", 768, "464.4M"},
	}
	for _, tc := range tests {
		cfg := Presets[tc.preset]
		cfg.Structure, cfg.Rank = linear.LowRank, tc.rank
		if err := cfg.Validate(); err != nil {
			t.Fatal(err)
		}
		if got := Millions(cfg.Params().Total); got != tc.params {
			t.Errorf("%s: params %s (%d), paper %s", tc.preset, got, cfg.Params().Total, tc.params)
		}
	}
}

func TestPaperFormat(t *testing.T) {
	tests := []struct {
		x    float64
		want string
	}{
		{1.694615e18, "1.70e18"}, // 4 digits: 1.695 -> 3 digits half up: 1.70
		{1.014809e19, "1.02e19"},
		{7.034460e19, "7.03e19"},
		{9.99660e18, "1.00e19"},
		{2.1025e20, "2.10e20"},
		{1.2344e18, "1.23e18"},
	}
	for _, tc := range tests {
		if got := PaperFormat(tc.x); got != tc.want {
			t.Errorf("PaperFormat(%g) = %s, want %s", tc.x, got, tc.want)
		}
	}
}

func TestFLOPsFormulaTerms(t *testing.T) {
	// A hand-computed case: L=1, d=4, a=4 (2 heads × 2), kv=2 (1 head), f=8 dense, V=10, s=3.
	cfg := Config{Layers: 1, DModel: 4, Heads: 2, KVHeads: 1, HeadDim: 2, FFN: 8, Vocab: 10, Context: 3,
		RoPEBase: 10000, LayerNormEps: 1e-5}
	// 2·1·(2·4·4 + 2·2·4 + 2·3·4) + 2·(2·4·8) + 2·10·4 = 2·(32+16+24) + 128 + 80 = 352.
	if got := cfg.ForwardFLOPsPerToken(); got != 352 {
		t.Errorf("ForwardFLOPsPerToken = %d, want 352", got)
	}
	// Params: attention 2·4·4 + 2·2·4 = 48; FFN 64; embedding 40; biases q4 + k2 + v2 + o4 + fc1 8 + fc2 4 = 24;
	// norms 2·2·4 + 2·4 = 24. Total 200.
	p := cfg.Params()
	if p.Attention != 48 || p.FFN != 64 || p.Embedding != 40 || p.Other != 48 || p.Total != 200 {
		t.Errorf("Params = %+v, want attention 48, FFN 64, embedding 40, other 48, total 200", p)
	}
}

func TestValidateConfig(t *testing.T) {
	ok := Presets["tiny"]
	tests := []struct {
		name    string
		mutate  func(*Config)
		wantErr string
	}{
		{"valid", func(*Config) {}, ""},
		{"zero layers", func(c *Config) { c.Layers = 0 }, "layers must be positive"},
		{"gqa", func(c *Config) { c.KVHeads = 3 }, "multiple of kv_heads"},
		{"odd head dim", func(c *Config) { c.HeadDim = 31 }, "even for RoPE"},
		{"bad rank", func(c *Config) { c.Structure, c.Rank = linear.LowRank, 0 }, "0 < R"},
		{"bad blocks", func(c *Config) { c.Structure, c.NBlocks = linear.BlockShuffle, 3 }, "must divide"},
	}
	for _, tc := range tests {
		c := ok
		tc.mutate(&c)
		err := c.Validate()
		if tc.wantErr == "" {
			if err != nil {
				t.Errorf("%s: unexpected %v", tc.name, err)
			}
			continue
		}
		if err == nil || !contains(err.Error(), tc.wantErr) {
			t.Errorf("%s: error %v, want %q", tc.name, err, tc.wantErr)
		}
	}
	if _, err := Preset("huge"); err == nil || !contains(err.Error(), "allowed values are") {
		t.Errorf("Preset(huge) error %v should list the allowed values", err)
	}
}

func contains(s, sub string) bool { return strings.Contains(s, sub) }
