package gateway

import (
	"context"
	"fmt"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/emersion/go-smtp"
	"github.com/stskms/stskms/store"
)

// helpN is the n-th Help request of a test, told apart by its Subject.
func helpN(n int, edits ...string) string {
	return reqMail("", append([]string{fmt.Sprintf("Subject: {KMS:Help} #%d", n),
		fmt.Sprintf("Message-ID: <h%d@example.com>", n)}, edits...)...)
}

// kinds summarises replies as "final #n", "Deferred #n", "Blocked #n".
func kinds(rs []*parsedReply) []string {
	var out []string
	for _, r := range rs {
		n := strings.TrimPrefix(subjectOf(r), "Auto: {KMS:Help} ")
		switch r.result.Kind {
		case Notice:
			out = append(out, r.result.Code+" "+n)
		default:
			out = append(out, "final "+n)
		}
	}
	return out
}

// TestRateLimit: over the first limit requests are deferred with one
// Deferred notice each and answered later; over the second the sender is
// blocked, with one Blocked notice carrying the end time; a blocked
// sender's new requests are dropped without reply until the block ends.
func TestRateLimit(t *testing.T) {
	each(t, func(t *testing.T, db *store.DB) {
		h := newHarness(t, db, func(c *Config) {
			c.Limits = &Limits{Address: Limit{Every: time.Minute, Burst: 2}, MaxDefer: 150 * time.Second,
				BlockFor: time.Hour, Notices: Limit{Every: time.Minute, Burst: 10}, NoticesTotal: Limit{Every: time.Second, Burst: 100}}
		})
		t0 := h.clock.Now()
		for i := range 5 {
			h.request(helpN(i))
		}
		h.drain()
		want := []string{"final #0", "final #1", "Deferred #2", "Deferred #3", "Blocked #4"}
		rs := h.replies()
		if got := kinds(rs); !reflect.DeepEqual(got, want) {
			t.Fatalf("replies %q, want %q", got, want)
		}
		if p := rs[2].result.Params; !reflect.DeepEqual(p, []string{stamp(t0.Add(time.Minute))}) {
			t.Errorf("Deferred params %q", p)
		}
		if p := rs[4].result.Params; !reflect.DeepEqual(p, []string{stamp(t0.Add(time.Hour))}) {
			t.Errorf("Blocked params %q", p)
		}
		for _, r := range rs[2:] {
			if r.header.Get("In-Reply-To") == "" || !strings.Contains(r.text, "Notice: ") {
				t.Errorf("notice without In-Reply-To or explanation:\n%s", r.text)
			}
		}
		blocks, err := h.gw.Blocks(context.Background())
		if err != nil || len(blocks) != 1 || blocks[0].Key != "addr:"+alice || !blocks[0].Until.Equal(t0.Add(time.Hour)) {
			t.Errorf("Blocks = %+v, %v", blocks, err)
		}

		// Blocked: dropped, no notice.
		h.request(helpN(5))
		h.drain()
		if n := len(h.sink.messages()); n != 5 {
			t.Errorf("%d messages after a blocked request", n)
		}

		// The deferred requests are answered when due, block or not.
		h.clock.Advance(2 * time.Minute)
		h.drain()
		want = append(want, "final #2", "final #3")
		if got := kinds(h.replies()); !reflect.DeepEqual(got, want) {
			t.Fatalf("replies %q, want %q", got, want)
		}

		// After the block, requests are served again.
		h.clock.Advance(time.Hour)
		h.request(helpN(6))
		h.drain()
		want = append(want, "final #6")
		if got := kinds(h.replies()); !reflect.DeepEqual(got, want) {
			t.Fatalf("replies %q, want %q", got, want)
		}
		q := h.queue()
		if q[4].Reason != string(BlockedSender) || q[5].Reason != string(BlockedSender) || q[5].State != StateIgnored {
			t.Errorf("queue: %+v, %+v", q[4], q[5])
		}
	})
}

// TestRateLimitDomainModule: the domain and the module have buckets of
// their own.
func TestRateLimitDomainModule(t *testing.T) {
	each(t, func(t *testing.T, db *store.DB) {
		h := newHarness(t, db, func(c *Config) {
			c.Limits = &Limits{Domain: Limit{Every: time.Hour, Burst: 1}, Module: Limit{Every: time.Hour, Burst: 1},
				MaxDefer: 2 * time.Hour, BlockFor: time.Hour, NoticesTotal: Limit{Every: time.Second, Burst: 100}}
		})
		h.request(helpN(0))
		h.request(helpN(1, "From: bob@example.com"))
		h.drain()
		if got := kinds(h.replies()); !reflect.DeepEqual(got, []string{"final #0", "Deferred #1"}) {
			t.Errorf("same domain: %q", got)
		}
		if q := h.queue(); q[1].State != StateReceived {
			t.Errorf("second request %s", q[1].State)
		}

		// The module: two owners of one module, in different domains.
		h.kmc.registered[h.kmc.sm.PKID.String()] = []string{alice, "carol@example.net", "erin@example.org"}
		h.sink.reset()
		h.clock.Advance(time.Second)
		h.request(klfRequest(clientBodies(t, h.kmc.request(t, h.clock.Now()))[0], "From: carol@example.net",
			"Message-ID: <k1@example.net>"))
		h.drain()
		h.clock.Advance(time.Second)
		h.request(klfRequest(clientBodies(t, h.kmc.request(t, h.clock.Now()))[0], "From: erin@example.org",
			"Message-ID: <k2@example.org>"))
		h.drain()
		rs := h.replies()
		if len(rs) != 2 || rs[0].result.Kind != Success || rs[1].result.Code != Deferred {
			t.Errorf("module limit: %v", kinds(rs))
		}
	})
}

// TestNoticeLimit: notices are rate limited themselves; a deferred request
// beyond the notice limit is still deferred and answered, silently.
func TestNoticeLimit(t *testing.T) {
	each(t, func(t *testing.T, db *store.DB) {
		h := newHarness(t, db, func(c *Config) {
			c.Limits = &Limits{Address: Limit{Every: time.Minute, Burst: 1}, MaxDefer: time.Hour, BlockFor: time.Hour,
				Notices: Limit{Every: time.Hour, Burst: 1}, NoticesTotal: Limit{Every: time.Second, Burst: 100}}
		})
		for i := range 3 {
			h.request(helpN(i))
		}
		h.drain()
		if got := kinds(h.replies()); !reflect.DeepEqual(got, []string{"final #0", "Deferred #1"}) {
			t.Fatalf("replies %q", got)
		}
		h.clock.Advance(3 * time.Minute)
		h.drain()
		if got := kinds(h.replies()); !reflect.DeepEqual(got, []string{"final #0", "Deferred #1", "final #1", "final #2"}) {
			t.Fatalf("replies %q", got)
		}
	})
}

// TestUnblock: an operator lifts a block.
func TestUnblock(t *testing.T) {
	each(t, func(t *testing.T, db *store.DB) {
		h := newHarness(t, db, func(c *Config) {
			c.Limits = &Limits{Address: Limit{Every: time.Hour, Burst: 1}, MaxDefer: time.Minute, BlockFor: 24 * time.Hour,
				NoticesTotal: Limit{Every: time.Second, Burst: 100}}
		})
		h.request(helpN(0))
		h.request(helpN(1))
		h.request(helpN(2))
		h.drain()
		if got := kinds(h.replies()); !reflect.DeepEqual(got, []string{"final #0", "Blocked #1"}) {
			t.Fatalf("replies %q", got)
		}
		ok, err := h.gw.Unblock(context.Background(), "addr:"+alice)
		if err != nil || !ok {
			t.Fatalf("Unblock = %v, %v", ok, err)
		}
		h.request(helpN(3))
		h.drain()
		if got := kinds(h.replies()); !reflect.DeepEqual(got, []string{"final #0", "Blocked #1", "final #3"}) {
			t.Fatalf("replies %q", got)
		}
		if b, _ := h.gw.Blocks(context.Background()); len(b) != 0 {
			t.Errorf("blocks %+v", b)
		}
	})
}

// TestTransientKMC: a transient KMC failure gives one Deferred notice now
// and the final result later; failures beyond MaxAttempts end in
// EInternal.
func TestTransientKMC(t *testing.T) {
	each(t, func(t *testing.T, db *store.DB) {
		h := newHarness(t, db, func(c *Config) { c.MaxAttempts, c.RetryBase = 3, time.Minute })
		tReq := h.clock.Now()
		h.kmc.failNext = 2
		h.request(klfRequest(clientBodies(t, h.kmc.request(t, tReq))[0]))
		h.drain()
		rs := h.replies()
		if len(rs) != 1 || rs[0].result.Kind != Notice || rs[0].result.Code != Deferred ||
			rs[0].result.Text != "Processing failed but will be retried; you don't need to do anything" ||
			rs[0].result.Params[0] != stamp(tReq.Add(time.Minute)) {
			t.Fatalf("replies %+v", rs)
		}
		h.clock.Advance(time.Minute)
		h.drain() // fails again: no second notice
		if n := len(h.sink.messages()); n != 1 {
			t.Fatalf("%d messages after the second failure", n)
		}
		h.clock.Advance(2 * time.Minute)
		h.drain()
		rs = h.replies()
		if len(rs) != 2 {
			t.Fatalf("%d replies", len(rs))
		}
		checkKLF(t, h, rs[1], tReq)

		h.sink.reset()
		h.kmc.failNext = 10
		h.request(klfRequest(clientBodies(t, h.kmc.request(t, h.clock.Now()))[0], "Message-ID: <x2@example.com>"))
		for range 3 {
			h.drain()
			h.clock.Advance(10 * time.Minute)
		}
		rs = h.replies()
		if len(rs) != 2 || rs[0].result.Code != Deferred || rs[1].result.Kind != Failure || rs[1].result.Code != EInternal {
			t.Fatalf("replies %v", kinds(rs))
		}
		if strings.Contains(rs[1].text, "database") {
			t.Error("internal detail in the reply")
		}
	})
}

// TestRelayRetry: a temporary refusal by the relay is retried with
// back-off; a permanent one is final.
func TestRelayRetry(t *testing.T) {
	each(t, func(t *testing.T, db *store.DB) {
		h := newHarness(t, db, func(c *Config) { c.RetryBase, c.RetryMax = time.Minute, 4*time.Minute })
		h.sink.mu.Lock()
		h.sink.fail = func(n int) error {
			if n <= 3 {
				return &smtp.SMTPError{Code: 451, EnhancedCode: smtp.EnhancedCode{4, 3, 0}, Message: "try later"}
			}
			return nil
		}
		h.sink.mu.Unlock()
		h.request(helpN(0))
		h.drain()
		for i, wait := range []time.Duration{time.Minute, 2 * time.Minute, 4 * time.Minute} {
			if n := len(h.sink.messages()); n != 0 {
				t.Fatalf("sent before retry %d", i)
			}
			h.clock.Advance(wait - time.Second)
			h.drain()
			if n := len(h.sink.messages()); n != 0 {
				t.Fatalf("retry %d came early", i)
			}
			h.clock.Advance(time.Second)
			h.drain()
		}
		if n := len(h.sink.messages()); n != 1 {
			t.Fatalf("%d sent", n)
		}
		if r := h.queue()[0].Replies[0]; r.State != OutSent || r.Attempts != 4 {
			t.Errorf("outbox %+v", r)
		}

		h.sink.mu.Lock()
		h.sink.fail = func(int) error {
			return &smtp.SMTPError{Code: 550, EnhancedCode: smtp.EnhancedCode{5, 1, 1}, Message: "no such user"}
		}
		h.sink.mu.Unlock()
		h.request(helpN(1))
		h.drain()
		h.clock.Advance(time.Hour)
		h.drain()
		if r := h.queue()[1].Replies[0]; r.State != OutFailed || r.Attempts != 1 || !strings.Contains(r.LastError, "550") {
			t.Errorf("outbox %+v", r)
		}
	})
}
