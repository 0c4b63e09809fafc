package gateway

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io"
	"regexp"
	"strings"

	"github.com/emersion/go-message"
	"github.com/emersion/go-message/textproto"
)

// Bounce is what a bounce says about a reply: a delivery status
// notification (RFC 3464, multipart/report; report-type=delivery-status)
// or, read best-effort, a non-standard bounce. Every field comes from the
// bounce, so nothing in it is trusted: the gateway matches a bounce to a
// reply only by the tagged envelope address or ENVID it gave the reply.
type Bounce struct {
	// Standard: the bounce is an RFC 3464 delivery status notification.
	Standard bool
	// EnvelopeID is the Original-Envelope-Id (the ENVID of the reply).
	EnvelopeID string
	// ReportingMTA is the Reporting-MTA, e.g. "dns; mail.example.com".
	ReportingMTA string
	// MessageID is the Message-ID of the returned message or its header,
	// without angle brackets, if the bounce returns it.
	MessageID string
	// Recipients are the per-recipient reports (at most maxBounceRecipients).
	Recipients []BounceRecipient
}

// BounceRecipient is the report on one recipient of a bounced reply.
type BounceRecipient struct {
	// Recipient is the address of Final-Recipient (or Original-Recipient).
	Recipient string
	// Action is failed, delayed, delivered, relayed or expanded.
	Action string
	// Status is the enhanced status code, e.g. "5.1.1".
	Status string
	// Diagnostic is the Diagnostic-Code, e.g. "smtp; 550 5.1.1 <x@y>: user unknown".
	Diagnostic string
}

// Actions of a per-recipient report (RFC 3464 §2.3.3).
const (
	ActionFailed  = "failed"
	ActionDelayed = "delayed"
)

// Failed returns the first recipient whose delivery failed for good, or
// nil.
func (b *Bounce) Failed() *BounceRecipient {
	for i := range b.Recipients {
		if b.Recipients[i].Action == ActionFailed {
			return &b.Recipients[i]
		}
	}
	return nil
}

// ErrBadBounce is matched by every *BounceError.
var ErrBadBounce = errors.New("gateway: not a readable bounce")

// BounceError says why a mail to the bounce address could not be read as
// a bounce.
type BounceError struct{ Reason string }

// Error says why the bounce could not be read.
func (e *BounceError) Error() string { return "gateway: bounce: " + e.Reason }

// Unwrap returns ErrBadBounce.
func (e *BounceError) Unwrap() error { return ErrBadBounce }

// Limits of the bounce parser: a bounce is small, anything else is cut.
const (
	maxBounceRecipients = 50
	maxBounceField      = 300
	maxBouncePart       = 64 << 10
	maxBounceParts      = 16
)

// ParseBounce reads a bounce. A multipart/report with a
// message/delivery-status part is read as RFC 3464 says; anything else is
// searched for an enhanced status code and an SMTP reply line. It never
// panics; an unreadable message is a *BounceError.
func ParseBounce(raw []byte) (*Bounce, error) {
	e, err := message.Read(bytes.NewReader(raw))
	if err != nil && !message.IsUnknownCharset(err) && !message.IsUnknownEncoding(err) {
		return nil, &BounceError{Reason: "unreadable header: " + field(err.Error())}
	}
	b := &Bounce{}
	if err := b.walk(e, 0); err != nil {
		return nil, err
	}
	if len(b.Recipients) == 0 {
		return nil, &BounceError{Reason: "no delivery status found"}
	}
	return b, nil
}

// walk reads the parts of e: delivery-status parts, returned messages or
// headers, and (if no standard report is found) text.
func (b *Bounce) walk(e *message.Entity, depth int) error {
	mr := e.MultipartReader()
	if mr == nil {
		return b.leaf(e)
	}
	if depth > 2 {
		return nil
	}
	var texts [][]byte
	for n := 0; n < maxBounceParts; n++ {
		p, err := mr.NextPart()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil && !message.IsUnknownCharset(err) && !message.IsUnknownEncoding(err) {
			return &BounceError{Reason: "unreadable MIME part: " + field(err.Error())}
		}
		if p.MultipartReader() != nil {
			if err := b.walk(p, depth+1); err != nil {
				return err
			}
			continue
		}
		if t, _, _ := p.Header.ContentType(); t == "text/plain" {
			data, _ := readPart(p)
			texts = append(texts, data)
			continue
		}
		if err := b.leaf(p); err != nil {
			return err
		}
	}
	if !b.Standard {
		for _, t := range texts {
			b.guess(t)
		}
	}
	return nil
}

// leaf reads one single part.
func (b *Bounce) leaf(p *message.Entity) error {
	t, _, _ := p.Header.ContentType()
	data, err := readPart(p)
	if err != nil {
		return &BounceError{Reason: "unreadable part " + t}
	}
	switch t {
	case "message/delivery-status", "message/global-delivery-status":
		return b.status(data)
	case "message/rfc822", "text/rfc822-headers", "message/global", "message/global-headers":
		h, err := textproto.ReadHeader(bufio.NewReader(bytes.NewReader(data)))
		if err == nil && b.MessageID == "" {
			b.MessageID = field(strings.Trim(strings.TrimSpace(h.Get("Message-Id")), "<>"))
		}
	case "", "text/plain":
		if !b.Standard {
			b.guess(data)
		}
	}
	return nil
}

func readPart(p *message.Entity) ([]byte, error) {
	return io.ReadAll(io.LimitReader(p.Body, maxBouncePart))
}

// status reads a message/delivery-status body: the per-message fields,
// then one block of fields per recipient.
func (b *Bounce) status(data []byte) error {
	r := bufio.NewReader(bytes.NewReader(bytes.TrimLeft(data, "\r\n")))
	msg, err := textproto.ReadHeader(r)
	if err != nil {
		return &BounceError{Reason: "malformed delivery status: " + field(err.Error())}
	}
	b.Standard = true
	b.EnvelopeID = field(msg.Get("Original-Envelope-Id"))
	b.ReportingMTA = field(msg.Get("Reporting-Mta"))
	b.Recipients = nil // a standard report replaces any guess
	for len(b.Recipients) < maxBounceRecipients {
		if err := skipBlank(r); err != nil {
			break
		}
		h, err := textproto.ReadHeader(r)
		if err != nil {
			return &BounceError{Reason: "malformed recipient fields: " + field(err.Error())}
		}
		rcpt := typedValue(h.Get("Final-Recipient"))
		if rcpt == "" {
			rcpt = typedValue(h.Get("Original-Recipient"))
		}
		action := strings.ToLower(field(h.Get("Action")))
		if rcpt == "" && action == "" {
			continue
		}
		b.Recipients = append(b.Recipients, BounceRecipient{
			Recipient:  rcpt,
			Action:     action,
			Status:     statusCode(h.Get("Status")),
			Diagnostic: field(h.Get("Diagnostic-Code")),
		})
	}
	return nil
}

// skipBlank consumes blank lines; io.EOF means nothing follows.
func skipBlank(r *bufio.Reader) error {
	for {
		c, err := r.Peek(1)
		if err != nil {
			return io.EOF
		}
		if c[0] != '\r' && c[0] != '\n' {
			return nil
		}
		r.ReadByte()
	}
}

// Best-effort patterns of non-standard bounces.
var (
	guessStatus = regexp.MustCompile(`\b([245])\.(\d{1,3})\.(\d{1,3})\b`)
	guessReply  = regexp.MustCompile(`\b([45]\d\d[ -]+[245]\.\d{1,3}\.\d{1,3}[^\r\n]{0,200})`)
	guessLine   = regexp.MustCompile(`(?m)^[ \t>]*([45]\d\d[ -][^\r\n]{0,200})`)
	guessRcpt   = regexp.MustCompile(`<?([A-Za-z0-9._%+=-]+@[A-Za-z0-9.-]+)>?`)
)

// guess reads a non-standard bounce's text: the first enhanced status code
// (5.x.x failed, 4.x.x delayed), the first SMTP reply line and the first
// address; without a status code it counts as failed only if it has a 5xx
// reply line.
func (b *Bounce) guess(text []byte) {
	if len(b.Recipients) > 0 {
		return
	}
	s := string(text)
	var r BounceRecipient
	if m := guessReply.FindStringSubmatch(s); m != nil {
		r.Diagnostic = field(m[1])
	} else if m := guessLine.FindStringSubmatch(s); m != nil {
		r.Diagnostic = field(m[1])
	}
	if m := guessStatus.FindString(r.Diagnostic); m != "" {
		r.Status = m
	} else if m := guessStatus.FindString(s); m != "" {
		r.Status = m
	}
	switch {
	case strings.HasPrefix(r.Status, "5"), r.Status == "" && strings.HasPrefix(r.Diagnostic, "5"):
		r.Action = ActionFailed
	case strings.HasPrefix(r.Status, "4"), r.Status == "" && strings.HasPrefix(r.Diagnostic, "4"):
		r.Action = ActionDelayed
	default:
		return
	}
	if m := guessRcpt.FindStringSubmatch(s); m != nil {
		r.Recipient = field(m[1])
	}
	b.Recipients = append(b.Recipients, r)
}

// typedValue returns the address of "rfc822; addr".
func typedValue(v string) string {
	if _, addr, ok := strings.Cut(v, ";"); ok {
		v = addr
	}
	return field(strings.Trim(strings.TrimSpace(v), "<>"))
}

// statusCode returns the enhanced status code at the start of a Status
// field, or "".
func statusCode(v string) string {
	v = strings.TrimSpace(v)
	if i := strings.IndexAny(v, " \t("); i >= 0 {
		v = v[:i]
	}
	if m := guessStatus.FindString(v); m == v {
		return m
	}
	return ""
}

// field makes a value from a bounce safe to store and log: printable
// ASCII, white space collapsed, at most maxBounceField bytes.
func field(v string) string {
	v = strings.Join(strings.Fields(v), " ")
	var b strings.Builder
	for i := 0; i < len(v) && b.Len() < maxBounceField; i++ {
		if c := v[i]; c >= 0x20 && c < 0x7f {
			b.WriteByte(c)
		} else {
			b.WriteByte('?')
		}
	}
	return b.String()
}

// String summarises the bounce for the queue and the log.
func (b *Bounce) String() string {
	if len(b.Recipients) == 0 {
		return "no report"
	}
	r := b.Recipients[0]
	if f := b.Failed(); f != nil {
		r = *f
	}
	return fmt.Sprintf("%s %s %s", r.Action, r.Status, r.Recipient)
}
