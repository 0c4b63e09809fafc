package keptcheckpoint

import (
	"bytes"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
)

func cp(size string) []byte {
	return []byte("stskms/audit/00\n" + size + "\nAAAA\n\n— stskms/audit/00 c2ln\n")
}

// TestKeeperKeepsHighest: a smaller checkpoint never replaces a larger one
// unless forced; every kept one reaches the witness; a file that is not a
// checkpoint is refused.
func TestKeeperKeepsHighest(t *testing.T) {
	dir := t.TempDir()
	w := filepath.Join(t.TempDir(), "witness")
	k := New(dir, w)
	if b, err := k.Load(); b != nil || err != nil || k.Kept() != -1 {
		t.Fatalf("empty: %q, %v, %d", b, err, k.Kept())
	}
	for _, step := range []struct {
		size  string
		force bool
		want  int64
	}{{"5", false, 5}, {"3", false, 5}, {"9", false, 9}, {"4", true, 4}} {
		if err := k.Keep(cp(step.size), step.force); err != nil {
			t.Fatal(err)
		}
		if k.Kept() != step.want {
			t.Fatalf("after %s (force %v): kept %d, want %d", step.size, step.force, k.Kept(), step.want)
		}
	}
	if b, err := New(dir).Load(); err != nil || !bytes.Equal(b, cp("4")) {
		t.Fatalf("reloaded: %q, %v", b, err)
	}
	got, err := os.ReadFile(w)
	if err != nil || bytes.Count(got, []byte("\n— ")) != 3 {
		t.Fatalf("witness has %q, %v; want the three kept", got, err)
	}
	for _, bad := range []string{"", "one line", "o\n-1\nr\n", "o\nx\nr\n"} {
		if err := k.Keep([]byte(bad), true); err == nil {
			t.Errorf("kept %q", bad)
		}
	}
	if k.Kept() != 4 {
		t.Fatalf("a refused checkpoint changed the kept size to %d", k.Kept())
	}
}

// TestWitnessURL: an http(s) witness gets every kept checkpoint POSTed as
// text/plain; a witness that answers other than 2xx fails the keeping,
// and the error shows neither the URL's credentials nor its query.
func TestWitnessURL(t *testing.T) {
	var mu sync.Mutex
	var got [][]byte
	status := http.StatusNoContent
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		mu.Lock()
		defer mu.Unlock()
		if r.Method != http.MethodPost || !strings.HasPrefix(r.Header.Get("Content-Type"), "text/plain") {
			t.Errorf("%s with %q", r.Method, r.Header.Get("Content-Type"))
		}
		got = append(got, body)
		w.WriteHeader(status)
	}))
	defer srv.Close()
	u := strings.Replace(srv.URL, "http://", "http://user:secret@", 1) + "/witness?token=hidden"
	k := New(t.TempDir(), u)
	for _, size := range []string{"5", "7"} {
		if err := k.Keep(cp(size), false); err != nil {
			t.Fatal(err)
		}
	}
	mu.Lock()
	if len(got) != 2 || !bytes.Equal(got[1], cp("7")) {
		t.Fatalf("the witness got %q", got)
	}
	status = http.StatusServiceUnavailable
	mu.Unlock()
	err := k.Keep(cp("9"), false)
	if err == nil || !strings.Contains(err.Error(), "503") {
		t.Fatalf("a failing witness: %v", err)
	}
	if strings.Contains(err.Error(), "secret") || strings.Contains(err.Error(), "hidden") {
		t.Fatalf("the error shows the witness's credentials: %v", err)
	}
	srv.Close()
	if err := k.Keep(cp("11"), false); err == nil || strings.Contains(err.Error(), "secret") {
		t.Fatalf("an unreachable witness: %v", err)
	}
}
