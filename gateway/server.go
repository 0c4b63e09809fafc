package gateway

import (
	"bytes"
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"time"

	"github.com/emersion/go-smtp"
)

// ServerOptions configures the inbound server.
type ServerOptions struct {
	// LMTP serves LMTP (RFC 2033, behind Postfix's lmtp transport)
	// instead of SMTP.
	LMTP bool
	// TLS, if set, offers STARTTLS with this configuration (a certificate
	// for the gateway's host name).
	TLS *tls.Config
	// ReadTimeout and WriteTimeout bound each command (default 1 minute).
	ReadTimeout, WriteTimeout time.Duration
	// MaxRecipients bounds RCPT TO per message (default 10).
	MaxRecipients int
}

// NewServer returns an SMTP (or LMTP) server that stores every message
// addressed to the gateway in the queue before it answers 250; serve it on
// a listener with its Serve method, stop it with Close or Shutdown.
func (g *Gateway) NewServer(o ServerOptions) *smtp.Server {
	s := smtp.NewServer(g)
	s.Domain = g.cfg.Hostname
	s.LMTP = o.LMTP
	s.TLSConfig = o.TLS
	s.MaxMessageBytes = g.cfg.MaxAcceptBytes
	s.MaxRecipients = o.MaxRecipients
	if s.MaxRecipients <= 0 {
		s.MaxRecipients = 10
	}
	s.ReadTimeout, s.WriteTimeout = o.ReadTimeout, o.WriteTimeout
	if s.ReadTimeout <= 0 {
		s.ReadTimeout = time.Minute
	}
	if s.WriteTimeout <= 0 {
		s.WriteTimeout = time.Minute
	}
	s.ErrorLog = slogLogger{g}
	return s
}

var _ smtp.Backend = (*Gateway)(nil)

// NewSession implements smtp.Backend.
func (g *Gateway) NewSession(c *smtp.Conn) (smtp.Session, error) {
	g.metrics.sessions.Inc()
	s := &session{g: g, helo: c.Hostname()}
	if a := c.Conn().RemoteAddr(); a != nil {
		s.remote = a.String()
	}
	return s, nil
}

// session is one SMTP connection.
type session struct {
	g      *Gateway
	helo   string
	remote string
	from   string
	rcpts  []string
}

var (
	errNoSuchUser = &smtp.SMTPError{Code: 550, EnhancedCode: smtp.EnhancedCode{5, 1, 1},
		Message: "No such recipient here"}
	errTooBig = &smtp.SMTPError{Code: 552, EnhancedCode: smtp.EnhancedCode{5, 3, 4},
		Message: "Message too big"}
	errLineTooLong = &smtp.SMTPError{Code: 500, EnhancedCode: smtp.EnhancedCode{5, 5, 2},
		Message: "Line too long"}
	errStore = &smtp.SMTPError{Code: 451, EnhancedCode: smtp.EnhancedCode{4, 3, 0},
		Message: "Temporary failure, try again later"}
)

func (s *session) Reset() { s.from, s.rcpts = "", nil }

func (s *session) Logout() error { return nil }

func (s *session) Mail(from string, opts *smtp.MailOptions) error {
	if opts != nil && opts.Size > s.g.cfg.MaxAcceptBytes {
		return s.g.metrics.reject("too-big", errTooBig)
	}
	s.from = from
	return nil
}

func (s *session) Rcpt(to string, _ *smtp.RcptOptions) error {
	if _, bounce := s.g.bounceRcpt(to); !bounce && !containsAddress(s.g.policy.Addresses, to) {
		return s.g.metrics.reject("no-such-recipient", errNoSuchUser)
	}
	s.rcpts = append(s.rcpts, to)
	return nil
}

// Data stores the message; only then does the client get its 250. A
// message over MaxMessageBytes is stored with its header only, for the
// record (the policy ignores it).
func (s *session) Data(r io.Reader) error {
	limit := s.g.cfg.MaxMessageBytes
	var buf bytes.Buffer
	n, err := io.Copy(&buf, io.LimitReader(r, limit+1))
	if err == nil && n > limit {
		var rest int64
		rest, err = io.Copy(io.Discard, r)
		n += rest
	}
	if err != nil {
		var se *smtp.SMTPError
		if errors.As(err, &se) {
			return s.g.metrics.reject("too-big", err) // 552 from the server's own limit
		}
		if errors.Is(err, smtp.ErrTooLongLine) {
			return s.g.metrics.reject("line-too-long", errLineTooLong)
		}
		s.g.log.Error("gateway: message not read", "err", err)
		return s.g.metrics.reject("read-error", errStore)
	}
	raw, truncated := buf.Bytes(), n > limit
	if truncated {
		raw = headerOnly(raw)
	}
	env := Envelope{From: s.from, To: s.rcpts, RemoteAddr: s.remote, Helo: s.helo, Received: s.g.now()}
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	ref, err := s.g.accept(ctx, env, raw, n, truncated)
	if err != nil {
		s.g.log.Error("gateway: message not stored", "err", err, "from", s.from)
		return s.g.metrics.reject("store-error", errStore)
	}
	s.g.metrics.accepted.Inc()
	s.g.log.Info("gateway: message accepted", "ref", ref, "from", s.from, "size_bytes", n, "remote", s.remote)
	return nil
}

// Accept stores a message received by other means than the server (a
// pipe from an MTA, a test), exactly as the server does; it returns the
// message's reference.
func (g *Gateway) Accept(ctx context.Context, env Envelope, raw []byte) (string, error) {
	if env.Received.IsZero() {
		env.Received = g.now()
	}
	size, truncated := int64(len(raw)), false
	if size > g.cfg.MaxMessageBytes {
		raw, truncated = headerOnly(raw), true
	}
	return g.accept(ctx, env, raw, size, truncated)
}

// headerOnly returns the header of a message (up to the blank line), at
// most 64 KiB.
func headerOnly(raw []byte) []byte {
	end := len(raw)
	if i := bytes.Index(raw, []byte("\r\n\r\n")); i >= 0 {
		end = i + 4
	} else if i := bytes.Index(raw, []byte("\n\n")); i >= 0 {
		end = i + 2
	}
	end = min(end, 64<<10)
	return bytes.Clone(raw[:end])
}

// slogLogger sends go-smtp's error log to the gateway's logger.
type slogLogger struct{ g *Gateway }

func (l slogLogger) Printf(format string, v ...any) {
	l.g.log.Warn("gateway: smtp", "msg", fmt.Sprintf(format, v...))
}

func (l slogLogger) Println(v ...any) { l.g.log.Warn("gateway: smtp", "msg", fmt.Sprint(v...)) }
