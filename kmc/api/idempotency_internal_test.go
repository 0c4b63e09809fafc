package api

import (
	"errors"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

func TestRequestIDs(t *testing.T) {
	now := time.Date(2025, 6, 1, 0, 0, 0, 0, time.UTC)
	r := newRequestIDs(func() time.Time { return now })
	var calls atomic.Int32
	fn := func() (any, error) { return calls.Add(1), nil }

	// Concurrent calls with one id run fn once and share its answer.
	var wg sync.WaitGroup
	answers := make([]any, 16)
	for i := range answers {
		wg.Go(func() { answers[i], _ = r.do("k", "body", fn) })
	}
	wg.Wait()
	for _, a := range answers {
		if a != int32(1) {
			t.Fatalf("answers %v", answers)
		}
	}
	if _, err := r.do("k", "other body", fn); !errors.Is(err, errRequestReused) {
		t.Fatalf("other body: %v", err)
	}
	// A failed call is forgotten: the retry runs.
	boom := errors.New("boom")
	if _, err := r.do("f", "b", func() (any, error) { return nil, boom }); err != boom {
		t.Fatal(err)
	}
	if a, err := r.do("f", "b", fn); err != nil || a != int32(2) {
		t.Fatalf("retry after failure = %v, %v", a, err)
	}
	// After requestMemory the id is free again.
	now = now.Add(requestMemory)
	if a, err := r.do("k", "other body", fn); err != nil || a != int32(3) {
		t.Fatalf("after expiry = %v, %v", a, err)
	}
	if len(r.m) != 1 {
		t.Fatalf("%d entries kept, want 1", len(r.m))
	}
	// The memory is bounded.
	for i := range maxRemembered + 10 {
		r.do(string(rune(i+1000)), "b", fn)
	}
	if len(r.m) > maxRemembered {
		t.Fatalf("%d entries kept, at most %d", len(r.m), maxRemembered)
	}
}
