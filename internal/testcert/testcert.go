// Package testcert makes throw-away TLS certificates for tests that run a
// TLS server on the loopback interface (SMTP with STARTTLS, IMAP, HTTPS):
// a self-signed server certificate and a pool that trusts it. Nothing made
// here is for use outside tests.
package testcert

import (
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"math/big"
	"net"
	"testing"
	"time"
)

// SelfSigned returns a self-signed ECDSA P-256 server certificate for
// hosts, valid from an hour ago for two hours, and a pool that trusts it
// alone. A host that parses as an IP address is certified as one, any
// other as a DNS name; the first host is also the common name. It fails tb
// on any error.
func SelfSigned(tb testing.TB, hosts ...string) (tls.Certificate, *x509.CertPool) {
	tb.Helper()
	key := newKey(tb)
	tmpl := serverTemplate(hosts)
	leaf := create(tb, tmpl, tmpl, key, key)
	pool := x509.NewCertPool()
	pool.AddCert(leaf)
	return tls.Certificate{Certificate: [][]byte{leaf.Raw}, PrivateKey: key, Leaf: leaf}, pool
}

// serverTemplate is the template of a server certificate for hosts, valid
// from an hour ago for two hours: IP addresses certified as such, other
// hosts as DNS names, the first host also the common name.
func serverTemplate(hosts []string) *x509.Certificate {
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(1), NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour),
		KeyUsage: x509.KeyUsageDigitalSignature, ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
	}
	if len(hosts) > 0 {
		tmpl.Subject = pkix.Name{CommonName: hosts[0]}
	}
	for _, h := range hosts {
		if ip := net.ParseIP(h); ip != nil {
			tmpl.IPAddresses = append(tmpl.IPAddresses, ip)
		} else {
			tmpl.DNSNames = append(tmpl.DNSNames, h)
		}
	}
	return tmpl
}
