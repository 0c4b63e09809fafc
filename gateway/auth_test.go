package gateway

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"encoding/base64"
	"net"
	"strings"
	"testing"

	"github.com/emersion/go-msgauth/dkim"
	"github.com/stskms/stskms/store"
)

// fakeDNS is a Resolver serving TXT records from a map; everything else
// does not exist.
type fakeDNS map[string][]string

func (d fakeDNS) LookupTXT(_ context.Context, name string) ([]string, error) {
	if v, ok := d[strings.TrimSuffix(name, ".")]; ok {
		return v, nil
	}
	return nil, &net.DNSError{Err: "no such host", Name: name, IsNotFound: true}
}
func (fakeDNS) LookupMX(_ context.Context, name string) ([]*net.MX, error) {
	return nil, &net.DNSError{Err: "no such host", Name: name, IsNotFound: true}
}
func (fakeDNS) LookupIPAddr(_ context.Context, name string) ([]net.IPAddr, error) {
	return nil, &net.DNSError{Err: "no such host", Name: name, IsNotFound: true}
}
func (fakeDNS) LookupAddr(_ context.Context, addr string) ([]string, error) {
	return nil, &net.DNSError{Err: "no such host", Name: addr, IsNotFound: true}
}

// TestAuth records SPF, DKIM and DMARC with each request; RequirePass
// ignores a request whose From domain is not authenticated.
func TestAuth(t *testing.T) {
	pub, priv, _ := ed25519.GenerateKey(nil)
	dns := fakeDNS{
		"example.com":                   {"v=spf1 ip4:127.0.0.1 -all"},
		"_dmarc.example.com":            {"v=DMARC1; p=reject"},
		"sel._domainkey.example.com":    {"v=DKIM1; k=ed25519; p=" + base64.StdEncoding.EncodeToString(pub)},
		"forged.example":                {"v=spf1 -all"},
		"sel._domainkey.forged.example": {"v=DKIM1; k=ed25519; p=" + base64.StdEncoding.EncodeToString(pub)},
	}
	sign := func(raw string) string {
		var b bytes.Buffer
		if err := dkim.Sign(&b, strings.NewReader(raw), &dkim.SignOptions{Domain: "example.com", Selector: "sel", Signer: priv}); err != nil {
			t.Fatal(err)
		}
		return b.String()
	}
	for _, tc := range []struct {
		name    string
		policy  AuthPolicy
		from    string
		raw     string
		auth    string
		replied bool
	}{
		{"SPF and DKIM", RecordOnly, alice, sign(reqMail("")),
			"spf=pass dkim=pass header.d=example.com dmarc=pass (p=reject)", true},
		{"SPF only", RequirePass, alice, reqMail(""), "spf=pass dkim=none dmarc=pass (p=reject)", true},
		{"DKIM only", RequirePass, "relay@forged.example", sign(reqMail("")),
			"spf=fail dkim=pass header.d=example.com dmarc=pass (p=reject)", true},
		{"altered after signing", RecordOnly, "relay@forged.example",
			strings.Replace(sign(reqMail("")), "{KMS:Help}", "{KMS:Help} x", 1), "spf=fail dkim=fail dmarc=fail (p=reject)", true},
		{"forged, record only", RecordOnly, "x@forged.example", reqMail("", "From: boss@forged.example"),
			"spf=fail dkim=none dmarc=fail", true},
		{"forged, required", RequirePass, "x@forged.example", reqMail("", "From: boss@forged.example"),
			"spf=fail dkim=none dmarc=fail", false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			each(t, func(t *testing.T, db *store.DB) {
				h := newHarness(t, db, func(c *Config) { c.Auth = &AuthChecker{Policy: tc.policy, Resolver: dns} })
				h.requestFrom(tc.from, tc.raw)
				h.drain()
				q := h.queue()
				if q[0].Auth != tc.auth {
					t.Errorf("auth %q, want %q", q[0].Auth, tc.auth)
				}
				if got := len(h.sink.messages()) == 1; got != tc.replied {
					t.Errorf("replied %v (%s %s)", got, q[0].State, q[0].Reason)
				}
				if !tc.replied && q[0].Reason != string(NotAuthenticated) {
					t.Errorf("reason %s", q[0].Reason)
				}
			})
		})
	}
}
