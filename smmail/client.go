// Package smmail is the integrator's mail client (issue 8 §1): it sends
// requests to a KMC's e-mail gateway over SMTP submission, each Subject
// ending with a unique tag (STS 600-9-2 §8.3.1 suggests this for
// matching), and reads the replies from a Mailbox, following Notice
// results until the final Success or Error.
//
// It refuses to mail the live KMC gateway (stsa_kmc_01@stskms.org.za): a
// software module never talks to the live KMC.
package smmail

import (
	"context"
	"crypto/rand"
	"crypto/tls"
	"encoding/hex"
	"errors"
	"fmt"
	"net"
	"net/mail"
	"net/netip"
	"net/smtp"
	"net/textproto"
	"os"
	"slices"
	"strings"
	"time"

	"github.com/stskms/stskms/gwresult"
)

// LiveGateway is the live KMC's gateway address (seed §6), which the
// client never mails.
const LiveGateway = "stsa_kmc_01@stskms.org.za"

// Services.
const (
	GetPublicKey = "{KMS:GetPublicKey}"
	GetKlf       = "{KMS:GetKlfStsEd2}"
)

// Defaults of Client's options.
const (
	DefaultTimeout  = 2 * time.Minute
	DefaultRetries  = 3
	DefaultRetryGap = 2 * time.Second
)

// Client sends requests and waits for their replies.
type Client struct {
	// Submit is the SMTP submission server, host:port. The client uses
	// STARTTLS whenever the server offers it; plain SMTP only on loopback
	// (and not when TLSConfig is set). AUTH PLAIN (Username, Password) is
	// sent only over TLS or on loopback. Each submission is one session
	// on one connection, ended with QUIT.
	Submit string
	// Gateway is the gateway's address.
	Gateway string
	// From is the operator's address, registered at the KMC for the
	// module; replies go to it.
	From string
	// Mailbox is where replies for From arrive. One with a Check method
	// (IMAP) is checked before the request is sent.
	Mailbox Mailbox

	Username, Password string
	// TLSConfig for STARTTLS. Nil: the host of Submit is the server name
	// to verify, against the system's roots, and a server on loopback may
	// go without STARTTLS. Set (a server name, a CA pool): STARTTLS is
	// required, even on loopback; an empty ServerName is the host of
	// Submit. A certificate that does not verify fails the submission at
	// once with a *CertificateError (never retried).
	TLSConfig *tls.Config

	// Timeout bounds the wait for the final reply (default DefaultTimeout).
	Timeout time.Duration
	// Retries is how many times a failed submission is tried again
	// (default DefaultRetries; negative: none), RetryGap apart. Only
	// failures that may pass are retried (the network, a 4xx reply); a
	// 5xx reply, a certificate that does not verify or a server that
	// refuses what this client requires end the submission at once.
	Retries  int
	RetryGap time.Duration
	// Progress, if set, is told what happens while waiting.
	Progress func(msg string)
	// Hostname is the EHLO name and Message-ID domain. Default: the
	// machine's name (os.Hostname); if that is unknown, not a domain name,
	// or localhost, the domain of From. Never "localhost" by default.
	Hostname string
}

// IsLive reports whether addr is the live KMC gateway's address.
func IsLive(addr string) bool {
	if a, err := mail.ParseAddress(addr); err == nil {
		addr = a.Address
	}
	return strings.EqualFold(strings.TrimSpace(addr), LiveGateway)
}

// NewTag returns a unique subject tag.
func NewTag() string {
	b := make([]byte, 8)
	rand.Read(b)
	return "smmail-" + hex.EncodeToString(b)
}

func (c *Client) progress(format string, args ...any) {
	if c.Progress != nil {
		c.Progress(fmt.Sprintf(format, args...))
	}
}

// Request sends one request mail to the gateway with Subject "service tag"
// and body, then waits for the final reply carrying the tag, following
// Notice replies. A final Error comes back as *Error (with the reply).
func (c *Client) Request(ctx context.Context, service, body string) (*Reply, error) {
	if IsLive(c.Gateway) {
		return nil, ErrLiveKMC
	}
	if c.Mailbox == nil {
		return nil, errors.New("smmail: no mailbox for the replies")
	}
	for _, a := range []string{c.From, c.Gateway} {
		if p, err := mail.ParseAddress(a); err != nil || p.Address != a {
			return nil, fmt.Errorf("smmail: %q is not a bare e-mail address", a)
		}
	}
	if c.Hostname != "" {
		if err := CheckHostname(c.Hostname); err != nil {
			return nil, err
		}
	}
	if strings.ContainsAny(service, "\r\n") {
		return nil, errors.New("smmail: a line break in the service name")
	}
	timeout := c.Timeout
	if timeout <= 0 {
		timeout = DefaultTimeout
	}
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	if ch, ok := c.Mailbox.(interface{ Check(context.Context) error }); ok {
		if err := ch.Check(ctx); err != nil {
			return nil, err
		}
	}
	tag := NewTag()
	if err := c.send(ctx, service, tag, body); err != nil {
		return nil, err
	}
	c.progress("sent %s %s to %s; waiting for the reply (up to %v)", service, tag, c.Gateway, timeout)
	r, err := c.Mailbox.Wait(ctx, c.From, func(r *Reply) bool {
		if r.Tag() != tag {
			return false
		}
		if !r.Final() {
			c.progress("notice: %s", r.Result)
			// Blocked: this request is dropped; no more mail follows.
			return r.Result.Code == gwresult.Blocked
		}
		return true
	})
	if err != nil {
		if errors.Is(err, context.DeadlineExceeded) {
			return nil, fmt.Errorf("%w: %s %s after %v", ErrTimeout, service, tag, timeout)
		}
		return nil, err
	}
	c.progress("reply: %s", r.Result)
	if r.Result.Kind != gwresult.Success {
		return r, &Error{Service: service, Result: r.Result, Reply: r}
	}
	return r, nil
}

// osHostname is os.Hostname (a variable for tests).
var osHostname = os.Hostname

// hostname returns the EHLO name and Message-ID domain: Hostname, the
// machine's name, or the domain of From (see Hostname).
func (c *Client) hostname() string {
	if c.Hostname != "" {
		return c.Hostname
	}
	if h, err := osHostname(); err == nil && CheckHostname(h) == nil && !isLocalName(h) {
		return h
	}
	if i := strings.LastIndexByte(c.From, '@'); i >= 0 && CheckHostname(c.From[i+1:]) == nil {
		return c.From[i+1:]
	}
	return fallbackHostname
}

// fallbackHostname is the last resort when neither the machine's name nor
// the domain of From is a domain name (RFC 2606 reserves .invalid).
const fallbackHostname = "smmail.invalid"

// isLocalName reports whether a host name means this machine to every
// machine: localhost, localhost.localdomain, anything.localhost.
func isLocalName(h string) bool {
	h = strings.ToLower(strings.TrimSuffix(h, "."))
	return h == "localhost" || h == "localhost.localdomain" || strings.HasSuffix(h, ".localhost")
}

// CheckHostname returns an error unless name can be the EHLO name and the
// Message-ID domain: a domain name (RFC 1035 labels of letters, digits and
// hyphens, at most 253 characters).
func CheckHostname(name string) error {
	bad := func(why string) error { return fmt.Errorf("smmail: host name %q: %s", name, why) }
	if name == "" || len(name) > 253 {
		return bad("not 1 to 253 characters")
	}
	for _, label := range strings.Split(name, ".") {
		if label == "" || len(label) > 63 {
			return bad("a label is empty or longer than 63 characters")
		}
		if label[0] == '-' || label[len(label)-1] == '-' {
			return bad("a label starts or ends with a hyphen")
		}
		for _, r := range label {
			if !(r == '-' || '0' <= r && r <= '9' || 'a' <= r && r <= 'z' || 'A' <= r && r <= 'Z') {
				return bad("only letters, digits, hyphens and dots")
			}
		}
	}
	return nil
}

// Message returns the request mail.
func (c *Client) Message(service, tag, body string) []byte {
	if body != "" && !strings.HasSuffix(body, "\n") {
		body += "\r\n"
	}
	return []byte("From: <" + c.From + ">\r\n" +
		"To: <" + c.Gateway + ">\r\n" +
		"Subject: " + service + " " + tag + "\r\n" +
		"Date: " + time.Now().UTC().Format(time.RFC1123Z) + "\r\n" +
		"Message-ID: <" + tag + "@" + c.hostname() + ">\r\n" +
		"MIME-Version: 1.0\r\n" +
		"Content-Type: text/plain; charset=us-ascii\r\n" +
		"Content-Transfer-Encoding: 7bit\r\n" +
		"\r\n" + body)
}

func (c *Client) send(ctx context.Context, service, tag, body string) error {
	msg := c.Message(service, tag, body)
	retries, gap := c.Retries, c.RetryGap
	if retries == 0 {
		retries = DefaultRetries
	}
	if gap <= 0 {
		gap = DefaultRetryGap
	}
	var err error
	for i := 0; ; i++ {
		if err = c.submit(ctx, msg); err == nil {
			return nil
		}
		if i >= retries || final(err) {
			break
		}
		c.progress("submission failed (%v); trying again in %v", err, gap)
		select {
		case <-time.After(gap):
		case <-ctx.Done():
			return fmt.Errorf("smmail: submit %s: %w", service, err)
		}
	}
	return fmt.Errorf("smmail: submit %s: %w", service, err)
}

// final reports whether a submission failure is one that trying again
// cannot mend: a 5xx reply, a certificate that does not verify, a server
// that refuses what the client requires.
func final(err error) bool {
	var pe *textproto.Error
	var ce *CertificateError
	var re refusal
	return errors.As(err, &ce) || errors.As(err, &re) || (errors.As(err, &pe) && pe.Code >= 500)
}

// refusal is a submission the client refuses to make: the server lacks
// what its policy requires (STARTTLS, AUTH PLAIN).
type refusal string

func (r refusal) Error() string { return "smmail: " + string(r) }

// loopbackConn reports whether conn's peer is a loopback address: the
// address actually connected to, never the name it was dialled by (a
// "localhost" that resolves off the machine is not loopback).
func loopbackConn(conn net.Conn) bool {
	ap, err := netip.ParseAddrPort(conn.RemoteAddr().String())
	return err == nil && ap.Addr().Unmap().IsLoopback()
}

// Bounds of one SMTP session.
const (
	dialTimeout    = 30 * time.Second
	sessionTimeout = 5 * time.Minute
)

// submit sends msg over one SMTP session on one connection: EHLO with the
// client's host name, STARTTLS when offered (required when TLSConfig is
// set or the server is not on loopback) and EHLO again, AUTH PLAIN when
// credentials are given, the mail, and QUIT — also after a refusal, so the
// server sees every session end properly. Only a session whose TLS
// handshake failed ends without QUIT (nothing can be said on it).
//
// It uses net/smtp rather than go-smtp's client: go-smtp says EHLO
// "localhost" before STARTTLS, and lets no one choose that name.
func (c *Client) submit(ctx context.Context, msg []byte) error {
	d := net.Dialer{Timeout: dialTimeout}
	conn, err := d.DialContext(ctx, "tcp", c.Submit)
	if err != nil {
		return err
	}
	conn.SetDeadline(time.Now().Add(sessionTimeout))
	defer context.AfterFunc(ctx, func() { conn.Close() })()
	host, _, _ := net.SplitHostPort(c.Submit)
	cl, err := smtp.NewClient(conn, host)
	if err != nil {
		conn.Close()
		return err
	}
	defer func() {
		if cl.Quit() != nil {
			cl.Close()
		}
	}()
	if err := cl.Hello(c.hostname()); err != nil {
		return err
	}
	tlsOn, err := c.startTLS(cl, host)
	if err != nil {
		return err
	}
	if c.Username != "" {
		if !tlsOn && !loopbackConn(conn) {
			return refusal("the server offers no STARTTLS; refusing to send the password in the clear")
		}
		if _, mechs := cl.Extension("AUTH"); !slices.Contains(strings.Fields(mechs), "PLAIN") {
			return refusal("the server offers no AUTH PLAIN")
		}
		if err := cl.Auth(smtp.PlainAuth("", c.Username, c.Password, host)); err != nil {
			return err
		}
	} else if !tlsOn && !loopbackConn(conn) {
		return refusal("the server offers no STARTTLS; plain SMTP only on loopback")
	}
	if err := cl.Mail(c.From); err != nil {
		return err
	}
	if err := cl.Rcpt(c.Gateway); err != nil {
		return err
	}
	w, err := cl.Data()
	if err != nil {
		return err
	}
	if _, err := w.Write(msg); err != nil {
		return err
	}
	return w.Close()
}

// startTLS runs STARTTLS when the server offers it, and reports whether it
// did. A server that does not offer it is refused when TLSConfig is set.
func (c *Client) startTLS(cl *smtp.Client, host string) (bool, error) {
	if ok, _ := cl.Extension("STARTTLS"); !ok {
		if c.TLSConfig != nil {
			return false, refusal("the server offers no STARTTLS, and a TLS server name or CA was given")
		}
		return false, nil
	}
	cfg := &tls.Config{MinVersion: tls.VersionTLS12}
	if c.TLSConfig != nil {
		cfg = c.TLSConfig.Clone()
	}
	if cfg.ServerName == "" {
		cfg.ServerName = host
	}
	if err := cl.StartTLS(cfg); err != nil {
		return false, certificateError("SMTP", c.Submit, cfg.ServerName, err)
	}
	return true, nil
}
