package httpapi

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/netip"
	"time"

	"github.com/stskms/stskms/internal/netguard"
)

// ErrPlainNotLoopback refuses to serve without TLS on an address other than
// loopback.
var ErrPlainNotLoopback = errors.New("without TLS the API serves only on a loopback address; give a TLS certificate and key")

// IsLoopback reports whether a listen address (host:port) names loopback
// only: an address of 127.0.0.0/8 or ::1, or the name "localhost" when
// every address it resolves to is one. An empty host (all addresses) is
// not loopback. It is an early check; what decides is the address
// actually bound (Listen).
func IsLoopback(addr string) bool {
	host, _, err := net.SplitHostPort(addr)
	if err != nil {
		return false
	}
	if ip, err := netip.ParseAddr(host); err == nil {
		return ip.IsLoopback()
	}
	if host != "localhost" {
		return false
	}
	ips, err := net.DefaultResolver.LookupNetIP(context.Background(), "ip", host)
	if err != nil || len(ips) == 0 {
		return false
	}
	for _, ip := range ips {
		if !ip.Unmap().IsLoopback() {
			return false
		}
	}
	return true
}

// CheckPlain returns ErrPlainNotLoopback (naming addr) when addr is not
// empty, is to be served without TLS and is not loopback: the early check
// of a command, before it opens anything.
func CheckPlain(addr string, withTLS bool) error {
	if addr != "" && !withTLS && !IsLoopback(addr) {
		return fmt.Errorf("%w (%s)", ErrPlainNotLoopback, addr)
	}
	return nil
}

// Listen listens on addr with the default limits of netguard: with TLS
// when cfg is not nil, else plain, which is refused unless the address
// bound is loopback.
func Listen(addr string, cfg *tls.Config) (net.Listener, error) {
	return ListenGuarded(addr, cfg, netguard.Options{})
}

// ListenGuarded listens on addr, its connections guarded by o (caps,
// Accept retried through exhaustion: package netguard): with TLS when cfg
// is not nil, else plain, which is refused unless the address actually
// bound is loopback, whatever name addr gave.
func ListenGuarded(addr string, cfg *tls.Config, o netguard.Options) (net.Listener, error) {
	if cfg == nil && !IsLoopback(addr) {
		return nil, fmt.Errorf("%w (%s)", ErrPlainNotLoopback, addr)
	}
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, err
	}
	if cfg == nil {
		if err := CheckBound(ln); err != nil {
			ln.Close()
			return nil, fmt.Errorf("%w (%s)", err, addr)
		}
	}
	ln = netguard.Wrap(ln, o)
	if cfg != nil {
		ln = tls.NewListener(ln, cfg)
	}
	return ln, nil
}

// CheckBound returns ErrPlainNotLoopback, naming the address, unless ln is
// bound to a loopback address: the rule of plain listeners, judged on what
// was bound rather than on the name asked for.
func CheckBound(ln net.Listener) error {
	ap, err := netip.ParseAddrPort(ln.Addr().String())
	if err != nil || !ap.Addr().Unmap().IsLoopback() {
		return fmt.Errorf("%w: bound to %s", ErrPlainNotLoopback, ln.Addr())
	}
	return nil
}

// TLSConfig loads a certificate and key for Listen (TLS 1.2 at least).
func TLSConfig(certFile, keyFile string) (*tls.Config, error) {
	cert, err := tls.LoadX509KeyPair(certFile, keyFile)
	if err != nil {
		return nil, err
	}
	return &tls.Config{Certificates: []tls.Certificate{cert}, MinVersion: tls.VersionTLS12}, nil
}

// NewHTTPServer returns an http.Server for h with the default timeouts
// (NewHTTPServerWith).
func NewHTTPServer(h http.Handler) *http.Server {
	return NewHTTPServerWith(h, netguard.Limits{})
}

// NewHTTPServerWith returns an http.Server for h whose TLS handshake and
// request header must arrive within lim.HandshakeTimeout, a request within
// ReadTimeout, whose answer is written within WriteTimeout and whose idle
// keep-alive connections are closed after lim.IdleTimeout (zero fields:
// netguard's defaults).
func NewHTTPServerWith(h http.Handler, lim netguard.Limits) *http.Server {
	lim = lim.OrDefaults()
	return &http.Server{Handler: h, ReadHeaderTimeout: lim.HandshakeTimeout, ReadTimeout: ReadTimeout,
		WriteTimeout: WriteTimeout, IdleTimeout: lim.IdleTimeout}
}

// Bounds of a request's reading and its answer's writing.
const (
	ReadTimeout  = time.Minute
	WriteTimeout = 2 * time.Minute
)
