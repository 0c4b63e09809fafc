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
	"strings"
	"time"

	"github.com/emersion/go-sasl"
	"github.com/emersion/go-smtp"
	"github.com/stskms/stskms/gateway"
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
	// Submit is the SMTP submission server, host:port. On loopback the
	// client speaks plain SMTP; if the server offers STARTTLS it is used,
	// and AUTH PLAIN (Username, Password) is sent only over TLS or on
	// loopback.
	Submit string
	// Gateway is the gateway's address.
	Gateway string
	// From is the operator's address, registered at the KMC for the
	// module; replies go to it.
	From string
	// Mailbox is where replies for From arrive.
	Mailbox Mailbox

	Username, Password string
	// TLSConfig for STARTTLS (default: ServerName from Submit).
	TLSConfig *tls.Config

	// Timeout bounds the wait for the final reply (default DefaultTimeout).
	Timeout time.Duration
	// Retries is how many times a failed submission is tried again
	// (default DefaultRetries; negative: none), RetryGap apart.
	Retries  int
	RetryGap time.Duration
	// Progress, if set, is told what happens while waiting.
	Progress func(msg string)
	// Hostname is the EHLO name and Message-ID domain (default "localhost").
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
	if strings.ContainsAny(service, "\r\n") {
		return nil, errors.New("smmail: a line break in the service name")
	}
	timeout := c.Timeout
	if timeout <= 0 {
		timeout = DefaultTimeout
	}
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
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
			return r.Result.Code == gateway.Blocked
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
	if r.Result.Kind != gateway.Success {
		return r, &Error{Service: service, Result: r.Result, Reply: r}
	}
	return r, nil
}

func (c *Client) hostname() string {
	if c.Hostname != "" {
		return c.Hostname
	}
	return "localhost"
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
		if err = c.submit(msg); err == nil {
			return nil
		}
		var se *smtp.SMTPError
		if i >= retries || (errors.As(err, &se) && se.Code >= 500) {
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

func isLoopback(hostport string) bool {
	host, _, err := net.SplitHostPort(hostport)
	if err != nil {
		return false
	}
	if host == "localhost" {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}

// submit sends msg over one SMTP session: STARTTLS when offered, AUTH
// PLAIN when credentials are given.
func (c *Client) submit(msg []byte) error {
	conn, err := net.DialTimeout("tcp", c.Submit, 30*time.Second)
	if err != nil {
		return err
	}
	cl := smtp.NewClient(conn)
	defer cl.Close()
	if err := cl.Hello(c.hostname()); err != nil {
		return err
	}
	tlsOn := false
	if ok, _ := cl.Extension("STARTTLS"); ok {
		cl.Close()
		cfg := c.TLSConfig
		if cfg == nil {
			host, _, _ := net.SplitHostPort(c.Submit)
			cfg = &tls.Config{ServerName: host}
		}
		if conn, err = net.DialTimeout("tcp", c.Submit, 30*time.Second); err != nil {
			return err
		}
		if cl, err = smtp.NewClientStartTLS(conn, cfg); err != nil {
			conn.Close()
			return err
		}
		defer cl.Close()
		tlsOn = true
	}
	if c.Username != "" {
		if !tlsOn && !isLoopback(c.Submit) {
			return errors.New("smmail: the server offers no STARTTLS; refusing to send the password in the clear")
		}
		if !cl.SupportsAuth(sasl.Plain) {
			return errors.New("smmail: the server offers no AUTH PLAIN")
		}
		if err := cl.Auth(sasl.NewPlainClient("", c.Username, c.Password)); err != nil {
			return err
		}
	} else if !tlsOn && !isLoopback(c.Submit) {
		return errors.New("smmail: the server offers no STARTTLS; plain SMTP only on loopback")
	}
	if err := cl.SendMail(c.From, []string{c.Gateway}, strings.NewReader(string(msg))); err != nil {
		return err
	}
	return cl.Quit()
}
