package gateway

import (
	"context"
	"fmt"
	"net"
	"sync"
	"testing"
	"time"

	"github.com/stskms/stskms/gwresult"
	"github.com/stskms/stskms/internal/dnstest"
	"github.com/stskms/stskms/store"
	"github.com/stskms/stskms/store/storetest"
)

// startDNS starts a local DNS server with alice's domain's records: SPF
// passing 127.0.0.1, DMARC p=reject.
func startDNS(t testing.TB) *dnstest.Server {
	t.Helper()
	s, err := dnstest.Start(map[string][]string{
		"example.com":        {"v=spf1 ip4:127.0.0.1 -all"},
		"_dmarc.example.com": {"v=DMARC1; p=reject"},
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

// dnsAuth is a RecordOnly AuthChecker asking only s, through
// NewDNSResolver as --dns does.
func dnsAuth(t testing.TB, s *dnstest.Server, timeout time.Duration) *AuthChecker {
	t.Helper()
	r, err := NewDNSResolver(s.Addr)
	if err != nil {
		t.Fatal(err)
	}
	return &AuthChecker{Policy: RecordOnly, Resolver: r, Timeout: timeout}
}

// TestAuthResolverFaults: with a normal resolver the checks pass; with one
// that answers SERVFAIL, or never in time, they are recorded temperror and
// the request is still answered under RecordOnly.
func TestAuthResolverFaults(t *testing.T) {
	for _, tc := range []struct {
		name string
		mode dnstest.Mode
		auth string
	}{
		{"normal", dnstest.Normal, "spf=pass dkim=none dmarc=pass (p=reject)"},
		{"servfail", dnstest.Fail, "spf=temperror dkim=none dmarc=temperror"},
		{"timeout", dnstest.Hold, "spf=temperror dkim=none dmarc=temperror"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			each(t, func(t *testing.T, db *store.DB) {
				s := startDNS(t)
				s.SetMode(tc.mode, 0)
				h := newHarness(t, db, func(c *Config) { c.Auth = dnsAuth(t, s, 300*time.Millisecond) })
				h.request(reqMail(""))
				h.drain()
				q := h.queue()
				if q[0].Auth != tc.auth {
					t.Errorf("auth %q, want %q", q[0].Auth, tc.auth)
				}
				if r := h.one(); r.result.Kind != gwresult.Success || q[0].State != StateReplied {
					t.Errorf("not answered: %s %+v", q[0].State, r.result)
				}
				if s.Queries() == 0 {
					t.Error("the local DNS server was not asked")
				}
			})
		})
	}
}

// TestAuthConcurrent: the lookups of one request (SPF and DMARC) and of
// different requests are in flight at the same time, and start when the
// mail is accepted, before any worker takes it: the server holds every
// answer until all six questions of three requests have arrived.
func TestAuthConcurrent(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		s := startDNS(t)
		s.SetMode(dnstest.Hold, 0)
		h := newHarness(t, db, func(c *Config) { c.Auth = dnsAuth(t, s, time.Minute) })
		for i := range 3 {
			from := fmt.Sprintf("x@d%d.test", i)
			h.requestFrom(from, helpN(i, "From: "+from))
		}
		deadline := time.Now().Add(30 * time.Second)
		for s.Pending() < 6 {
			if time.Now().After(deadline) {
				t.Fatalf("%d lookups in flight, want 6 (3 requests × SPF and DMARC)", s.Pending())
			}
			time.Sleep(5 * time.Millisecond)
		}
		s.Release()
		h.drain()
		for i, e := range h.queue() {
			if e.State != StateReplied || e.Auth != "spf=none dkim=none dmarc=fail" {
				t.Errorf("request %d: %s, auth %q", i, e.State, e.Auth)
			}
		}
	})
}

// TestDNSCache: answers are cached (found, negative and failed, each for
// its TTL), and concurrent lookups of one name are asked once.
func TestDNSCache(t *testing.T) {
	s := startDNS(t)
	r, err := NewDNSResolver(s.Addr)
	if err != nil {
		t.Fatal(err)
	}
	c := newDNSCache(r, 5*time.Second)
	now := time.Now()
	c.now = func() time.Time { return now }
	ctx := context.Background()
	lookup := func(name string) error {
		_, err := c.LookupTXT(ctx, name)
		return err
	}
	var wg sync.WaitGroup
	for range 20 {
		wg.Go(func() {
			if err := lookup("example.com"); err != nil {
				t.Error(err)
			}
		})
	}
	wg.Wait()
	if err := lookup("missing.test"); err == nil {
		t.Error("missing.test found")
	}
	lookup("missing.test")
	if a, b := s.QueriesFor("example.com"), s.QueriesFor("missing.test"); a != 1 || b != 1 {
		t.Fatalf("queries: example.com %d, missing.test %d; want 1 each", a, b)
	}
	// Past its TTL an answer is still given, at once, while it is looked
	// up again (here: the resolver fails, which is cached in turn).
	s.SetMode(dnstest.Fail, 0)
	now = now.Add(DNSNegativeTTL)
	if err := lookup("missing.test"); !isNotFound(err) {
		t.Errorf("stale answer: %v", err)
	}
	fresh(t, c, "TXT missing.test")
	failed := s.QueriesFor("missing.test") // Go's resolver may ask twice
	if err := lookup("missing.test"); err == nil || isNotFound(err) || s.QueriesFor("missing.test") != failed {
		t.Errorf("after the refresh: %v, %d queries (%d before)", err, s.QueriesFor("missing.test"), failed)
	}
	// Beyond DNSMaxStale the answer is not given: the lookup is waited for.
	s.SetMode(dnstest.Normal, 0)
	now = now.Add(DNSFailTTL + DNSMaxStale)
	if err := lookup("missing.test"); !isNotFound(err) || s.QueriesFor("missing.test") != failed+1 {
		t.Errorf("long expired: %v, %d queries", err, s.QueriesFor("missing.test"))
	}
	if err := lookup("example.com"); err != nil || s.QueriesFor("example.com") != 1 {
		t.Errorf("example.com within its TTL: %v, %d queries", err, s.QueriesFor("example.com"))
	}

	// A caller whose context ends stops waiting; the lookup goes on.
	s.SetMode(dnstest.Hold, 0)
	short, cancel := context.WithTimeout(ctx, 20*time.Millisecond)
	defer cancel()
	var de *net.DNSError
	if _, err := c.LookupTXT(short, "held.test"); err == nil || !asDNSError(err, &de) || !de.IsTimeout {
		t.Errorf("held lookup: %v", err)
	}
	s.Release()
}

func isNotFound(err error) bool {
	de, ok := err.(*net.DNSError)
	return ok && de.IsNotFound
}

// fresh waits until the cache's entry for key is a finished lookup within
// its TTL.
func fresh(t *testing.T, c *dnsCache, key string) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for {
		c.mu.Lock()
		e := c.entries[key]
		ok := e != nil && isDone(e.done) && c.now().Before(e.expires)
		c.mu.Unlock()
		if ok {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s not refreshed", key)
		}
		time.Sleep(time.Millisecond)
	}
}

func asDNSError(err error, de **net.DNSError) bool {
	e, ok := err.(*net.DNSError)
	*de = e
	return ok
}

// TestNewDNSResolver: --dns takes host:port or a host (port 53).
func TestNewDNSResolver(t *testing.T) {
	for _, a := range []string{"127.0.0.1:5353", "127.0.0.1", "[::1]:53", "ns.example"} {
		if _, err := NewDNSResolver(a); err != nil {
			t.Errorf("%q: %v", a, err)
		}
	}
	for _, a := range []string{"", ":53", "127.0.0.1:"} {
		if _, err := NewDNSResolver(a); err == nil {
			t.Errorf("%q accepted", a)
		}
	}
}

// BenchmarkAuthSlowDNS: {KMS:Help} requests over SMTP (8 clients), each
// from a domain of its own (no cache hit), to a gateway with the sender
// checks on (RecordOnly, default timeout and workers) whose DNS server
// answers every question after 3 s. One op is a batch of authBatch
// requests; req/s is the rate of replies reaching the relay, from the
// first request sent to the last reply (issue 12 wants ≥ 100).
func BenchmarkAuthSlowDNS(b *testing.B) { benchAuth(b, true) }

// BenchmarkAuthOff is BenchmarkAuthSlowDNS without the checks, for
// comparison.
func BenchmarkAuthOff(b *testing.B) { benchAuth(b, false) }

func benchAuth(b *testing.B, checks bool) {
	const authBatch = 1000
	storetest.EachB(b, func(b *testing.B, db *store.DB) {
		s := startDNS(b)
		s.SetMode(dnstest.Normal, 3*time.Second)
		h := &harness{t: b, db: db, sink: newSink(b)}
		h.kmc = newFakeKMC(b, time.Now)
		h.cfg = Config{Address: gwAddr, Limits: &Limits{}, PollInterval: 100 * time.Millisecond}
		if checks {
			h.cfg.Auth = dnsAuth(b, s, 0)
		}
		h.start()
		ctx, cancel := context.WithCancel(context.Background())
		defer cancel()
		go h.gw.Run(ctx)

		var total int
		b.ResetTimer()
		start := time.Now()
		for op := range b.N {
			next := make(chan int)
			var wg sync.WaitGroup
			for range 8 {
				wg.Go(func() {
					for i := range next {
						from := fmt.Sprintf("x@d%d-%d.bench", op, i)
						if err := h.send(from, []string{gwAddr}, helpN(i, "From: "+from)); err != nil {
							b.Error(err)
							return
						}
					}
				})
			}
			for i := range authBatch {
				next <- i
			}
			close(next)
			wg.Wait()
			total += authBatch
			deadline := time.After(5 * time.Minute)
			for msgs, kept := h.sink.Messages(); len(msgs) < total; msgs, kept = h.sink.Messages() {
				select {
				case <-kept:
				case <-time.After(100 * time.Millisecond):
				case <-deadline:
					b.Fatalf("%d of %d replies", len(h.sink.messages()), total)
				}
			}
		}
		elapsed := time.Since(start)
		b.StopTimer()
		b.ReportMetric(float64(total)/elapsed.Seconds(), "req/s")
		q, err := h.gw.Queue().List(ctx, "")
		if err != nil || len(q) == 0 || checks && q[0].Auth != "spf=temperror dkim=none dmarc=temperror" {
			b.Fatalf("auth of the first request: %v", err)
		}
	})
}
