// Package netguard keeps a listener serving through exhaustion: it retries
// the temporary errors of Accept (a full descriptor table, an aborted
// connection) with back-off instead of letting the server stop, and it
// caps the connections held open, in total and per client address, closing
// those over the cap at once. It also holds the documented defaults of the
// timeouts each server applies itself (a TLS handshake, silence between
// requests): docs/config.md, "Listeners".
package netguard

import (
	"errors"
	"net"
	"net/netip"
	"sync"
	"syscall"
	"time"
)

// Defaults of Limits, per listener.
const (
	DefaultMaxConns         = 256
	DefaultMaxConnsPerIP    = 32
	DefaultHandshakeTimeout = 10 * time.Second
	DefaultIdleTimeout      = 2 * time.Minute
)

// Back-off of Accept after a temporary error: from minDelay, doubled each
// time, up to maxDelay (as net/http does).
const (
	minDelay = 5 * time.Millisecond
	maxDelay = time.Second
)

// Limits bound what clients may hold of a server. A zero field takes its
// default (Default…).
type Limits struct {
	// MaxConns caps the connections open at once on a listener.
	MaxConns int
	// MaxConnsPerIP caps them per client IP address.
	MaxConnsPerIP int
	// HandshakeTimeout bounds a TLS handshake and, on HTTP, the reading of
	// a request's header.
	HandshakeTimeout time.Duration
	// IdleTimeout closes a connection silent this long between requests
	// (SMTP: while the gateway waits for a command or data line).
	IdleTimeout time.Duration
}

// OrDefaults returns l with each zero or negative field set to its default.
func (l Limits) OrDefaults() Limits {
	if l.MaxConns <= 0 {
		l.MaxConns = DefaultMaxConns
	}
	if l.MaxConnsPerIP <= 0 {
		l.MaxConnsPerIP = DefaultMaxConnsPerIP
	}
	if l.HandshakeTimeout <= 0 {
		l.HandshakeTimeout = DefaultHandshakeTimeout
	}
	if l.IdleTimeout <= 0 {
		l.IdleTimeout = DefaultIdleTimeout
	}
	return l
}

// Options configure Wrap.
type Options struct {
	Limits
	// Logf, if set, says when accepting fails and recovers (once per
	// episode) and when connections are refused over a cap (at most once
	// every RefusalLogEvery, with the count).
	Logf func(format string, args ...any)
	// Refuse, if set, is called with a connection over a cap before it is
	// closed, to say so in the protocol (SMTP's 421); it must not block
	// for long: the connection's write deadline is already short.
	Refuse func(net.Conn)
}

// RefusalLogEvery is the least interval between two logs of refusals.
const RefusalLogEvery = 10 * time.Second

// refuseWrite bounds what Refuse may spend writing.
const refuseWrite = 100 * time.Millisecond

// Wrap returns ln guarded: Accept retries temporary errors with back-off
// and returns only a connection under the caps, or a permanent error
// (ln closed, for one). Wrap the plain TCP listener, under any TLS.
func Wrap(ln net.Listener, o Options) net.Listener {
	o.Limits = o.Limits.OrDefaults()
	return &listener{Listener: ln, o: o, perIP: map[netip.Addr]int{}, done: make(chan struct{})}
}

type listener struct {
	net.Listener
	o Options

	mu    sync.Mutex
	total int
	perIP map[netip.Addr]int
	// refused counts refusals since lastLog.
	refused int
	lastLog time.Time
	// failures counts the failed accepts of the episode in progress,
	// which began at failedSince; lastFailure is the latest.
	failures                 int
	failedSince, lastFailure time.Time

	closeOnce sync.Once
	done      chan struct{}
}

// Accept waits for the next connection under the caps.
func (l *listener) Accept() (net.Conn, error) {
	var delay time.Duration
	for {
		c, err := l.Listener.Accept()
		if err != nil {
			if !Temporary(err) {
				return nil, err
			}
			l.failed(err)
			delay = min(max(2*delay, minDelay), maxDelay)
			l.sleep(delay)
			continue
		}
		l.accepted()
		if g, ok := l.admit(c); ok {
			return g, nil
		}
		l.refuse(c)
	}
}

// failed counts a failed accept, logging the first of an episode.
func (l *listener) failed(err error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	now := time.Now()
	if l.failures == 0 {
		l.failedSince = now
		l.logf("accept on %s failed: %v; retrying with back-off (up to %s) until it succeeds", l.Addr(), err, maxDelay)
	}
	l.failures++
	l.lastFailure = now
}

// accepted ends an episode of failed accepts, logging it, once an accept
// succeeds more than the longest back-off after the last failure: an
// episode of flapping (fail, accept, fail) is logged once.
func (l *listener) accepted() {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.failures == 0 || time.Since(l.lastFailure) <= maxDelay {
		return
	}
	l.logf("accepting on %s again after %d failed attempts from %s to %s", l.Addr(), l.failures,
		l.failedSince.Format(time.TimeOnly), l.lastFailure.Format(time.TimeOnly))
	l.failures = 0
}

// sleep waits d, or until the listener is closed.
func (l *listener) sleep(d time.Duration) {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
	case <-l.done:
	}
}

// Close closes the listener; an Accept in back-off returns at once.
func (l *listener) Close() error {
	l.closeOnce.Do(func() { close(l.done) })
	return l.Listener.Close()
}

// admit counts c in if it is under both caps.
func (l *listener) admit(c net.Conn) (net.Conn, bool) {
	ip := remoteIP(c)
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.total >= l.o.MaxConns || l.perIP[ip] >= l.o.MaxConnsPerIP {
		return nil, false
	}
	l.total++
	l.perIP[ip]++
	return &conn{Conn: c, l: l, ip: ip}, true
}

// release counts a closed connection out.
func (l *listener) release(ip netip.Addr) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.total--
	if l.perIP[ip]--; l.perIP[ip] <= 0 {
		delete(l.perIP, ip)
	}
}

// refuse closes a connection over a cap, after Refuse, and logs it.
func (l *listener) refuse(c net.Conn) {
	if l.o.Refuse != nil {
		c.SetWriteDeadline(time.Now().Add(refuseWrite))
		l.o.Refuse(c)
	}
	c.Close()
	l.mu.Lock()
	l.refused++
	n, now := l.refused, time.Now()
	if now.Sub(l.lastLog) < RefusalLogEvery {
		l.mu.Unlock()
		return
	}
	l.refused, l.lastLog = 0, now
	l.mu.Unlock()
	l.logf("refused %d connection(s) on %s over the caps (%d in all, %d per address); last from %s",
		n, l.Addr(), l.o.MaxConns, l.o.MaxConnsPerIP, c.RemoteAddr())
}

func (l *listener) logf(format string, args ...any) {
	if l.o.Logf != nil {
		l.o.Logf(format, args...)
	}
}

// remoteIP is the client address of c (IPv4-mapped addresses unmapped);
// the zero Addr if it has none.
func remoteIP(c net.Conn) netip.Addr {
	if a, ok := c.RemoteAddr().(*net.TCPAddr); ok {
		return a.AddrPort().Addr().Unmap()
	}
	if ap, err := netip.ParseAddrPort(c.RemoteAddr().String()); err == nil {
		return ap.Addr().Unmap()
	}
	return netip.Addr{}
}

// conn is an admitted connection; closing it frees its place.
type conn struct {
	net.Conn
	l    *listener
	ip   netip.Addr
	once sync.Once
}

// Close closes the connection and frees its place under the caps.
func (c *conn) Close() error {
	err := c.Conn.Close()
	c.once.Do(func() { c.l.release(c.ip) })
	return err
}

// CloseWrite shuts down the writing side, if the connection can.
func (c *conn) CloseWrite() error {
	if cw, ok := c.Conn.(interface{ CloseWrite() error }); ok {
		return cw.CloseWrite()
	}
	return nil
}

// Temporary reports whether an error of Accept passes: the process or
// system is out of descriptors or buffers, or a connection was aborted
// before it was accepted. Any other error stops the server.
func Temporary(err error) bool {
	var errno syscall.Errno
	if errors.As(err, &errno) {
		switch errno {
		case syscall.EMFILE, syscall.ENFILE, syscall.ENOBUFS, syscall.ENOMEM,
			syscall.ECONNABORTED, syscall.ECONNRESET, syscall.EINTR, syscall.EAGAIN, syscall.EPROTO:
			return true
		}
	}
	return false
}
