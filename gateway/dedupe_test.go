package gateway

import (
	"context"
	"reflect"
	"sync"
	"testing"

	"github.com/stskms/stskms/store"
)

// dedupe sets the default window (the harness turns it off).
func dedupe(c *Config) { c.DedupeWindow = DefaultDedupeWindow }

// states summarises the queue as "state/reason" per mail.
func states(q []QueueEntry) []string {
	var out []string
	for _, e := range q {
		out = append(out, e.State+"/"+e.Reason)
	}
	return out
}

// TestRedelivery: a mail delivered again (same envelope sender and
// Message-ID) within the window — here after its first copy was stored and
// the gateway crashed before the client saw the 250 — is stored as a
// duplicate and not answered; another sender's mail with that Message-ID,
// a mail without one, and a copy after the window are answered.
func TestRedelivery(t *testing.T) {
	each(t, func(t *testing.T, db *store.DB) {
		h := newHarness(t, db, dedupe)
		raw := helpN(0)
		// Stored, then the process dies before its 250 reaches the client.
		if _, err := h.gw.Accept(context.Background(), Envelope{From: alice, To: []string{gwAddr}, RemoteAddr: "127.0.0.1:1"},
			[]byte(raw)); err != nil {
			t.Fatal(err)
		}
		h.restart()
		h.request(raw) // the client sends it again
		h.drain()
		if n := len(h.sink.messages()); n != 1 {
			t.Fatalf("%d replies to one mail delivered twice", n)
		}
		h.request(raw) // and once more, after the answer
		h.requestFrom("bob@example.org", raw)
		noID := helpN(1, "-Message-ID")
		h.request(noID)
		h.request(noID)
		h.drain()
		h.clock.Add(DefaultDedupeWindow)
		h.request(raw)
		h.drain()
		want := []string{"replied/service", "ignored/duplicate", "ignored/duplicate", "replied/service",
			"replied/service", "replied/service", "replied/service"}
		if got := states(h.queue()); !reflect.DeepEqual(got, want) {
			t.Errorf("queue %q\nwant  %q", got, want)
		}
		if n := len(h.sink.messages()); n != 5 {
			t.Errorf("%d replies, want 5", n)
		}
		l, err := h.gw.Queue().List(context.Background(), StateIgnored)
		if err != nil || len(l) != 2 || l[0].Reason != string(Duplicate) {
			t.Errorf("operator's list of ignored mail: %+v, %v", l, err)
		}
	})
}

// TestRedeliveryConcurrent: copies of one mail accepted at the same time
// (by two processes on one database, or two sessions) make one request and
// duplicates, decided by the database.
func TestRedeliveryConcurrent(t *testing.T) {
	each(t, func(t *testing.T, db *store.DB) {
		h := newHarness(t, db, dedupe)
		other, err := New(context.Background(), db, h.kmc, nil, h.cfg)
		if err != nil {
			t.Fatal(err)
		}
		var wg sync.WaitGroup
		for i := range 8 {
			g := []*Gateway{h.gw, other}[i%2]
			wg.Go(func() {
				env := Envelope{From: alice, To: []string{gwAddr}, RemoteAddr: "127.0.0.1:1", Received: h.clock.Now()}
				if _, err := g.Accept(context.Background(), env, []byte(helpN(0))); err != nil {
					t.Error(err)
				}
			})
		}
		wg.Wait()
		n := map[string]int{}
		for _, s := range states(h.queue()) {
			n[s]++
		}
		if want := map[string]int{"received/": 1, "ignored/duplicate": 7}; !reflect.DeepEqual(n, want) {
			t.Errorf("states %v, want %v", n, want)
		}
	})
}

// TestRedeliveryOff: a negative window turns the check off.
func TestRedeliveryOff(t *testing.T) {
	each(t, func(t *testing.T, db *store.DB) {
		h := newHarness(t, db, func(c *Config) { c.DedupeWindow = -1 })
		h.request(helpN(0))
		h.request(helpN(0))
		h.drain()
		if n := len(h.sink.messages()); n != 2 {
			t.Errorf("%d replies", n)
		}
	})
}

// TestMessageID: the Message-ID is read from the header only.
func TestMessageID(t *testing.T) {
	for raw, want := range map[string]string{
		"From: a@b\r\nMessage-ID:  <x@y> \r\n\r\nMessage-ID: <body@y>\r\n": "<x@y>",
		"From: a@b\r\n\r\nMessage-ID: <body@y>\r\n":                        "",
		"message-id: <x@y>\r\n":                                            "<x@y>",
		"\x00garbage":                                                      "",
	} {
		if got := messageID([]byte(raw)); got != want {
			t.Errorf("messageID(%q) = %q, want %q", raw, got, want)
		}
	}
	if deliveryKey("A@example.com", []byte("Message-ID: <1@x>\r\n\r\n")) != deliveryKey("a@example.com", []byte("Message-ID: <1@x>\r\n\r\n")) {
		t.Error("the envelope sender's case changes the key")
	}
}
