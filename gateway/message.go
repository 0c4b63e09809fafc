package gateway

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"strings"
	"time"

	"github.com/emersion/go-message"
	_ "github.com/emersion/go-message/charset" // decodes the charsets of real mail clients
	"github.com/emersion/go-message/mail"
)

// Envelope is what the SMTP or LMTP transaction said about a message.
type Envelope struct {
	// From is the reverse-path without angle brackets; "" is the null
	// reverse-path <> of bounces and auto-replies.
	From string
	// To are the accepted recipients.
	To []string
	// RemoteAddr is the client's address (ip:port), Helo the name it gave.
	RemoteAddr, Helo string
	// Received is when the message was accepted.
	Received time.Time
}

// Attachment is one part of a request that is not its text body.
type Attachment struct {
	// ContentType is the lower-case media type, e.g. "text/plain".
	ContentType string
	// Disposition is "attachment", "inline" or "" (none given).
	Disposition string
	// Filename is the name the sender gave, if any.
	Filename string
	// Data is the decoded content (text decoded to UTF-8), at most
	// maxPartBytes.
	Data []byte
	// Size is the decoded size; larger than len(Data) if cut.
	Size int
}

// Inbound is a request mail as the policy and the services see it.
type Inbound struct {
	Envelope Envelope
	// Header is the message header.
	Header mail.Header
	// Size is the size of the message as received; Truncated says only
	// its header was kept (it was over the size limit).
	Size      int64
	Truncated bool

	// Subject is the decoded Subject.
	Subject string
	// MessageID is the Message-ID without angle brackets; References the
	// References field's ids.
	MessageID  string
	References []string
	// Addresses (addr-spec only) of From, Reply-To, To and Cc, and the
	// Sender.
	From, ReplyTo, To, Cc []string
	Sender                string

	// Text is the text/plain body (every inline text/plain part, joined).
	Text string
	// PlainText: there was a text/plain body; HTML: there was a text/html
	// part.
	PlainText, HTML bool
	// Attachments are the other parts (see the package doc).
	Attachments []Attachment

	// Malformed is why the message could not be read, if it could not.
	Malformed error
}

// Parsing limits: deeper or larger structures are malformed, larger parts
// are cut (and then refused by the services that would read them).
const (
	maxDepth     = 8
	maxParts     = 64
	maxPartBytes = 256 << 10
)

var errTooComplex = errors.New("gateway: MIME structure too deep or too many parts")

// ParseMessage reads a request mail. It never fails: a mail it cannot read
// comes back with Malformed set, and the policy ignores it. size is the
// size as received and truncated says raw holds only the header.
func ParseMessage(env Envelope, raw []byte, size int64, truncated bool) *Inbound {
	in := &Inbound{Envelope: env, Size: size, Truncated: truncated}
	e, err := message.Read(bytes.NewReader(raw))
	if e == nil {
		in.Malformed = fmt.Errorf("gateway: unreadable header: %w", err)
		return in
	}
	in.Header = mail.Header{Header: e.Header}
	h := &in.Header
	in.Subject, _ = h.Subject() // the raw value on error
	if id, err := h.MessageID(); err == nil {
		in.MessageID = id
	} else {
		in.MessageID = strings.Trim(strings.TrimSpace(h.Get("Message-Id")), "<>")
	}
	in.References, _ = h.MsgIDList("References")
	in.From = addressList(h, "From")
	in.ReplyTo = addressList(h, "Reply-To")
	in.To = addressList(h, "To")
	in.Cc = addressList(h, "Cc")
	if s := addressList(h, "Sender"); len(s) > 0 {
		in.Sender = s[0]
	}
	if truncated {
		return in
	}
	w := walker{in: in}
	if err := w.walk(e, 0, ""); err != nil {
		in.Malformed = err
	}
	in.Text = strings.Join(w.texts, "\r\n")
	return in
}

// walker collects the parts of a message.
type walker struct {
	in    *Inbound
	parts int
	texts []string
}

func (w *walker) walk(e *message.Entity, depth int, parent string) error {
	w.parts++
	if depth > maxDepth || w.parts > maxParts {
		return errTooComplex
	}
	mt, params, err := e.Header.ContentType()
	if err != nil || mt == "" {
		if e.Header.Get("Content-Type") != "" && mt == "" {
			mt = "application/octet-stream" // present but unreadable
		} else if mt == "" {
			mt = "text/plain" // RFC 2045 §5.2
		}
	}
	mt = strings.ToLower(mt)
	if mr := e.MultipartReader(); mr != nil {
		for {
			part, err := mr.NextPart()
			if err == io.EOF {
				return nil
			}
			if part == nil {
				return fmt.Errorf("gateway: bad MIME part: %w", err)
			}
			if err := w.walk(part, depth+1, mt); err != nil {
				return err
			}
		}
	}
	disp, dparams, _ := e.Header.ContentDisposition()
	disp = strings.ToLower(disp)
	data, err := io.ReadAll(io.LimitReader(e.Body, maxPartBytes+1))
	if err != nil {
		return fmt.Errorf("gateway: bad MIME part body: %w", err)
	}
	switch {
	case disp == "attachment":
	case mt == "text/plain":
		w.in.PlainText = true
		w.texts = append(w.texts, string(data))
		return nil
	case mt == "text/html":
		w.in.HTML = true
		return nil
	case parent == "multipart/related":
		return nil // an image or style sheet of an HTML body
	}
	name := dparams["filename"]
	if name == "" {
		name = params["name"]
	}
	a := Attachment{ContentType: mt, Disposition: disp, Filename: name, Data: data, Size: len(data)}
	if len(data) > maxPartBytes {
		a.Data = data[:maxPartBytes]
	}
	w.in.Attachments = append(w.in.Attachments, a)
	return nil
}

// addressList returns the addr-specs of every field named key. A field
// that does not parse is read leniently: each comma- or semicolon-separated
// item's <…> part, or the item itself if it looks like an address.
func addressList(h *mail.Header, key string) []string {
	var out []string
	for _, v := range h.Values(key) {
		list, err := mail.ParseAddressList(v)
		if err == nil {
			for _, a := range list {
				out = append(out, a.Address)
			}
			continue
		}
		out = append(out, lenientAddresses(v)...)
	}
	return out
}

func lenientAddresses(v string) []string {
	var out []string
	for _, item := range strings.FieldsFunc(v, func(r rune) bool { return r == ',' || r == ';' }) {
		if i := strings.LastIndexByte(item, '<'); i >= 0 {
			item = item[i+1:]
			if j := strings.IndexByte(item, '>'); j >= 0 {
				item = item[:j]
			}
		}
		item = strings.TrimSpace(item)
		if strings.Count(item, "@") == 1 && !strings.ContainsAny(item, " \t\"()<>") {
			out = append(out, item)
		}
	}
	return out
}

// sameAddress compares two addresses, ignoring case.
func sameAddress(a, b string) bool { return a != "" && strings.EqualFold(a, b) }

// containsAddress reports whether list holds addr.
func containsAddress(list []string, addr string) bool {
	for _, a := range list {
		if sameAddress(a, addr) {
			return true
		}
	}
	return false
}

// splitAddress returns the local part and the lower-case domain.
func splitAddress(addr string) (local, domain string) {
	i := strings.LastIndexByte(addr, '@')
	if i < 0 {
		return addr, ""
	}
	return addr[:i], strings.ToLower(addr[i+1:])
}
