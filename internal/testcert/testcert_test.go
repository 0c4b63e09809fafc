package testcert

import (
	"crypto/x509"
	"testing"
)

// TestSelfSigned: the certificate verifies for each of its hosts, IP
// address or DNS name, as a server certificate under its pool, and for no
// other host; a fresh pool does not trust it.
func TestSelfSigned(t *testing.T) {
	cert, pool := SelfSigned(t, "localhost", "127.0.0.1", "::1")
	if cert.Leaf == nil || cert.PrivateKey == nil || len(cert.Certificate) != 1 {
		t.Fatalf("incomplete certificate: %+v", cert)
	}
	if cn := cert.Leaf.Subject.CommonName; cn != "localhost" {
		t.Errorf("common name %q", cn)
	}
	opts := func(host string, roots *x509.CertPool) x509.VerifyOptions {
		return x509.VerifyOptions{DNSName: host, Roots: roots, KeyUsages: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth}}
	}
	for _, h := range []string{"localhost", "127.0.0.1", "::1"} {
		if _, err := cert.Leaf.Verify(opts(h, pool)); err != nil {
			t.Errorf("verify for %s: %v", h, err)
		}
	}
	if _, err := cert.Leaf.Verify(opts("example.com", pool)); err == nil {
		t.Error("verified for a host it does not name")
	}
	if _, err := cert.Leaf.Verify(opts("localhost", x509.NewCertPool())); err == nil {
		t.Error("verified under an empty pool")
	}
}
