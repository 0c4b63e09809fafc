package sts6

import (
	"crypto/tls"
	"crypto/x509"
	"errors"

	"github.com/stskms/stskms/internal/httpapi"
	"github.com/stskms/stskms/sm/api"
)

// ClientsFile is the name of the client certificate file in the module
// directory (shared with the HTTP API: api.ClientsFile).
const ClientsFile = api.ClientsFile

// ClientEntry maps a client certificate to a caller. Exactly one of
// CertSHA256 (the SHA-256 of the certificate's DER, 64 hex digits: this
// certificate only) and CommonName (the subject CN of any certificate the
// client CA signs) names the certificate.
type ClientEntry = api.ClientEntry

// Clients maps verified client certificates to callers: first by the
// certificate's SHA-256, then by its subject common name.
type Clients = api.Clients

// NewClients checks the entries and returns their map.
func NewClients(entries []ClientEntry) (*Clients, error) { return api.NewClients(entries) }

// LoadClients reads a client certificate file (ClientsFile).
func LoadClients(path string) (*Clients, error) { return api.LoadClients(path) }

// CertSHA256 returns the hex SHA-256 of a certificate, as ClientEntry
// names it.
func CertSHA256(cert *x509.Certificate) string { return httpapi.CertSHA256(cert) }

// ErrNoClientCA is returned by ServerTLS without a client CA.
var ErrNoClientCA = errors.New("sts6: the STS6 port needs a client CA to verify client certificates")

// ServerTLS returns the TLS configuration of the STS6 port: the server's
// certificate, and client certificates required and verified against the
// CA certificates in caFile (PEM).
func ServerTLS(cert tls.Certificate, caFile string) (*tls.Config, error) {
	if caFile == "" {
		return nil, ErrNoClientCA
	}
	return httpapi.WithClientCA(&tls.Config{Certificates: []tls.Certificate{cert}, MinVersion: tls.VersionTLS12}, caFile,
		tls.RequireAndVerifyClientCert)
}
