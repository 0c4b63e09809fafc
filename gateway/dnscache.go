package gateway

import (
	"context"
	"errors"
	"fmt"
	"net"
	"strings"
	"sync"
	"time"

	"blitiri.com.ar/go/spf"
)

// How long the sender checks' DNS cache keeps an answer: found records,
// "no such name/record" (negative), and failures (timeouts, SERVFAIL), so
// that a dead resolver costs one timeout per name per DNSFailTTL, not one
// per request. The records' own TTLs are not visible through net.Resolver;
// these are short enough for SPF, DKIM and DMARC changes.
const (
	DNSPositiveTTL = 5 * time.Minute
	DNSNegativeTTL = time.Minute
	DNSFailTTL     = 10 * time.Second
	// DNSMaxStale is how long after its TTL an answer is still given
	// while a fresh one is looked up (RFC 8767's serve-stale): a name in
	// steady use never waits for a lookup, even when the resolver is slow
	// or dead.
	DNSMaxStale = time.Minute
	// dnsCacheSize bounds the cache's entries.
	dnsCacheSize = 4096
)

// Resolver is the DNS the checks use (a *net.Resolver fits; see
// NewDNSResolver).
type Resolver = spf.DNSResolver

// NewDNSResolver returns a resolver that asks only the DNS server at addr
// ("host:port", or "host" for port 53), over UDP and, for long answers,
// TCP — not the machine's resolver configuration.
func NewDNSResolver(addr string) (*net.Resolver, error) {
	if _, _, err := net.SplitHostPort(addr); err != nil {
		addr = net.JoinHostPort(addr, "53")
	}
	host, port, err := net.SplitHostPort(addr)
	if err != nil || host == "" || port == "" {
		return nil, fmt.Errorf("gateway: DNS server %q: want host:port", addr)
	}
	return &net.Resolver{PreferGo: true, Dial: func(ctx context.Context, network, _ string) (net.Conn, error) {
		var d net.Dialer
		return d.DialContext(ctx, network, addr)
	}}, nil
}

// dnsCache is a Resolver that remembers answers (by lookup and name, for
// the TTLs above) and asks once for concurrent lookups of one name. An
// answer up to DNSMaxStale past its TTL is given at once while it is looked
// up again in the background. Each lookup runs with its own deadline
// (timeout), whichever caller started it; a caller whose context ends
// first stops waiting.
type dnsCache struct {
	next    Resolver
	timeout time.Duration
	now     func() time.Time

	mu      sync.Mutex
	entries map[string]*dnsEntry
}

// dnsEntry is one lookup: done is closed when val and err are set.
type dnsEntry struct {
	done       chan struct{}
	val        any
	err        error
	expires    time.Time
	refreshing bool // a lookup to replace it is running
}

func newDNSCache(next Resolver, timeout time.Duration) *dnsCache {
	return &dnsCache{next: next, timeout: timeout, now: time.Now, entries: map[string]*dnsEntry{}}
}

// LookupTXT is Resolver's.
func (c *dnsCache) LookupTXT(ctx context.Context, name string) ([]string, error) {
	return cachedLookup(ctx, c, "TXT", name, c.next.LookupTXT)
}

// LookupMX is Resolver's.
func (c *dnsCache) LookupMX(ctx context.Context, name string) ([]*net.MX, error) {
	return cachedLookup(ctx, c, "MX", name, c.next.LookupMX)
}

// LookupIPAddr is Resolver's.
func (c *dnsCache) LookupIPAddr(ctx context.Context, host string) ([]net.IPAddr, error) {
	return cachedLookup(ctx, c, "IP", host, c.next.LookupIPAddr)
}

// LookupAddr is Resolver's.
func (c *dnsCache) LookupAddr(ctx context.Context, addr string) ([]string, error) {
	return cachedLookup(ctx, c, "PTR", addr, c.next.LookupAddr)
}

// cachedLookup answers kind/name from the cache, or joins the lookup in
// flight, or starts one.
func cachedLookup[T any](ctx context.Context, c *dnsCache, kind, name string, lookup func(context.Context, string) (T, error)) (T, error) {
	key := kind + " " + strings.ToLower(strings.TrimSuffix(name, "."))
	run := func(ctx context.Context, name string) (any, error) { return lookup(ctx, name) }
	now := c.now()
	c.mu.Lock()
	e := c.entries[key]
	switch {
	case e == nil || isDone(e.done) && !now.Before(e.expires.Add(DNSMaxStale)):
		e = &dnsEntry{done: make(chan struct{})}
		c.evict(now)
		c.entries[key] = e
		go c.run(e, key, name, run)
	case isDone(e.done) && !now.Before(e.expires) && !e.refreshing:
		e.refreshing = true
		go c.run(&dnsEntry{done: make(chan struct{})}, key, name, run)
	}
	c.mu.Unlock()
	var zero T
	select {
	case <-e.done:
	case <-ctx.Done():
		return zero, &net.DNSError{Err: ctx.Err().Error(), Name: name, IsTimeout: true}
	}
	if e.err != nil {
		return zero, e.err
	}
	return e.val.(T), nil
}

// run does lookup for e, with the cache's timeout, records its answer
// and makes e the entry of key.
func (c *dnsCache) run(e *dnsEntry, key, name string, lookup func(context.Context, string) (any, error)) {
	ctx, cancel := context.WithTimeout(context.Background(), c.timeout)
	defer cancel()
	val, err := lookup(ctx, name)
	ttl := DNSPositiveTTL
	var de *net.DNSError
	switch {
	case err == nil:
	case errors.As(err, &de) && de.IsNotFound:
		ttl = DNSNegativeTTL
	default:
		ttl = DNSFailTTL
	}
	c.mu.Lock()
	e.val, e.err, e.expires = val, err, c.now().Add(ttl)
	c.entries[key] = e
	c.mu.Unlock()
	close(e.done)
}

// evict makes room for one entry: expired entries go first, then, if the
// cache is still full, any finished one. Called with c.mu held.
func (c *dnsCache) evict(now time.Time) {
	if len(c.entries) < dnsCacheSize {
		return
	}
	for k, e := range c.entries {
		if isDone(e.done) && !now.Before(e.expires) {
			delete(c.entries, k)
		}
	}
	for k, e := range c.entries {
		if len(c.entries) < dnsCacheSize {
			return
		}
		if isDone(e.done) {
			delete(c.entries, k)
		}
	}
}

func isDone(ch chan struct{}) bool {
	select {
	case <-ch:
		return true
	default:
		return false
	}
}
