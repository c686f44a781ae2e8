package model

import (
	"fmt"
	"strings"
	"testing"

	"github.com/structffn/structffn/structffn/linear"
)

func TestAccountingReproducesPaperTables(t *testing.T) {
	for _, row := range PaperTable {
		name := row.Preset + "/" + linear.FractionName(row.Fraction) + "/" + row.Structure.String()
		if row.Rank > 0 {
			name = fmt.Sprintf("%s/%s-R%d", row.Preset, row.Structure, row.Rank)
		}
		t.Run(name, func(t *testing.T) {
			cfg, err := row.Config()
			if err != nil {
				t.Fatal(err)
			}
			if err := cfg.Validate(); err != nil {
				t.Fatal(err)
			}
			p := cfg.Params()
			if got := Millions(p.Total); got != row.Params {
				t.Errorf("params %s (%d), paper %s", got, p.Total, row.Params)
			}
			if row.FFN != "" {
				if got := Millions(p.FFN); got != row.FFN {
					t.Errorf("FFN params %s (%d), paper %s", got, p.FFN, row.FFN)
				}
			}
			if got := Sig3(cfg.TrainFLOPs()); got != row.FLOPs {
				t.Errorf("training FLOPs %s (%.5e), paper %s", got, cfg.TrainFLOPs(), row.FLOPs)
			}
		})
	}
}

func TestPaperFLOPsTableMatchesEveryRow(t *testing.T) {
	rows, err := PaperFLOPsTable()
	if err != nil {
		t.Fatal(err)
	}
	if len(rows) != len(PaperTable) {
		t.Fatalf("%d rows, want %d", len(rows), len(PaperTable))
	}
	for _, r := range rows {
		if !r.Matches() {
			t.Errorf("%+v does not match its published figures", r)
		}
	}
	// Matches must be able to fail.
	bad := rows[0]
	bad.PaperFLOPs = "1.70e18" // s dense is 1.6946e18
	if bad.Matches() {
		t.Errorf("Matches() accepted a wrong published figure")
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

func TestSig3(t *testing.T) {
	tests := []struct {
		x    float64
		want string
	}{
		{1.694615e18, "1.69e18"}, // s dense: 1.695 at four digits, but 1.69 at three
		{1.014809e19, "1.01e19"}, // m 32% LowRank
		{7.034460e19, "7.03e19"},
		{9.99660e18, "1.00e19"}, // rounds up into the next decade
		{2.1025e20, "2.10e20"},
		{1.2356e18, "1.24e18"},
		{0, "0.00e+00"},
	}
	for _, tc := range tests {
		if got := Sig3(tc.x); got != tc.want {
			t.Errorf("Sig3(%g) = %s, want %s", tc.x, got, tc.want)
		}
	}
}

func TestPublishedRows(t *testing.T) {
	published := 0
	for _, r := range PaperTable {
		want := r.Preset == "xl" || r.Preset == "m-wide" || r.Preset == "l-wide"
		if r.Published() != want {
			t.Errorf("%s %s: Published() = %v, want %v (only Table 1, xl, and Table 2 are printed in the paper)", r.Preset, r.Structure, r.Published(), want)
		}
		if want {
			published++
		}
	}
	if published != 9 {
		t.Errorf("%d published rows, want 9 (Table 1's 7, Table 2's 2)", published)
	}
}

func TestFLOPsFormulaTerms(t *testing.T) {
	// A hand-computed case: L=1, d=4, a=4 (2 heads × 2), kv=2 (1 head), f=8 dense, V=10, s=3.
	cfg := Config{Layers: 1, DModel: 4, Heads: 2, KVHeads: 1, HeadDim: 2, FFN: 8, Vocab: 10, Context: 3, Batch: 1,
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
