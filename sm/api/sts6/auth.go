package sts6

import (
	"crypto/sha256"
	"crypto/tls"
	"crypto/x509"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"strings"

	"github.com/stskms/stskms/sm"
)

// ClientsFile is the name of the client certificate file in the module
// directory.
const ClientsFile = "sm-sts6-clients.json"

const clientsFormat = "stskms-sm-sts6-clients/1"

// ClientEntry maps a client certificate to a caller. Exactly one of
// CertSHA256 (the SHA-256 of the certificate's DER, 64 hex digits: this
// certificate only) and CommonName (the subject CN of any certificate the
// client CA signs) names the certificate.
type ClientEntry struct {
	CertSHA256 string `json:"cert_sha256,omitempty"`
	CommonName string `json:"common_name,omitempty"`
	Role       string `json:"role"` // officer, operator or auditor
	Name       string `json:"name"` // for the audit log
}

// clientsFile is DIR/sm-sts6-clients.json.
type clientsFile struct {
	Format  string        `json:"format"`
	Clients []ClientEntry `json:"clients"`
}

// Clients maps verified client certificates to callers: first by the
// certificate's SHA-256, then by its subject common name.
type Clients struct {
	byHash map[[32]byte]sm.Actor
	byCN   map[string]sm.Actor
}

// NewClients checks the entries and returns their map.
func NewClients(entries []ClientEntry) (*Clients, error) {
	c := &Clients{byHash: map[[32]byte]sm.Actor{}, byCN: map[string]sm.Actor{}}
	for i, e := range entries {
		r, err := sm.ParseRole(e.Role)
		if err != nil {
			return nil, fmt.Errorf("sts6: client %d: %w", i+1, err)
		}
		if e.Name == "" {
			return nil, fmt.Errorf("sts6: client %d has no name", i+1)
		}
		a := r.As(e.Name)
		switch {
		case e.CertSHA256 != "" && e.CommonName == "":
			b, err := hex.DecodeString(e.CertSHA256)
			if err != nil || len(b) != 32 {
				return nil, fmt.Errorf("sts6: client %d: cert_sha256 is not 64 hex digits", i+1)
			}
			h := [32]byte(b)
			if _, dup := c.byHash[h]; dup {
				return nil, fmt.Errorf("sts6: client %d: certificate given twice", i+1)
			}
			c.byHash[h] = a
		case e.CommonName != "" && e.CertSHA256 == "":
			if _, dup := c.byCN[e.CommonName]; dup {
				return nil, fmt.Errorf("sts6: client %d: common name %q given twice", i+1, e.CommonName)
			}
			c.byCN[e.CommonName] = a
		default:
			return nil, fmt.Errorf("sts6: client %d: give exactly one of cert_sha256 and common_name", i+1)
		}
	}
	return c, nil
}

// LoadClients reads a client certificate file (ClientsFile).
func LoadClients(path string) (*Clients, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	var f clientsFile
	dec := json.NewDecoder(strings.NewReader(string(b)))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&f); err != nil {
		return nil, fmt.Errorf("sts6: client file %s: %w", path, err)
	}
	if f.Format != clientsFormat {
		return nil, fmt.Errorf("sts6: client file format %q, want %q", f.Format, clientsFormat)
	}
	return NewClients(f.Clients)
}

// Actor returns the caller a verified client certificate names.
func (c *Clients) Actor(cert *x509.Certificate) (sm.Actor, bool) {
	if c == nil || cert == nil {
		return sm.Actor{}, false
	}
	if a, ok := c.byHash[sha256.Sum256(cert.Raw)]; ok {
		return a, true
	}
	if cert.Subject.CommonName != "" {
		a, ok := c.byCN[cert.Subject.CommonName]
		return a, ok
	}
	return sm.Actor{}, false
}

// CertSHA256 returns the hex SHA-256 of a certificate, as ClientEntry
// names it.
func CertSHA256(cert *x509.Certificate) string {
	sum := sha256.Sum256(cert.Raw)
	return hex.EncodeToString(sum[:])
}

// ErrNoClientCA is returned by ServerTLS without a client CA.
var ErrNoClientCA = errors.New("sts6: the STS6 port needs a client CA to verify client certificates")

// ServerTLS returns the TLS configuration of the STS6 port: the server's
// certificate, and client certificates required and verified against the
// CA certificates in caFile (PEM).
func ServerTLS(cert tls.Certificate, caFile string) (*tls.Config, error) {
	if caFile == "" {
		return nil, ErrNoClientCA
	}
	pem, err := os.ReadFile(caFile)
	if err != nil {
		return nil, err
	}
	pool := x509.NewCertPool()
	if !pool.AppendCertsFromPEM(pem) {
		return nil, fmt.Errorf("sts6: no PEM certificate in %s", caFile)
	}
	return &tls.Config{Certificates: []tls.Certificate{cert}, ClientAuth: tls.RequireAndVerifyClientCert, ClientCAs: pool,
		MinVersion: tls.VersionTLS12}, nil
}
