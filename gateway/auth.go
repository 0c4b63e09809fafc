package gateway

import (
	"bytes"
	"context"
	"net"
	"strings"
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

// Resolver is the DNS the checks use (a *net.Resolver fits).
type Resolver = spf.DNSResolver

// AuthChecker checks sender authenticity: SPF (blitiri.com.ar/go/spf) of
// the envelope sender and client IP, DKIM signatures and the From domain's
// DMARC policy (github.com/emersion/go-msgauth).
type AuthChecker struct {
	Policy AuthPolicy
	// Resolver is the DNS (default net.DefaultResolver).
	Resolver Resolver
	// Timeout bounds all lookups of one request (default 5 s).
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
	dmarc            string // "pass", "fail"
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

// authenticate runs the checks of g.cfg.Auth on a request about to be
// answered.
func (g *Gateway) authenticate(ctx context.Context, c *claimed, in *Inbound) authResult {
	ac := g.cfg.Auth
	if ac == nil {
		return authResult{}
	}
	res := ac.Resolver
	if res == nil {
		res = net.DefaultResolver
	}
	timeout := ac.Timeout
	if timeout <= 0 {
		timeout = 5 * time.Second
	}
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	lookupTXT := func(name string) ([]string, error) { return res.LookupTXT(ctx, name) }

	a := authResult{checked: true, spf: spf.None, dkim: "none", dmarc: "fail"}
	host, _, err := net.SplitHostPort(c.env.RemoteAddr)
	if err != nil {
		host = c.env.RemoteAddr
	}
	if ip := net.ParseIP(host); ip != nil {
		a.spf, _ = spf.CheckHostWithSender(ip, c.env.Helo, c.env.From, spf.WithResolver(res), spf.WithContext(ctx))
	}
	var fromDomain string
	if len(in.From) > 0 {
		_, fromDomain = splitAddress(in.From[0])
	}
	_, envDomain := splitAddress(c.env.From)
	a.spfOK = a.spf == spf.Pass && aligned(envDomain, fromDomain)

	verifs, err := dkim.VerifyWithOptions(bytes.NewReader(c.raw), &dkim.VerifyOptions{LookupTXT: lookupTXT, MaxVerifications: 5})
	if err == nil || err == dkim.ErrTooManySignatures {
		for _, v := range verifs {
			switch {
			case v.Err == nil:
				if a.dkim != "pass" {
					a.dkim, a.dkimDomain = "pass", strings.ToLower(v.Domain)
				}
				if aligned(strings.ToLower(v.Domain), fromDomain) {
					a.dkimAlign, a.dkimDomain = true, strings.ToLower(v.Domain)
				}
			case a.dkim == "none" && dkim.IsTempFail(v.Err):
				a.dkim = "temperror"
			case a.dkim == "none" || a.dkim == "temperror":
				a.dkim = "fail"
			}
		}
	}
	if a.spfOK || a.dkimAlign {
		a.dmarc = "pass"
	}
	if fromDomain != "" {
		if rec, err := dmarc.LookupWithOptions(fromDomain, &dmarc.LookupOptions{LookupTXT: lookupTXT}); err == nil && rec != nil {
			a.dmarcPolicy = string(rec.Policy)
		}
	}
	return a
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
