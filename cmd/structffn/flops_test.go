package main

import (
	"bytes"
	"encoding/json"
	"strings"
	"testing"
)

// capture runs fn with stdout redirected to a buffer.
func capture(t *testing.T, fn func() error) (string, error) {
	t.Helper()
	var buf bytes.Buffer
	old := stdout
	stdout = &buf
	defer func() { stdout = old }()
	err := fn()
	return buf.String(), err
}

func TestFLOPsJSON(t *testing.T) {
	out, err := capture(t, func() error { return runFLOPs([]string{"-json"}) })
	if err != nil {
		t.Fatal(err)
	}
	var rows []map[string]any
	if err := json.Unmarshal([]byte(out), &rows); err != nil {
		t.Fatalf("output is not a JSON array: %v", err)
	}
	// 4 paper sizes × (dense + 2 fractions × 3 structures) + Table 2's two models.
	if len(rows) != 4*7+2 {
		t.Fatalf("%d rows, want 30", len(rows))
	}
	for _, key := range []string{"preset", "structure", "fraction", "rank", "nblocks", "params", "ffn_params", "train_flops"} {
		if _, ok := rows[0][key]; !ok {
			t.Errorf("row has no key %q: %v", key, rows[0])
		}
	}
	if rows[0]["preset"] != "s" || rows[0]["params"] != float64(109632000) {
		t.Errorf("first row %v, want the dense s model with 109632000 params", rows[0])
	}
}

func TestFLOPsTableReportsAllMatch(t *testing.T) {
	out, err := capture(t, func() error { return runFLOPs(nil) })
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(out, "9 of 9 published models (Table 1: xl; Table 2: m-wide, l-wide) reproduce every printed figure, and 21 of 21") {
		t.Errorf("table does not report a full match:\n%s", out)
	}
	if strings.Contains(out, "differs") {
		t.Errorf("table shows a differing figure:\n%s", out)
	}
}

func TestFLOPsBadInput(t *testing.T) {
	tests := []struct {
		args    []string
		wantErr string
	}{
		{[]string{"-preset", "huge"}, "allowed values are"},
		{[]string{"-preset", "tiny", "-structure", "kronecker"}, "allowed values are dense, lowrank"},
		{[]string{"-preset", "tiny", "-structure", "blockshuffle", "-fraction", "0.5"}, "not a whole number"},
		{[]string{"-structure", "lowrank"}, "need -preset"},
		{[]string{"-json", "extra"}, "unexpected argument"},
	}
	for _, tc := range tests {
		_, err := capture(t, func() error { return runFLOPs(tc.args) })
		if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
			t.Errorf("flops %v: error %v, want %q", tc.args, err, tc.wantErr)
		}
	}
}
