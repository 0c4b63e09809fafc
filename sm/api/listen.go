package api

import (
	"crypto/tls"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/netip"
	"time"
)

// ErrPlainNotLoopback refuses to serve without TLS on an address other than loopback.
var ErrPlainNotLoopback = errors.New("sm/api: without TLS the module serves only on a loopback address; give a TLS certificate and key")

// IsLoopback reports whether a listen address (host:port) binds loopback
// only: 127.0.0.0/8, ::1 or "localhost". An empty host (all addresses)
// is not loopback.
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

// Listen listens on addr for the API: with TLS when cfg is not nil, else
// plain HTTP, which is refused unless addr is loopback.
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

// TLSConfig loads a certificate and key for Listen.
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
