package main

import (
	"context"
	"net/http"
	"testing"

	"github.com/stskms/stskms/internal/httpapi/httpapitest"
	"github.com/stskms/stskms/sm/api"
)

// TestSMServeHTTPClientCert: with --client-ca the HTTP port takes client
// certificates mapped by the client file, and refuses an unknown one.
func TestSMServeHTTPClientCert(t *testing.T) {
	pki := httpapitest.NewPKI(t)
	srvCert, srvKey := httpapitest.WriteCert(t, t.TempDir(), "server", pki.Cert("127.0.0.1", true))
	s := startServe(t, posClients(t), "--tls-cert", srvCert, "--tls-key", srvKey, "--client-ca", pki.CAFile)
	pos, mallory := pki.Cert("pos-1", false), pki.Cert("mallory", false)
	var n api.CounterAnswer
	if err := (&api.Client{URL: "https://" + s.http, HTTP: pki.Client(&pos)}).Do(context.Background(), "GET", "/v1/counter", nil, &n); err != nil {
		t.Fatalf("GET /v1/counter as pos-1: %v", err)
	}
	err := (&api.Client{URL: "https://" + s.http, HTTP: pki.Client(&mallory)}).Do(context.Background(), "GET", "/v1/counter", nil, nil)
	if se, ok := err.(*api.StatusError); !ok || se.Status != http.StatusUnauthorized {
		t.Fatalf("GET /v1/counter as mallory: %v", err)
	}
	s.wait(t)
}
