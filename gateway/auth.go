package gateway

import (
	"bytes"
	"context"
	"net"
	"strings"
	"sync"
	"time"

	"blitiri.com.ar/go/spf"
	"github.com/emersion/go-msgauth/dkim"
	"github.com/emersion/go-msgauth/dmarc"
)

// AuthPolicy says what the gateway does with the sender-authenticity
// results.
type AuthPolicy int

const (
	// RecordOnly records SPF, DKIM and DMARC results with each request and
	// serves it whatever they are (the default: works without DNS).
	RecordOnly AuthPolicy = iota
	// RequirePass serves only requests whose From domain is authenticated
	// (DMARC-style: SPF pass for an aligned envelope sender, or a valid
	// DKIM signature of an aligned domain); others are ignored without
	// reply, as their reply address may be forged.
	RequirePass
)

// DefaultAuthTimeout is AuthChecker.Timeout's default.
const DefaultAuthTimeout = 2 * time.Second

// AuthChecker checks sender authenticity: SPF (blitiri.com.ar/go/spf) of
// the envelope sender and client IP, DKIM signatures and the From domain's
// DMARC policy (github.com/emersion/go-msgauth).
//
// The three checks of a request run concurrently; their DNS answers are
// cached by the gateway (dnscache.go), concurrent lookups of one name are
// asked once, and every lookup is cut off after Timeout. A check whose
// lookups fail or are cut off is recorded temperror: a slow or dead
// resolver degrades the result, never the gateway's throughput. The checks
// of a request start when it is accepted, so that they run while it waits
// in the queue, not in the worker that answers it.
type AuthChecker struct {
	Policy AuthPolicy
	// Resolver is the DNS (default net.DefaultResolver).
	Resolver Resolver
	// Timeout bounds the lookups of one request (default
	// DefaultAuthTimeout).
	Timeout time.Duration
}

// NotAuthenticated: ignored under RequirePass.
const NotAuthenticated Reason = "not-authenticated"

// authResult is what the checks found.
type authResult struct {
	checked          bool
	spf              spf.Result
	dkim             string // "pass", "fail", "temperror", "none"
	dkimDomain       string // of the first valid signature
	dmarc            string // "pass", "fail", "temperror"
	dmarcPolicy      string // the From domain's p=, if found
	spfOK, dkimAlign bool
}

// String is what is recorded, e.g. "spf=pass dkim=pass header.d=example.com
// dmarc=pass"; "" when nothing was checked.
func (a authResult) String() string {
	if !a.checked {
		return ""
	}
	s := "spf=" + string(a.spf) + " dkim=" + a.dkim
	if a.dkimDomain != "" {
		s += " header.d=" + a.dkimDomain
	}
	s += " dmarc=" + a.dmarc
	if a.dmarcPolicy != "" {
		s += " (p=" + a.dmarcPolicy + ")"
	}
	return s
}

// acceptable applies the policy.
func (a authResult) acceptable(c *AuthChecker) bool {
	return c == nil || c.Policy == RecordOnly || a.dmarc == "pass"
}

// authenticate returns the checks of a request about to be answered: those
// started when it was accepted, or, if this process did not accept it (or
// had too many checks running then), checks made now.
// A nil runner checks nothing.
func (r *authRunner) authenticate(ctx context.Context, c *claimed, in *Inbound) authResult {
	if r == nil {
		return authResult{}
	}
	if a, ok := r.collect(ctx, c.ref); ok {
		return a
	}
	return r.check(ctx, c.env, c.raw, in)
}

// authAheadMax bounds the checks started at acceptance and not yet
// collected; beyond it, a request is checked by the worker that answers it.
const authAheadMax = 1024

// authRunner runs an AuthChecker's checks for a Gateway.
type authRunner struct {
	policy  AuthPolicy
	dns     Resolver
	timeout time.Duration

	mu    sync.Mutex
	ahead map[string]*authAhead
}

// authAhead is a check started at acceptance: res is set when done is
// closed.
type authAhead struct {
	done    chan struct{}
	res     authResult
	started time.Time
}

func newAuthRunner(c *AuthChecker) *authRunner {
	if c == nil {
		return nil
	}
	res := c.Resolver
	if res == nil {
		res = net.DefaultResolver
	}
	timeout := c.Timeout
	if timeout <= 0 {
		timeout = DefaultAuthTimeout
	}
	return &authRunner{policy: c.Policy, dns: newDNSCache(res, timeout), timeout: timeout, ahead: map[string]*authAhead{}}
}

// start begins the checks of an accepted request (ref) that will be
// answered, unless authAheadMax are waiting already.
func (r *authRunner) start(ref string, env Envelope, raw []byte, size int64, truncated bool, p *Policy) {
	in := ParseMessage(env, raw, size, truncated)
	if Decide(in, p).Action != Reply {
		return
	}
	a := &authAhead{done: make(chan struct{}), started: time.Now()}
	r.mu.Lock()
	if len(r.ahead) >= authAheadMax {
		r.sweep()
	}
	full := len(r.ahead) >= authAheadMax
	if !full {
		r.ahead[ref] = a
	}
	r.mu.Unlock()
	if full {
		return
	}
	go func() {
		a.res = r.check(context.Background(), env, raw, in)
		close(a.done)
	}()
}

// sweep drops checks never collected (the request was answered by another
// process, or deleted): those older than ten timeouts. Called with r.mu
// held.
func (r *authRunner) sweep() {
	for ref, a := range r.ahead {
		if time.Since(a.started) > 10*r.timeout {
			delete(r.ahead, ref)
		}
	}
}

// collect returns the result of the checks started for ref, waiting for
// them if need be; ok is false if none were started.
func (r *authRunner) collect(ctx context.Context, ref string) (authResult, bool) {
	r.mu.Lock()
	a := r.ahead[ref]
	delete(r.ahead, ref)
	r.mu.Unlock()
	if a == nil {
		return authResult{}, false
	}
	select {
	case <-a.done:
		return a.res, true
	case <-ctx.Done():
		return authResult{}, false
	}
}

// check runs the SPF, DKIM and DMARC checks of a request concurrently,
// within the runner's timeout.
func (r *authRunner) check(ctx context.Context, env Envelope, raw []byte, in *Inbound) authResult {
	ctx, cancel := context.WithTimeout(ctx, r.timeout)
	defer cancel()
	lookupTXT := func(name string) ([]string, error) { return r.dns.LookupTXT(ctx, name) }

	a := authResult{checked: true, spf: spf.None, dkim: "none", dmarc: "fail"}
	var fromDomain string
	if len(in.From) > 0 {
		_, fromDomain = splitAddress(in.From[0])
	}
	_, envDomain := splitAddress(env.From)
	var dmarcTemp bool
	var wg sync.WaitGroup
	wg.Go(func() {
		host, _, err := net.SplitHostPort(env.RemoteAddr)
		if err != nil {
			host = env.RemoteAddr
		}
		if ip := net.ParseIP(host); ip != nil {
			a.spf, _ = spf.CheckHostWithSender(ip, env.Helo, env.From, spf.WithResolver(r.dns), spf.WithContext(ctx))
		}
	})
	wg.Go(func() { a.dkim, a.dkimDomain, a.dkimAlign = checkDKIM(raw, fromDomain, lookupTXT) })
	wg.Go(func() {
		if fromDomain == "" {
			return
		}
		rec, err := dmarc.LookupWithOptions(fromDomain, &dmarc.LookupOptions{LookupTXT: lookupTXT})
		switch {
		case err == nil && rec != nil:
			a.dmarcPolicy = string(rec.Policy)
		case dmarc.IsTempFail(err):
			dmarcTemp = true
		}
	})
	wg.Wait()
	a.spfOK = a.spf == spf.Pass && aligned(envDomain, fromDomain)
	switch {
	case a.spfOK || a.dkimAlign:
		a.dmarc = "pass"
	case dmarcTemp || a.spf == spf.TempError || a.dkim == "temperror":
		a.dmarc = "temperror"
	}
	return a
}

// checkDKIM verifies the DKIM signatures of raw (at most 5): "pass" and
// the first valid signature's domain (an aligned one's if any), or
// "temperror", "fail" or "none".
func checkDKIM(raw []byte, fromDomain string, lookupTXT func(string) ([]string, error)) (result, domain string, aligns bool) {
	result = "none"
	verifs, err := dkim.VerifyWithOptions(bytes.NewReader(raw), &dkim.VerifyOptions{LookupTXT: lookupTXT, MaxVerifications: 5})
	if err != nil && err != dkim.ErrTooManySignatures {
		return result, "", false
	}
	for _, v := range verifs {
		switch {
		case v.Err == nil:
			if result != "pass" {
				result, domain = "pass", strings.ToLower(v.Domain)
			}
			if aligned(strings.ToLower(v.Domain), fromDomain) {
				aligns, domain = true, strings.ToLower(v.Domain)
			}
		case result == "none" && dkim.IsTempFail(v.Err):
			result = "temperror"
		case result == "none" || result == "temperror":
			result = "fail"
		}
	}
	return result, domain, aligns
}

// aligned is DMARC's relaxed alignment, approximated without the public
// suffix list: equal domains, or one a subdomain of the other.
func aligned(a, b string) bool {
	if a == "" || b == "" {
		return false
	}
	a, b = strings.ToLower(a), strings.ToLower(b)
	return a == b || strings.HasSuffix(a, "."+b) || strings.HasSuffix(b, "."+a)
}
