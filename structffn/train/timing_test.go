package train

import (
	"errors"
	"fmt"
	"testing"
)

func TestRecoverAs(t *testing.T) {
	run := func(panicWith any) (err error) {
		defer RecoverAs(&err, "bench test")
		if panicWith != nil {
			panic(panicWith)
		}
		return nil
	}
	for _, tc := range []struct {
		panicWith any
		want      string
	}{
		{nil, ""},
		{"shape mismatch", "bench test: shape mismatch"},
		{errors.New("backend gone"), "bench test: backend gone"},
	} {
		err := run(tc.panicWith)
		if got := fmt.Sprint(err); tc.want == "" && err != nil || tc.want != "" && got != tc.want {
			t.Errorf("panic(%v): err %v, want %q", tc.panicWith, err, tc.want)
		}
	}
}
