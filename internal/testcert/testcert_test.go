package testcert

import (
	"crypto/tls"
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

// TestCA: a certificate the CA issues verifies for its hosts under the
// CA's pool and under a pool read from the CA's PEM, and under no other;
// its PEM files load as a key pair.
func TestCA(t *testing.T) {
	ca := NewCA(t)
	cert := ca.Issue(t, "mx.kms.test")
	fromPEM := x509.NewCertPool()
	if !fromPEM.AppendCertsFromPEM(ca.PEM()) {
		t.Fatal("the CA's PEM holds no certificate")
	}
	opts := func(host string, roots *x509.CertPool) x509.VerifyOptions {
		return x509.VerifyOptions{DNSName: host, Roots: roots, KeyUsages: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth}}
	}
	for _, roots := range []*x509.CertPool{ca.Pool(), fromPEM} {
		if _, err := cert.Leaf.Verify(opts("mx.kms.test", roots)); err != nil {
			t.Errorf("verify: %v", err)
		}
	}
	if _, err := cert.Leaf.Verify(opts("127.0.0.1", ca.Pool())); err == nil {
		t.Error("verified for an address it does not name")
	}
	if _, err := cert.Leaf.Verify(opts("mx.kms.test", NewCA(t).Pool())); err == nil {
		t.Error("verified under another CA")
	}
	chain, key := PEMFiles(t, cert)
	if _, err := tls.X509KeyPair(chain, key); err != nil {
		t.Errorf("PEM files: %v", err)
	}
}
