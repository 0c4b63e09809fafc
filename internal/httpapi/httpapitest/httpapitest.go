// Package httpapitest helps the tests of the HTTP APIs and of the
// STS6-style API: a throw-away CA, server certificates for 127.0.0.1 and
// ::1, client certificates by common name, a self-signed server with a
// client that trusts it, and the check of an OpenAPI document against the
// routes served. Nothing made here is for use outside tests.
package httpapitest

import (
	"bufio"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"math/big"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"
)

// PKI is a test CA.
type PKI struct {
	t   testing.TB
	key *ecdsa.PrivateKey
	// CA is the CA certificate; CAFile holds it in PEM.
	CA     *x509.Certificate
	CAFile string
	serial int64
}

// NewPKI makes a CA valid for a day, its PEM in a temporary directory.
func NewPKI(t testing.TB) *PKI {
	t.Helper()
	key := newKey(t)
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "stskms test CA"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(24 * time.Hour), IsCA: true,
		BasicConstraintsValid: true, KeyUsage: x509.KeyUsageCertSign}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	ca, err := x509.ParseCertificate(der)
	if err != nil {
		t.Fatal(err)
	}
	p := &PKI{t: t, key: key, CA: ca, CAFile: filepath.Join(t.TempDir(), "ca.pem"), serial: 1}
	writePEM(t, p.CAFile, "CERTIFICATE", der)
	return p
}

func newKey(t testing.TB) *ecdsa.PrivateKey {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	return key
}

func writePEM(t testing.TB, path, typ string, der []byte) {
	if err := os.WriteFile(path, pem.EncodeToMemory(&pem.Block{Type: typ, Bytes: der}), 0o600); err != nil {
		t.Fatal(err)
	}
}

// Cert makes a certificate signed by the CA: a server certificate for
// 127.0.0.1 and ::1 if server, else a client certificate of common name
// cn.
func (p *PKI) Cert(cn string, server bool) tls.Certificate {
	p.t.Helper()
	key := newKey(p.t)
	p.serial++
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(p.serial), Subject: pkix.Name{CommonName: cn},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(24 * time.Hour), KeyUsage: x509.KeyUsageDigitalSignature,
		ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth}}
	if server {
		tmpl.ExtKeyUsage = []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth}
		tmpl.IPAddresses = []net.IP{net.IPv4(127, 0, 0, 1), net.IPv6loopback}
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, p.CA, &key.PublicKey, p.key)
	if err != nil {
		p.t.Fatal(err)
	}
	leaf, err := x509.ParseCertificate(der)
	if err != nil {
		p.t.Fatal(err)
	}
	return tls.Certificate{Certificate: [][]byte{der}, PrivateKey: key, Leaf: leaf}
}

// Client returns an HTTP client that trusts the CA and presents cert (none
// if cert is nil).
func (p *PKI) Client(cert *tls.Certificate) *http.Client {
	pool := x509.NewCertPool()
	pool.AddCert(p.CA)
	cfg := &tls.Config{RootCAs: pool, MinVersion: tls.VersionTLS12}
	if cert != nil {
		cfg.Certificates = []tls.Certificate{*cert}
	}
	tr := &http.Transport{TLSClientConfig: cfg}
	p.t.Cleanup(tr.CloseIdleConnections)
	return &http.Client{Transport: tr}
}

// WriteCert writes a certificate and its key as PEM files in dir, named
// NAME.pem and NAME.key, and returns their paths.
func WriteCert(t testing.TB, dir, name string, c tls.Certificate) (certFile, keyFile string) {
	t.Helper()
	der, err := x509.MarshalPKCS8PrivateKey(c.PrivateKey)
	if err != nil {
		t.Fatal(err)
	}
	certFile, keyFile = filepath.Join(dir, name+".pem"), filepath.Join(dir, name+".key")
	writePEM(t, certFile, "CERTIFICATE", c.Certificate[0])
	writePEM(t, keyFile, "PRIVATE KEY", der)
	return certFile, keyFile
}

// SelfSigned writes a server certificate for 127.0.0.1 and ::1 and its key
// (PEM) into dir, signed by a throw-away CA, and returns their paths and
// an HTTP client that trusts that CA only.
func SelfSigned(tb testing.TB, dir string) (certFile, keyFile string, client *http.Client) {
	tb.Helper()
	p := NewPKI(tb)
	certFile, keyFile = WriteCert(tb, dir, "server", p.Cert("127.0.0.1", true))
	return certFile, keyFile, p.Client(nil)
}

var (
	pathRe   = regexp.MustCompile(`^  (/\S+):\s*$`)
	methodRe = regexp.MustCompile(`^    (get|post|put|delete|patch):\s*$`)
)

// CheckOpenAPI fails t unless the OpenAPI document at path documents
// exactly the routes ("METHOD /path", as http.ServeMux patterns), and
// returns the document's text for further checks.
func CheckOpenAPI(t testing.TB, path string, routes []string) string {
	t.Helper()
	raw, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	var documented []string
	inPaths, p := false, ""
	sc := bufio.NewScanner(strings.NewReader(string(raw)))
	for sc.Scan() {
		line := sc.Text()
		if !strings.HasPrefix(line, " ") && line != "" {
			inPaths = strings.HasPrefix(line, "paths:")
			continue
		}
		if !inPaths {
			continue
		}
		if m := pathRe.FindStringSubmatch(line); m != nil {
			p = m[1]
		} else if m := methodRe.FindStringSubmatch(line); m != nil && p != "" {
			documented = append(documented, strings.ToUpper(m[1])+" "+p)
		}
	}
	if err := sc.Err(); err != nil {
		t.Fatal(err)
	}
	want := slices.Sorted(slices.Values(routes))
	slices.Sort(documented)
	if !slices.Equal(documented, want) {
		t.Fatalf("%s documents %q\nthe server has %q", path, documented, want)
	}
	return string(raw)
}
