package httpapi

import (
	"crypto/sha256"
	"crypto/tls"
	"crypto/x509"
	"encoding/hex"
	"errors"
	"fmt"
	"os"
)

// ClientEntry maps a client certificate to a caller. Exactly one of
// CertSHA256 (the SHA-256 of the certificate's DER, 64 hex digits: this
// certificate only) and CommonName (the subject CN of any certificate the
// client CA signs) names the certificate.
type ClientEntry struct {
	CertSHA256 string `json:"cert_sha256,omitempty"`
	CommonName string `json:"common_name,omitempty"`
	Role       string `json:"role"` // a role name of the API's role model
	Name       string `json:"name"` // for the audit log
}

// ClientFile is the content of a client certificate file: a format name
// and the clients.
type ClientFile struct {
	Format  string        `json:"format"`
	Clients []ClientEntry `json:"clients"`
}

// Clients maps verified client certificates to callers (actors of type
// A): first by the certificate's SHA-256, then by its subject common name.
type Clients[A any] struct {
	byHash map[[32]byte]A
	byCN   map[string]A
}

// NewClients checks the entries (a known role, a name, exactly one of the
// hash and the common name, none twice) and maps each to the actor that
// actor(role, name) makes.
func NewClients[A any](entries []ClientEntry, actor func(role, name string) (A, error)) (*Clients[A], error) {
	c := &Clients[A]{byHash: map[[32]byte]A{}, byCN: map[string]A{}}
	for i, e := range entries {
		if err := c.add(e, actor); err != nil {
			return nil, fmt.Errorf("client file: client %d: %w", i+1, err)
		}
	}
	return c, nil
}

func (c *Clients[A]) add(e ClientEntry, actor func(role, name string) (A, error)) error {
	a, err := actor(e.Role, e.Name)
	if err != nil {
		return err
	}
	if e.Name == "" {
		return errors.New("no name")
	}
	switch {
	case e.CertSHA256 != "" && e.CommonName == "":
		b, err := hex.DecodeString(e.CertSHA256)
		if err != nil || len(b) != sha256.Size {
			return errors.New("cert_sha256 is not 64 hex digits")
		}
		h := [32]byte(b)
		if _, dup := c.byHash[h]; dup {
			return errors.New("certificate given twice")
		}
		c.byHash[h] = a
	case e.CommonName != "" && e.CertSHA256 == "":
		if _, dup := c.byCN[e.CommonName]; dup {
			return fmt.Errorf("common name %q given twice", e.CommonName)
		}
		c.byCN[e.CommonName] = a
	default:
		return errors.New("give exactly one of cert_sha256 and common_name")
	}
	return nil
}

// LoadClientFile reads the client certificate file at path, which must be
// of the given format, unknown fields refused, and maps its clients
// (NewClients).
func LoadClientFile[A any](path, format string, actor func(role, name string) (A, error)) (*Clients[A], error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	var f ClientFile
	if err := DecodeBytes(b, &f); err != nil {
		return nil, fmt.Errorf("client file %s: %w", path, err)
	}
	if f.Format != format {
		return nil, fmt.Errorf("client file %s: format %q, want %q", path, f.Format, format)
	}
	return NewClients(f.Clients, actor)
}

// Actor returns the caller a verified client certificate names.
func (c *Clients[A]) Actor(cert *x509.Certificate) (A, bool) {
	var zero A
	if c == nil || cert == nil {
		return zero, false
	}
	if a, ok := c.byHash[sha256.Sum256(cert.Raw)]; ok {
		return a, true
	}
	if cert.Subject.CommonName != "" {
		a, ok := c.byCN[cert.Subject.CommonName]
		return a, ok
	}
	return zero, false
}

// CertSHA256 returns the hex SHA-256 of a certificate, as ClientEntry
// names it.
func CertSHA256(cert *x509.Certificate) string {
	sum := sha256.Sum256(cert.Raw)
	return hex.EncodeToString(sum[:])
}

// VerifiedCert returns the client certificate a TLS connection verified
// against the client CAs, or nil (no TLS, no certificate, or not
// verified).
func VerifiedCert(cs *tls.ConnectionState) *x509.Certificate {
	if cs == nil || len(cs.VerifiedChains) == 0 || len(cs.VerifiedChains[0]) == 0 {
		return nil
	}
	return cs.VerifiedChains[0][0]
}

// CertPool reads the PEM certificates of caFile (client CAs).
func CertPool(caFile string) (*x509.CertPool, error) {
	pem, err := os.ReadFile(caFile)
	if err != nil {
		return nil, err
	}
	pool := x509.NewCertPool()
	if !pool.AppendCertsFromPEM(pem) {
		return nil, fmt.Errorf("no PEM certificate in %s", caFile)
	}
	return pool, nil
}

// WithClientCA returns a copy of cfg that asks for client certificates and
// verifies them against the CA certificates in caFile (PEM): mode
// tls.RequireAndVerifyClientCert refuses a connection without one,
// tls.VerifyClientCertIfGiven lets it on (to authenticate otherwise, by
// bearer token) but refuses a certificate that does not verify.
func WithClientCA(cfg *tls.Config, caFile string, mode tls.ClientAuthType) (*tls.Config, error) {
	pool, err := CertPool(caFile)
	if err != nil {
		return nil, err
	}
	c := cfg.Clone()
	c.ClientAuth, c.ClientCAs = mode, pool
	return c, nil
}
