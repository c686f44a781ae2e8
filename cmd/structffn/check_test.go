package main

import (
	"encoding/json"
	"strings"
	"testing"

	"github.com/structffn/structffn/internal/testbackend"
)

func TestCheck(t *testing.T) {
	testbackend.XLA(t) // skips (or fails in CI) without the XLA CPU plugin
	small := "preset=tiny;layers=2;d_model=32;heads=2;head_dim=16;ffn=128;context=16"
	out, _, err := captureAll(t, func() error { return runCheck([]string{"-backend", "xla:cpu", "-set", small, "-json"}) })
	var res map[string]any
	if err != nil || json.Unmarshal([]byte(out), &res) != nil || res["ok"] != true || res["backend"] != "xla:cpu" {
		t.Fatalf("check: %v\n%s", err, out)
	}
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"-backend", "xla:cpu", "-set", small, "-tolerance", "0"}, "differs from"},
		{[]string{"-batch", "0", "-set", small}, "-batch 0"},
		{[]string{"-set", "preset=huge"}, "huge"},
	} {
		_, _, err := captureAll(t, func() error { return runCheck(tc.args) })
		if err == nil || !strings.Contains(err.Error(), tc.want) || strings.Contains(err.Error(), "\n") {
			t.Errorf("check %q: error %v, want one line containing %q", tc.args, err, tc.want)
		}
	}
}
