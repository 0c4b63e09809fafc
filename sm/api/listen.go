package api

import (
	"crypto/tls"
	"net"
	"net/http"

	"github.com/stskms/stskms/internal/httpapi"
)

// ErrPlainNotLoopback refuses to serve without TLS on an address other than loopback.
var ErrPlainNotLoopback = httpapi.ErrPlainNotLoopback

// IsLoopback reports whether a listen address (host:port) names loopback
// only: 127.0.0.0/8, ::1, or "localhost" resolving to those only. An empty
// host (all addresses) is not loopback. Listen decides on the address
// actually bound.
func IsLoopback(addr string) bool { return httpapi.IsLoopback(addr) }

// Listen listens on addr for the API: with TLS when cfg is not nil, else
// plain HTTP, which is refused unless the address bound is loopback.
func Listen(addr string, cfg *tls.Config) (net.Listener, error) { return httpapi.Listen(addr, cfg) }

// TLSConfig loads a certificate and key for Listen.
func TLSConfig(certFile, keyFile string) (*tls.Config, error) {
	return httpapi.TLSConfig(certFile, keyFile)
}

// NewHTTPServer returns an http.Server for h with sensible timeouts.
func NewHTTPServer(h http.Handler) *http.Server { return httpapi.NewHTTPServer(h) }
