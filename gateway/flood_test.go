package gateway

import (
	"context"
	"fmt"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/emersion/go-smtp"
	"github.com/stskms/stskms/gwresult"
	"github.com/stskms/stskms/internal/testclock"
	"github.com/stskms/stskms/store"
	"github.com/stskms/stskms/store/storetest"
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
		case gwresult.Notice:
			out = append(out, r.result.Code+" "+n)
		default:
			out = append(out, "final "+n)
		}
	}
	return out
}

// floodLimits: two at once, then one a minute per address; a wait over
// 150 s blocks for an hour.
func floodLimits(c *Config) {
	c.Limits = &Limits{Address: Limit{Every: time.Minute, Burst: 2}, MaxDefer: 150 * time.Second,
		BlockFor: time.Hour, Notices: Limit{Every: time.Minute, Burst: 10}, NoticesTotal: Limit{Every: time.Second, Burst: 100}}
}

// TestRateLimit: over the first limit requests are deferred with one
// Deferred notice each and answered later; over the second the sender is
// blocked, with one Blocked notice carrying the end time; a blocked
// sender's new requests are dropped without reply until the block ends.
func TestRateLimit(t *testing.T) {
	each(t, func(t *testing.T, db *store.DB) {
		h := newHarness(t, db, floodLimits)
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
		blocks, err := h.gw.Queue().Blocks(context.Background())
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
		h.clock.Add(2 * time.Minute)
		h.drain()
		want = append(want, "final #2", "final #3")
		if got := kinds(h.replies()); !reflect.DeepEqual(got, want) {
			t.Fatalf("replies %q, want %q", got, want)
		}

		// After the block, requests are served again.
		h.clock.Add(time.Hour)
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

// TestRateLimitShared: two gateway processes on one database (each its own
// connection pool) draw from the same buckets: requests from one sender
// spread over both are deferred and blocked exactly as by one gateway.
func TestRateLimitShared(t *testing.T) {
	each(t, func(t *testing.T, db *store.DB) {
		h := newHarness(t, db, floodLimits)
		h2 := h.second()
		gws := []*harness{h, h2}
		for i := range 6 {
			g := gws[i%2]
			g.request(helpN(i))
			g.drain()
		}
		want := []string{"final #0", "final #1", "Deferred #2", "Deferred #3", "Blocked #4"}
		if got := kinds(h.replies()); !reflect.DeepEqual(got, want) {
			t.Fatalf("replies %q, want %q", got, want)
		}
		h.clock.Add(2 * time.Minute)
		h2.drain()
		h.drain()
		want = append(want, "final #2", "final #3")
		if got := kinds(h.replies()); !reflect.DeepEqual(got, want) {
			t.Fatalf("replies %q, want %q", got, want)
		}
		for _, g := range gws {
			if b, err := g.gw.Queue().Blocks(context.Background()); err != nil || len(b) != 1 || b[0].Key != "addr:"+alice {
				t.Errorf("Blocks = %+v, %v", b, err)
			}
		}
	})
}

// TestRateLimitSharedConcurrent: two gateway processes running at once on
// one database, taking requests of one sender in parallel, admit exactly
// what one bucket holds: Burst at once, one deferred within MaxDefer, the
// rest blocked.
func TestRateLimitSharedConcurrent(t *testing.T) {
	each(t, func(t *testing.T, db *store.DB) {
		h := newHarness(t, db, func(c *Config) {
			c.Limits = &Limits{Address: Limit{Every: time.Hour, Burst: 4}, MaxDefer: 90 * time.Minute, BlockFor: time.Hour,
				Notices: Limit{Every: time.Minute, Burst: 100}, NoticesTotal: Limit{Every: time.Second, Burst: 100}}
			c.Workers, c.PollInterval = 3, 20*time.Millisecond
		})
		h2 := h.second()
		const n = 10
		for i := range n {
			[]*harness{h, h2}[i%2].request(helpN(i))
		}
		ctx, cancel := context.WithCancel(context.Background())
		done := make(chan error, 2)
		go func() { done <- h.gw.Run(ctx) }()
		go func() { done <- h2.gw.Run(ctx) }()
		defer func() { cancel(); <-done; <-done }()
		deadline := time.Now().Add(time.Minute) // only stops a hung test
		for {
			count := map[string]int{}
			for _, e := range h.queue() {
				switch {
				case e.State == StateReceived && e.Result != "":
					count["deferred"]++
				case e.State == StateIgnored && e.Reason == string(BlockedSender):
					count["blocked"]++
				default:
					count[e.State]++
				}
			}
			if count[StateReplied]+count["deferred"]+count["blocked"] == n {
				if count[StateReplied] != 4 || count["deferred"] != 1 {
					t.Fatalf("%v, want 4 replied, 1 deferred, 5 blocked", count)
				}
				break
			}
			if time.Now().After(deadline) {
				t.Fatalf("not done: %v", count)
			}
			time.Sleep(10 * time.Millisecond)
		}
	})
}

// TestRateLimitRestart: the buckets survive a restart of the gateway.
func TestRateLimitRestart(t *testing.T) {
	each(t, func(t *testing.T, db *store.DB) {
		h := newHarness(t, db, floodLimits)
		h.request(helpN(0))
		h.request(helpN(1))
		h.drain()
		h.restart()
		h.clock.Add(30 * time.Second)
		h.request(helpN(2))
		h.drain()
		want := []string{"final #0", "final #1", "Deferred #2"}
		rs := h.replies()
		if got := kinds(rs); !reflect.DeepEqual(got, want) {
			t.Fatalf("replies %q, want %q", got, want)
		}
		if p := rs[2].result.Params; !reflect.DeepEqual(p, []string{stamp(h.clock.Now().Add(30 * time.Second))}) {
			t.Errorf("Deferred params %q", p)
		}
	})
}

// TestRateLimitCrashAfterAdmit: a gateway that took the tokens of a
// request and crashed before deferring it took them once: the request
// taken over is neither charged again nor processed before its time.
func TestRateLimitCrashAfterAdmit(t *testing.T) {
	each(t, func(t *testing.T, db *store.DB) {
		h := newHarness(t, db, func(c *Config) { floodLimits(c); c.Lease = 10 * time.Second })
		h.request(helpN(0))
		h.request(helpN(1))
		h.drain()
		h.request(helpN(2))
		ctx := context.Background()
		c, err := h.gw.q.claim(ctx)
		if err != nil || c == nil {
			t.Fatalf("claim = %v, %v", c, err)
		}
		keys := h.cfg.Limits.keys([]string{alice}, []string{alice}, "")
		if d, over, err := h.gw.q.admitRate(ctx, h.gw.limits, c, h.clock.Now(), keys); d != time.Minute || over != "" || err != nil {
			t.Fatalf("admit = %v, %q, %v", d, over, err)
		}
		// The worker dies here, before it puts the mail back.
		h.restart()
		h.clock.Add(30 * time.Second) // the lease is over, the deferral not
		h.drain()
		if got := kinds(h.replies()); !reflect.DeepEqual(got, []string{"final #0", "final #1"}) {
			t.Fatalf("replies %q before the deferral's end", got)
		}
		h.clock.Add(30 * time.Second)
		h.request(helpN(3)) // charged after #2 only: one minute more
		h.drain()
		want := []string{"final #0", "final #1", "final #2", "Deferred #3"}
		rs := h.replies()
		if got := kinds(rs); !reflect.DeepEqual(got, want) {
			t.Fatalf("replies %q, want %q", got, want)
		}
		if p := rs[3].result.Params; !reflect.DeepEqual(p, []string{stamp(h.clock.Now().Add(time.Minute))}) {
			t.Errorf("Deferred params %q", p)
		}
	})
}

// TestBucket: the arithmetic of a stored bucket.
func TestBucket(t *testing.T) {
	lim := Limit{Every: time.Minute, Burst: 2}
	sec := int64(time.Second)
	b := fullBucket(0, lim)
	for i, want := range []time.Duration{0, 0, time.Minute, 2 * time.Minute} {
		var wait time.Duration
		var ok bool
		if b, wait, ok = b.take(lim, 1); !ok || wait != want {
			t.Fatalf("take %d: wait %v, %v; want %v", i, wait, ok, want)
		}
	}
	if f := b.fill(90*sec, lim); f.tokens != -tokenUnit/2 || f.at != 90*sec {
		t.Errorf("fill after 90 s: %+v", f)
	}
	if f := b.fill(-sec, lim); f != b {
		t.Errorf("fill with the clock behind: %+v", f)
	}
	if f := b.fill(1<<62, lim); f != fullBucket(1<<62, lim) {
		t.Errorf("fill after ages: %+v", f)
	}
	if _, _, ok := fullBucket(0, Limit{Every: time.Minute}).take(Limit{Every: time.Minute}, 1); ok {
		t.Error("a bucket of burst 0 gave a token")
	}
	if _, ok := mulDiv(1<<62, 1<<62, 3, false); ok {
		t.Error("mulDiv overflow not reported")
	}
	if q, ok := mulDiv(7, 3, 2, true); q != 11 || !ok {
		t.Errorf("mulDiv(7, 3, 2, ceil) = %d, %v", q, ok)
	}
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
		h.sink.Reset()
		h.clock.Add(time.Second)
		h.request(klfRequest(clientBodies(t, h.kmc.request(t, h.clock.Now()))[0], "From: carol@example.net",
			"Message-ID: <k1@example.net>"))
		h.drain()
		h.clock.Add(time.Second)
		h.request(klfRequest(clientBodies(t, h.kmc.request(t, h.clock.Now()))[0], "From: erin@example.org",
			"Message-ID: <k2@example.org>"))
		h.drain()
		rs := h.replies()
		if len(rs) != 2 || rs[0].result.Kind != gwresult.Success || rs[1].result.Code != gwresult.Deferred {
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
		h.clock.Add(3 * time.Minute)
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
		ok, err := h.gw.Queue().Unblock(context.Background(), "addr:"+alice)
		if err != nil || !ok {
			t.Fatalf("Unblock = %v, %v", ok, err)
		}
		h.request(helpN(3))
		h.drain()
		if got := kinds(h.replies()); !reflect.DeepEqual(got, []string{"final #0", "Blocked #1", "final #3"}) {
			t.Fatalf("replies %q", got)
		}
		if b, _ := h.gw.Queue().Blocks(context.Background()); len(b) != 0 {
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
		if len(rs) != 1 || rs[0].result.Kind != gwresult.Notice || rs[0].result.Code != gwresult.Deferred ||
			rs[0].result.Text != "Processing failed but will be retried; you don't need to do anything" ||
			rs[0].result.Params[0] != stamp(tReq.Add(time.Minute)) {
			t.Fatalf("replies %+v", rs)
		}
		h.clock.Add(time.Minute)
		h.drain() // fails again: no second notice
		if n := len(h.sink.messages()); n != 1 {
			t.Fatalf("%d messages after the second failure", n)
		}
		h.clock.Add(2 * time.Minute)
		h.drain()
		rs = h.replies()
		if len(rs) != 2 {
			t.Fatalf("%d replies", len(rs))
		}
		checkKLF(t, h, rs[1], tReq)

		h.sink.Reset()
		h.kmc.failNext = 10
		h.request(klfRequest(clientBodies(t, h.kmc.request(t, h.clock.Now()))[0], "Message-ID: <x2@example.com>"))
		for range 3 {
			h.drain()
			h.clock.Add(10 * time.Minute)
		}
		rs = h.replies()
		if len(rs) != 2 || rs[0].result.Code != gwresult.Deferred || rs[1].result.Kind != gwresult.Failure || rs[1].result.Code != gwresult.EInternal {
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
		h.sink.failWith(func(n int) error {
			if n <= 3 {
				return &smtp.SMTPError{Code: 451, EnhancedCode: smtp.EnhancedCode{4, 3, 0}, Message: "try later"}
			}
			return nil
		})
		h.request(helpN(0))
		h.drain()
		for i, wait := range []time.Duration{time.Minute, 2 * time.Minute, 4 * time.Minute} {
			if n := len(h.sink.messages()); n != 0 {
				t.Fatalf("sent before retry %d", i)
			}
			h.clock.Add(wait - time.Second)
			h.drain()
			if n := len(h.sink.messages()); n != 0 {
				t.Fatalf("retry %d came early", i)
			}
			h.clock.Add(time.Second)
			h.drain()
		}
		if n := len(h.sink.messages()); n != 1 {
			t.Fatalf("%d sent", n)
		}
		if r := h.queue()[0].Replies[0]; r.State != OutSent || r.Attempts != 4 {
			t.Errorf("outbox %+v", r)
		}

		h.sink.failWith(func(int) error {
			return &smtp.SMTPError{Code: 550, EnhancedCode: smtp.EnhancedCode{5, 1, 1}, Message: "no such user"}
		})
		h.request(helpN(1))
		h.drain()
		h.clock.Add(time.Hour)
		h.drain()
		if r := h.queue()[1].Replies[0]; r.State != OutFailed || r.Attempts != 1 || !strings.Contains(r.LastError, "550") {
			t.Errorf("outbox %+v", r)
		}
	})
}

// BenchmarkAdmit measures the flood protection's share of a request: the
// transaction that refills and takes from the stored buckets of a
// {KMS:GetKlfStsEd2} request (address, domain, module — all of one sender,
// so every request writes the same rows) and admits the mail.
func BenchmarkAdmit(b *testing.B) {
	storetest.EachB(b, func(b *testing.B, db *store.DB) {
		ctx := context.Background()
		lim := Limit{Every: time.Nanosecond, Burst: 1 << 20}
		h := &harness{t: b, db: db, clock: testclock.New(time.Now().UTC().Truncate(time.Second)), sink: newSink(b)}
		h.kmc = newFakeKMC(b, h.clock.Now)
		h.cfg = Config{Address: gwAddr, Now: h.clock.Now,
			Limits: &Limits{Address: lim, Domain: lim, Module: lim, MaxDefer: time.Hour, BlockFor: time.Hour}}
		h.start()
		claims := make([]*claimed, b.N)
		for i := range claims {
			env := Envelope{From: alice, To: []string{gwAddr}, Received: h.clock.Now()}
			if _, err := h.gw.accept(ctx, env, []byte(helpN(i)), 100, false); err != nil {
				b.Fatal(err)
			}
			c, err := h.gw.q.claim(ctx)
			if err != nil || c == nil {
				b.Fatalf("claim = %v, %v", c, err)
			}
			claims[i] = c
		}
		keys := h.cfg.Limits.keys([]string{alice}, []string{alice}, "TestVendor:94000001")
		b.ResetTimer()
		for _, c := range claims {
			if d, over, err := h.gw.q.admitRate(ctx, h.gw.limits, c, h.clock.Now(), keys); d != 0 || over != "" || err != nil {
				b.Fatalf("admit = %v, %q, %v", d, over, err)
			}
		}
	})
}
