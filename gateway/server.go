package gateway

import (
	"bytes"
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"log/slog"
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

// inbox is all the server knows of the gateway: the recipients it takes
// mail for, and where a message goes. The Gateway is one (accept.go).
type inbox interface {
	// takes reports whether mail to rcpt is accepted.
	takes(rcpt string) bool
	// accept stores a message durably and returns its reference; size is
	// its size as received, raw only its header if truncated.
	accept(ctx context.Context, env Envelope, raw []byte, size int64, truncated bool) (string, error)
}

// backend is the go-smtp Backend: it hands each message to its inbox.
type backend struct {
	inbox inbox
	// maxMessage: larger messages are stored with their header only;
	// maxAccept: larger ones are refused (552).
	maxMessage, maxAccept int64
	now                   func() time.Time
	log                   *slog.Logger
	metrics               *metrics
}

// newServer returns an SMTP (or LMTP) server named domain that stores
// every message addressed to b's inbox before it answers 250.
func newServer(b *backend, domain string, o ServerOptions) *smtp.Server {
	s := smtp.NewServer(b)
	s.Domain = domain
	s.LMTP = o.LMTP
	s.TLSConfig = o.TLS
	s.MaxMessageBytes = b.maxAccept
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
	s.ErrorLog = slogLogger{b.log}
	return s
}

var _ smtp.Backend = (*backend)(nil)

// NewSession implements smtp.Backend.
func (b *backend) NewSession(c *smtp.Conn) (smtp.Session, error) {
	b.metrics.sessions.Inc()
	s := &session{b: b, helo: c.Hostname()}
	if a := c.Conn().RemoteAddr(); a != nil {
		s.remote = a.String()
	}
	return s, nil
}

// session is one SMTP connection.
type session struct {
	b      *backend
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
	if opts != nil && opts.Size > s.b.maxAccept {
		return s.b.metrics.reject("too-big", errTooBig)
	}
	s.from = from
	return nil
}

func (s *session) Rcpt(to string, _ *smtp.RcptOptions) error {
	if !s.b.inbox.takes(to) {
		return s.b.metrics.reject("no-such-recipient", errNoSuchUser)
	}
	s.rcpts = append(s.rcpts, to)
	return nil
}

// Data stores the message; only then does the client get its 250. A
// message over MaxMessageBytes is stored with its header only, for the
// record (the policy ignores it).
func (s *session) Data(r io.Reader) error {
	limit := s.b.maxMessage
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
			return s.b.metrics.reject("too-big", err) // 552 from the server's own limit
		}
		if errors.Is(err, smtp.ErrTooLongLine) {
			return s.b.metrics.reject("line-too-long", errLineTooLong)
		}
		s.b.log.Error("gateway: message not read", "err", err)
		return s.b.metrics.reject("read-error", errStore)
	}
	raw, truncated := buf.Bytes(), n > limit
	if truncated {
		raw = headerOnly(raw)
	}
	env := Envelope{From: s.from, To: s.rcpts, RemoteAddr: s.remote, Helo: s.helo, Received: s.b.now()}
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	ref, err := s.b.inbox.accept(ctx, env, raw, n, truncated)
	if err != nil {
		s.b.log.Error("gateway: message not stored", "err", err, "from", s.from)
		return s.b.metrics.reject("store-error", errStore)
	}
	s.b.metrics.accepted.Inc()
	s.b.log.Info("gateway: message accepted", "ref", ref, "from", s.from, "size_bytes", n, "remote", s.remote)
	return nil
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
type slogLogger struct{ log *slog.Logger }

func (l slogLogger) Printf(format string, v ...any) {
	l.log.Warn("gateway: smtp", "msg", fmt.Sprintf(format, v...))
}

func (l slogLogger) Println(v ...any) { l.log.Warn("gateway: smtp", "msg", fmt.Sprint(v...)) }
