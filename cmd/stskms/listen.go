package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"

	"github.com/stskms/stskms/internal/netguard"
)

// addListenFlags adds the flags that bound the connections of a serve
// command's listeners (docs/config.md, "Listeners"); the same names on
// sm serve, kmc serve and gateway serve.
func addListenFlags(fs *flagSet) *netguard.Limits {
	l := &netguard.Limits{}
	fs.IntVar(&l.MaxConns, "max-conns", netguard.DefaultMaxConns,
		"connections open at once on each listener; one more is closed at once")
	fs.IntVar(&l.MaxConnsPerIP, "max-conns-per-ip", netguard.DefaultMaxConnsPerIP,
		"connections open at once from one client IP address on each listener")
	fs.DurationVar(&l.HandshakeTimeout, "handshake-timeout", netguard.DefaultHandshakeTimeout,
		"a TLS handshake (and an HTTP request's header) must complete within this")
	fs.DurationVar(&l.IdleTimeout, "idle-timeout", netguard.DefaultIdleTimeout,
		"close a connection silent this long between requests (SMTP: between commands)")
	return l
}

// checkLimits refuses a limit flag that is not positive.
func checkLimits(l *netguard.Limits) error {
	switch {
	case l.MaxConns <= 0:
		return fmt.Errorf("--max-conns %d: want at least 1", l.MaxConns)
	case l.MaxConnsPerIP <= 0:
		return fmt.Errorf("--max-conns-per-ip %d: want at least 1", l.MaxConnsPerIP)
	case l.HandshakeTimeout <= 0:
		return fmt.Errorf("--handshake-timeout %s: want more than 0", l.HandshakeTimeout)
	case l.IdleTimeout <= 0:
		return fmt.Errorf("--idle-timeout %s: want more than 0", l.IdleTimeout)
	}
	return nil
}

// guardOptions are the netguard options of a command's listeners: its
// limits, logging to w with the command's prefix.
func guardOptions(l *netguard.Limits, w io.Writer, prefix string) netguard.Options {
	return netguard.Options{Limits: *l, Logf: func(format string, args ...any) {
		fmt.Fprintf(w, prefix+format+"\n", args...)
	}}
}

// errServerStopped is the reason a serve command ends: one of its servers
// stopped for good.
type errServerStopped struct {
	what string
	err  error
}

func (e *errServerStopped) Error() string {
	return fmt.Sprintf("%s stopped: %v; exiting", e.what, e.err)
}

func (e *errServerStopped) Unwrap() error { return e.err }

// serverStopped wraps the error with which a server's Serve returned,
// unless it is nil or says the server was closed (net.ErrClosed, or one of
// closed): a stop the command asked for.
func serverStopped(what string, err error, closed ...error) error {
	if err == nil || errors.Is(err, net.ErrClosed) {
		return nil
	}
	for _, c := range closed {
		if errors.Is(err, c) {
			return nil
		}
	}
	return &errServerStopped{what: what, err: err}
}

// watchServer runs serve in the background; if it stops for good
// (serverStopped) it cancels the command's context with the reason, which
// the command then returns (stopReason).
func watchServer(cancel context.CancelCauseFunc, what string, serve func() error, closed ...error) {
	go func() {
		if err := serverStopped(what, serve(), closed...); err != nil {
			cancel(err)
		}
	}()
}

// stopReason is the error of a server that stopped for good and ended ctx,
// nil if ctx ended otherwise (a signal, --exit-after) or not at all.
func stopReason(ctx context.Context) error {
	var s *errServerStopped
	if err := context.Cause(ctx); errors.As(err, &s) {
		return s
	}
	return nil
}

// smtpBusy is the greeting of a mail connection over a cap (RFC 5321
// 4.2.3: 421, the service closes the channel).
const smtpBusy = "421 4.7.0 Too many connections, try again later\r\n"

// listenSMTP listens for mail on addr, guarded by lim: a connection over a
// cap is greeted 421 and closed.
func listenSMTP(addr string, lim netguard.Limits, log *slog.Logger) (net.Listener, error) {
	l, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, err
	}
	return netguard.Wrap(l, netguard.Options{Limits: lim, Logf: slogf(log, "gateway: mail listener"),
		Refuse: func(c net.Conn) { io.WriteString(c, smtpBusy) }}), nil
}

// slogf logs what a netguard listener says as warnings of log.
func slogf(log *slog.Logger, msg string) func(string, ...any) {
	return func(format string, args ...any) { log.Warn(msg, "msg", fmt.Sprintf(format, args...)) }
}
