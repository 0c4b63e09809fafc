package syncbuf_test

import (
	"fmt"
	"strings"
	"sync"
	"testing"

	"github.com/stskms/stskms/internal/syncbuf"
)

// TestConcurrentWrites: lines written from many goroutines while others
// read all arrive whole (run with -race to check the locking).
func TestConcurrentWrites(t *testing.T) {
	var b syncbuf.Buffer
	var wg sync.WaitGroup
	for i := range 8 {
		wg.Go(func() {
			for j := range 100 {
				fmt.Fprintf(&b, "w%d-%d\n", i, j)
				_ = b.String()
			}
		})
	}
	wg.Wait()
	lines := strings.Split(strings.TrimSuffix(b.String(), "\n"), "\n")
	if len(lines) != 800 {
		t.Fatalf("%d lines, want 800", len(lines))
	}
	seen := map[string]bool{}
	for _, l := range lines {
		if seen[l] || !strings.HasPrefix(l, "w") {
			t.Errorf("line %q torn or repeated", l)
		}
		seen[l] = true
	}
}
