package testcert

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"math/big"
	"sync/atomic"
	"testing"
	"time"
)

// CA is a throw-away certificate authority: it issues server certificates
// the way a real CA would, so that a test can trust the CA (a PEM bundle,
// a pool) rather than the server's own certificate.
type CA struct {
	// Cert is the CA's self-signed certificate.
	Cert   *x509.Certificate
	key    *ecdsa.PrivateKey
	serial atomic.Int64 // of the last certificate issued; the CA's is 1
}

// NewCA makes a CA with an ECDSA P-256 key, valid from an hour ago for two
// hours. It fails tb on any error.
func NewCA(tb testing.TB) *CA {
	tb.Helper()
	key := newKey(tb)
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "stskms test CA"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour),
		KeyUsage: x509.KeyUsageCertSign, BasicConstraintsValid: true, IsCA: true,
	}
	ca := &CA{Cert: create(tb, tmpl, tmpl, key, key), key: key}
	ca.serial.Store(1)
	return ca
}

// Pool returns a pool that trusts the CA alone.
func (ca *CA) Pool() *x509.CertPool {
	pool := x509.NewCertPool()
	pool.AddCert(ca.Cert)
	return pool
}

// PEM returns the CA's certificate in PEM, as a CA bundle file holds it.
func (ca *CA) PEM() []byte {
	return pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: ca.Cert.Raw})
}

// Issue returns a server certificate for hosts (as SelfSigned names them)
// signed by the CA, with a fresh key.
func (ca *CA) Issue(tb testing.TB, hosts ...string) tls.Certificate {
	tb.Helper()
	return ca.sign(tb, serverTemplate(hosts))
}

// IssueClient returns a client certificate of common name cn signed by the
// CA, with a fresh key, valid from an hour ago for two hours.
func (ca *CA) IssueClient(tb testing.TB, cn string) tls.Certificate {
	tb.Helper()
	return ca.sign(tb, &x509.Certificate{
		Subject: pkix.Name{CommonName: cn}, NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour),
		KeyUsage: x509.KeyUsageDigitalSignature, ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth},
	})
}

// sign gives tmpl a serial number and a fresh key and signs it with the
// CA's key.
func (ca *CA) sign(tb testing.TB, tmpl *x509.Certificate) tls.Certificate {
	tb.Helper()
	key := newKey(tb)
	tmpl.SerialNumber = big.NewInt(ca.serial.Add(1))
	leaf := create(tb, tmpl, ca.Cert, key, ca.key)
	return tls.Certificate{Certificate: [][]byte{leaf.Raw}, PrivateKey: key, Leaf: leaf}
}

// PEMFiles returns cert's chain and its private key (PKCS #8) in PEM, as a
// server's certificate and key files hold them.
func PEMFiles(tb testing.TB, cert tls.Certificate) (chain, key []byte) {
	tb.Helper()
	for _, der := range cert.Certificate {
		chain = append(chain, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der})...)
	}
	der, err := x509.MarshalPKCS8PrivateKey(cert.PrivateKey)
	if err != nil {
		tb.Fatal(err)
	}
	return chain, pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: der})
}

func newKey(tb testing.TB) *ecdsa.PrivateKey {
	tb.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		tb.Fatal(err)
	}
	return key
}

// create signs tmpl with parent's key and parses the result.
func create(tb testing.TB, tmpl, parent *x509.Certificate, key, parentKey *ecdsa.PrivateKey) *x509.Certificate {
	tb.Helper()
	der, err := x509.CreateCertificate(rand.Reader, tmpl, parent, &key.PublicKey, parentKey)
	if err != nil {
		tb.Fatal(err)
	}
	cert, err := x509.ParseCertificate(der)
	if err != nil {
		tb.Fatal(err)
	}
	return cert
}
