package httpapi

import (
	"crypto/tls"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/netip"
	"time"
)

// ErrPlainNotLoopback refuses to serve without TLS on an address other than
// loopback.
var ErrPlainNotLoopback = errors.New("without TLS the API serves only on a loopback address; give a TLS certificate and key")

// IsLoopback reports whether a listen address (host:port) binds loopback
// only: 127.0.0.0/8, ::1 or "localhost". An empty host (all addresses) is
// not loopback.
func IsLoopback(addr string) bool {
	host, _, err := net.SplitHostPort(addr)
	if err != nil {
		return false
	}
	if host == "localhost" {
		return true
	}
	ip, err := netip.ParseAddr(host)
	return err == nil && ip.IsLoopback()
}

// CheckPlain returns ErrPlainNotLoopback (naming addr) when addr is not
// empty, is to be served without TLS and is not loopback.
func CheckPlain(addr string, withTLS bool) error {
	if addr != "" && !withTLS && !IsLoopback(addr) {
		return fmt.Errorf("%w (%s)", ErrPlainNotLoopback, addr)
	}
	return nil
}

// Listen listens on addr: with TLS when cfg is not nil, else plain HTTP,
// which is refused unless addr is loopback.
func Listen(addr string, cfg *tls.Config) (net.Listener, error) {
	if cfg == nil && !IsLoopback(addr) {
		return nil, fmt.Errorf("%w (%s)", ErrPlainNotLoopback, addr)
	}
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, err
	}
	if cfg != nil {
		ln = tls.NewListener(ln, cfg)
	}
	return ln, nil
}

// TLSConfig loads a certificate and key for Listen (TLS 1.2 at least).
func TLSConfig(certFile, keyFile string) (*tls.Config, error) {
	cert, err := tls.LoadX509KeyPair(certFile, keyFile)
	if err != nil {
		return nil, err
	}
	return &tls.Config{Certificates: []tls.Certificate{cert}, MinVersion: tls.VersionTLS12}, nil
}

// NewHTTPServer returns an http.Server for h with sensible timeouts.
func NewHTTPServer(h http.Handler) *http.Server {
	return &http.Server{Handler: h, ReadHeaderTimeout: 10 * time.Second, ReadTimeout: time.Minute,
		WriteTimeout: 2 * time.Minute, IdleTimeout: 2 * time.Minute}
}
