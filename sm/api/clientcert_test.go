package api_test

import (
	"context"
	"crypto/tls"
	"net/http"
	"testing"

	"github.com/stskms/stskms/audit"
	"github.com/stskms/stskms/internal/httpapi"
	"github.com/stskms/stskms/internal/httpapi/httpapitest"
	"github.com/stskms/stskms/records"
	"github.com/stskms/stskms/sm"
	"github.com/stskms/stskms/sm/api"
)

// certEnv is the module of startOfficers served over TLS that asks for
// client certificates: carol (an officer, by her certificate's hash),
// "pos-1" (an operator, by common name) and "pos" (the operator whose
// bearer token is e.tokens["pos"], by common name).
type certEnv struct {
	*officerEnv
	pki   *httpapitest.PKI
	certs map[string]tls.Certificate
}

func startCerts(t *testing.T) *certEnv {
	t.Helper()
	o, tokens := officerModule(t)
	e := &certEnv{officerEnv: o, pki: httpapitest.NewPKI(t), certs: map[string]tls.Certificate{}}
	for _, cn := range []string{"carol", "pos-1", "pos", "mallory"} {
		e.certs[cn] = e.pki.Cert(cn, false)
	}
	clients, err := api.NewClients([]api.ClientEntry{
		{CertSHA256: httpapi.CertSHA256(e.certs["carol"].Leaf), Role: "officer", Name: "carol"},
		{CommonName: "pos-1", Role: "operator", Name: "pos-1"},
		{CommonName: "pos", Role: "operator", Name: "pos"},
	})
	if err != nil {
		t.Fatal(err)
	}
	certFile, keyFile := httpapitest.WriteCert(t, t.TempDir(), "server", e.pki.Cert("127.0.0.1", true))
	cfg, err := api.TLSConfig(certFile, keyFile)
	if err != nil {
		t.Fatal(err)
	}
	if cfg, err = httpapi.WithClientCA(cfg, e.pki.CAFile, tls.VerifyClientCertIfGiven); err != nil {
		t.Fatal(err)
	}
	e.url = serve(t, cfg, api.NewWithClients(o.m, tokens, clients))
	return e
}

// as calls the API presenting the certificate of cn ("" none) and the
// bearer token of name ("" none), with the second officer second.
func (e *certEnv) as(cn, name, second, method, path string, in, out any) error {
	var cert *tls.Certificate
	if c, ok := e.certs[cn]; ok {
		cert = &c
	}
	c := &api.Client{URL: e.url, Token: e.tokens[name], HTTP: e.pki.Client(cert)}
	var h []string
	if second != "" {
		h = []string{api.SecondOfficerHeader, e.tokens[second]}
	}
	return c.Do(context.Background(), method, path, in, out, h...)
}

// TestClientCertificates: a verified client certificate names the caller
// as the client file says; bearer tokens still work without one; a
// certificate and a token must agree; an unknown certificate is refused.
func TestClientCertificates(t *testing.T) {
	e := startCerts(t)
	ctx := context.Background()
	var slots struct{ Slots []slotJSON }
	if err := e.as("carol", "", "", "GET", "/v1/slots", nil, &slots); err != nil || len(slots.Slots) != 1 {
		t.Fatalf("slots as carol's certificate = %+v, %v", slots, err)
	}
	// The role comes from the certificate: pos-1 is an operator.
	wantStatus(t, e.as("pos-1", "", "", "GET", "/v1/slots", nil, nil), http.StatusForbidden, sm.CodeExtended)
	if err := e.as("pos-1", "", "", "POST", "/v1/credit", credit(1, "cert-1", 10), nil); err != nil {
		t.Fatal(err)
	}
	// Bearer tokens without a certificate, and a certificate with the
	// token of the same caller.
	if err := e.as("", "pos", "", "POST", "/v1/credit", credit(1, "token-1", 10), nil); err != nil {
		t.Fatal(err)
	}
	if err := e.as("pos", "pos", "", "POST", "/v1/credit", credit(1, "both-1", 10), nil); err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct{ what, cn, token string }{
		{"nothing", "", ""},
		{"a certificate and another caller's token", "pos-1", "pos"},
		{"a certificate and an officer's token", "pos", "alice"},
		{"a certificate and a wrong token", "pos", "nobody"},
		{"an unknown certificate", "mallory", ""},
		{"an unknown certificate with a valid token", "mallory", "pos"},
	} {
		if c.token == "nobody" {
			e.tokens["nobody"] = "tok-nobody-0123456789abcdef"
		}
		err := e.as(c.cn, c.token, "", "POST", "/v1/credit", credit(1, "refused", 10), nil)
		wantStatus(t, err, http.StatusUnauthorized, sm.CodeExtended)
	}
	// A certificate of another CA does not get through the handshake.
	other := httpapitest.NewPKI(t).Cert("pos-1", false)
	e.certs["stranger"] = other
	if err := e.as("stranger", "pos", "", "GET", "/v1/registers", nil, nil); err == nil {
		t.Fatal("a certificate of another CA was accepted")
	}
	// Dual control: carol by her certificate, bob by his token.
	_, record := otherKMC(t)
	install := api.InstallRequest{Record: record, Fingerprint: records.Fingerprint(record).String(), TestKMC: true}
	wantStatus(t, e.as("carol", "", "", "POST", "/v1/slots", install, nil), http.StatusForbidden, sm.CodeExtended)
	if err := e.as("carol", "", "bob", "POST", "/v1/slots", install, nil); err != nil {
		t.Fatal(err)
	}
	// The audit log names the callers the certificates named.
	log, err := e.m.Audit(sm.Auditor.As("test"))
	if err != nil {
		t.Fatal(err)
	}
	actors := map[string]bool{}
	log.Records(ctx, 1, func(r audit.Record) error {
		actors[r.Actor] = true
		return nil
	})
	for _, want := range []string{"operator:pos-1", "operator:pos", "officer:carol+bob"} {
		if !actors[want] {
			t.Errorf("no audit record by %s in %v", want, actors)
		}
	}
}
