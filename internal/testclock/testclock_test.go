package testclock_test

import (
	"sync"
	"testing"
	"time"

	"github.com/stskms/stskms/internal/testclock"
)

func TestClock(t *testing.T) {
	t0 := time.Date(2026, 3, 1, 12, 0, 0, 5, time.FixedZone("X", 3600))
	c := testclock.New(t0)
	if got := c.Now(); !got.Equal(t0) || got.Location() != time.UTC {
		t.Fatalf("Now = %v", got)
	}
	var wg sync.WaitGroup
	for range 8 {
		wg.Go(func() { c.Add(time.Second) })
	}
	wg.Wait()
	if got := c.Now().Sub(t0); got != 8*time.Second {
		t.Errorf("after 8 × Add(1s): %v", got)
	}
	c.Set(t0)
	if !c.Now().Equal(t0) {
		t.Errorf("Set: %v", c.Now())
	}
	var zero testclock.Clock
	if !zero.Now().Equal(time.Unix(0, 0)) {
		t.Errorf("zero value: %v", zero.Now())
	}
}
