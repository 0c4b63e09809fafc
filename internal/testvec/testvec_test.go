package testvec_test

import (
	"bytes"
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"testing"

	"github.com/stskms/stskms/internal/testvec"
)

// recorder is a testing.TB whose Fatal records the message and ends the
// goroutine, as the real one does.
type recorder struct {
	testing.TB
	msg string
}

func (r *recorder) Helper() {}

func (r *recorder) Fatal(args ...any) { r.msg = fmt.Sprint(args...); runtime.Goexit() }

func (r *recorder) Fatalf(format string, args ...any) {
	r.msg = fmt.Sprintf(format, args...)
	runtime.Goexit()
}

// fails runs fn with a recorder and returns what it failed with ("" if it
// did not).
func fails(t *testing.T, fn func(tb testing.TB)) string {
	r := &recorder{TB: t}
	done := make(chan struct{})
	go func() {
		defer close(done)
		fn(r)
	}()
	<-done
	return r.msg
}

func TestLoad(t *testing.T) {
	dir := t.TempDir()
	good, bad := filepath.Join(dir, "good.json"), filepath.Join(dir, "bad.json")
	if err := os.WriteFile(good, []byte(`{"a": [1, 2]}`), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(bad, []byte(`{"a": [1, 2}`), 0o600); err != nil {
		t.Fatal(err)
	}
	var v struct{ A []int }
	if msg := fails(t, func(tb testing.TB) { testvec.Load(tb, good, &v) }); msg != "" || len(v.A) != 2 || v.A[1] != 2 {
		t.Errorf("good file: %q, %+v", msg, v)
	}
	if msg := fails(t, func(tb testing.TB) { testvec.Load(tb, bad, &v) }); !strings.HasPrefix(msg, bad+": ") {
		t.Errorf("bad JSON failed with %q, want the file named", msg)
	}
	missing := filepath.Join(dir, "none.json")
	if msg := fails(t, func(tb testing.TB) { testvec.Load(tb, missing, &v) }); !strings.Contains(msg, missing) {
		t.Errorf("missing file failed with %q, want the file named", msg)
	}
}

func TestHex(t *testing.T) {
	var got []byte
	if msg := fails(t, func(tb testing.TB) { got = testvec.Hex(tb, "00aBfF") }); msg != "" || !bytes.Equal(got, []byte{0, 0xab, 0xff}) {
		t.Errorf("Hex(00aBfF) = %x, %q", got, msg)
	}
	for _, s := range []string{"0", "0g", " 00"} {
		if msg := fails(t, func(tb testing.TB) { testvec.Hex(tb, s) }); !strings.Contains(msg, fmt.Sprintf("%q", s)) {
			t.Errorf("Hex(%q) failed with %q, want the string named", s, msg)
		}
	}
}
