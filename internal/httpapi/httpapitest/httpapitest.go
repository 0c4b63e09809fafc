// Package httpapitest helps the tests of the HTTP APIs and of the
// STS6-style API: a throw-away CA, server certificates for 127.0.0.1 and
// ::1, client certificates by common name, a self-signed server with a
// client that trusts it, and the check of an OpenAPI document against the
// routes served. Nothing made here is for use outside tests.
package httpapitest

import (
	"bufio"
	"crypto/tls"
	"crypto/x509"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"

	"github.com/stskms/stskms/internal/testcert"
)

// PKI is a test CA (a testcert.CA) whose certificate is also in a PEM
// file, as a server's --client-ca flag wants it.
type PKI struct {
	t  testing.TB
	ca *testcert.CA
	// CA is the CA certificate; CAFile holds it in PEM.
	CA     *x509.Certificate
	CAFile string
}

// NewPKI makes a CA, its PEM in a temporary directory.
func NewPKI(t testing.TB) *PKI {
	t.Helper()
	ca := testcert.NewCA(t)
	p := &PKI{t: t, ca: ca, CA: ca.Cert, CAFile: filepath.Join(t.TempDir(), "ca.pem")}
	writeFile(t, p.CAFile, ca.PEM())
	return p
}

func writeFile(t testing.TB, path string, data []byte) {
	t.Helper()
	if err := os.WriteFile(path, data, 0o600); err != nil {
		t.Fatal(err)
	}
}

// Cert makes a certificate signed by the CA: a server certificate for
// 127.0.0.1 and ::1 if server, else a client certificate of common name
// cn.
func (p *PKI) Cert(cn string, server bool) tls.Certificate {
	p.t.Helper()
	if server {
		return p.ca.Issue(p.t, "127.0.0.1", "::1")
	}
	return p.ca.IssueClient(p.t, cn)
}

// Client returns an HTTP client that trusts the CA and presents cert (none
// if cert is nil).
func (p *PKI) Client(cert *tls.Certificate) *http.Client {
	cfg := &tls.Config{RootCAs: p.ca.Pool(), MinVersion: tls.VersionTLS12}
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
	chain, key := testcert.PEMFiles(t, c)
	certFile, keyFile = filepath.Join(dir, name+".pem"), filepath.Join(dir, name+".key")
	writeFile(t, certFile, chain)
	writeFile(t, keyFile, key)
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
