package gateway

import (
	"bytes"
	"io"
	"mime"
	netmail "net/mail"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"

	"github.com/emersion/go-message"

	"github.com/stskms/stskms/gwresult"
)

// replyMail is one reply (a final result or a notice) to compose.
type replyMail struct {
	From       netmail.Address
	To         []string
	Subject    string // the request's Subject; the reply's is "Auto: " + it
	InReplyTo  string // the request's Message-ID
	References []string
	MessageID  string
	Date       time.Time
	Result     gwresult.Result
	Body       string
	File       *replyFile
}

// replyFile is an attachment of a reply.
type replyFile struct {
	Name string
	Data []byte
}

// Limits on what a reply copies from the request.
const (
	maxSubjectRunes = 400
	maxReferences   = 10
)

// composeReply writes a reply as STS 600-9-2 §8.3 guarantees it: MIME,
// text/plain or multipart/mixed with a text/plain body first; Subject
// "Auto: " + the request's; In-Reply-To and References from its
// Message-ID; Auto-Submitted: auto-replied, Precedence: bulk and
// X-Auto-Response-Suppress: All against loops (RFC 3834 §3.1.7, §5); and
// the X-Gateway-Result, never folded so that its tabs survive every reader.
func composeReply(m *replyMail) ([]byte, error) {
	type field struct{ k, v string }
	fields := []field{
		{"Date", m.Date.Format(time.RFC1123Z)},
		{"From", m.From.String()},
		{"To", formatAddresses(m.To)},
		// "Auto: " stays plain text, so that the header folds after it and
		// every line of a long non-ASCII Subject (encoded words of at most
		// 75 characters, RFC 2047 §2) fits in 78 columns (RFC 5322 §2.1.1).
		{"Subject", "Auto: " + encodeText(cleanSubject(m.Subject))},
		{"Message-Id", "<" + m.MessageID + ">"},
	}
	if id := cleanMsgID(m.InReplyTo); id != "" {
		fields = append(fields, field{"In-Reply-To", "<" + id + ">"})
		refs := make([]string, 0, len(m.References)+1)
		for _, r := range m.References {
			if r = cleanMsgID(r); r != "" && r != id {
				refs = append(refs, r)
			}
		}
		if len(refs) >= maxReferences {
			refs = append(refs[:1], refs[len(refs)-maxReferences+2:]...) // keep the first (the thread's root)
		}
		refs = append(refs, id)
		fields = append(fields, field{"References", "<" + strings.Join(refs, "> <") + ">"})
	}
	fields = append(fields,
		field{"Auto-Submitted", "auto-replied"},
		field{"Precedence", "bulk"},
		field{"X-Auto-Response-Suppress", "All"},
	)

	var h message.Header
	// A raw field is written as is: the result stays on one line. Fields
	// are written last-added first.
	h.AddRaw([]byte(gwresult.HeaderName + ": " + m.Result.Header() + "\r\n"))
	for i := len(fields) - 1; i >= 0; i-- {
		h.Add(fields[i].k, fields[i].v)
	}

	body := crlf(m.Body)
	var buf bytes.Buffer
	if m.File == nil {
		setTextType(&h, body)
		w, err := message.CreateWriter(&buf, h)
		if err != nil {
			return nil, err
		}
		if err := writeAll(w, []byte(body)); err != nil {
			return nil, err
		}
		return buf.Bytes(), nil
	}

	h.Set("Content-Type", "multipart/mixed")
	w, err := message.CreateWriter(&buf, h)
	if err != nil {
		return nil, err
	}
	var th message.Header
	setTextType(&th, body)
	th.Set("Content-Disposition", "inline")
	if err := writePart(w, th, []byte(body)); err != nil {
		return nil, err
	}
	var ah message.Header
	ah.Set("Content-Transfer-Encoding", "7bit")
	ah.SetContentDisposition("attachment", map[string]string{"filename": m.File.Name})
	ah.SetContentType("text/plain", map[string]string{"charset": "us-ascii", "name": m.File.Name})
	if err := writePart(w, ah, m.File.Data); err != nil {
		return nil, err
	}
	if err := w.Close(); err != nil {
		return nil, err
	}
	return buf.Bytes(), nil
}

// writePart writes a part of header h and body b to w.
func writePart(w *message.Writer, h message.Header, b []byte) error {
	pw, err := w.CreatePart(h)
	if err != nil {
		return err
	}
	return writeAll(pw, b)
}

// writeAll writes b to w and closes it.
func writeAll(w io.WriteCloser, b []byte) error {
	if _, err := w.Write(b); err != nil {
		return err
	}
	return w.Close()
}

// setTextType sets a text/plain type: us-ascii and 7bit for ASCII text with
// short lines, else UTF-8 and quoted-printable.
func setTextType(h *message.Header, body string) {
	if isASCII(body) && maxLineLen(body) <= 998 {
		h.Set("Content-Transfer-Encoding", "7bit")
		h.SetContentType("text/plain", map[string]string{"charset": "us-ascii"})
		return
	}
	h.Set("Content-Transfer-Encoding", "quoted-printable")
	h.SetContentType("text/plain", map[string]string{"charset": "utf-8"})
}

func isASCII(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] >= 0x80 {
			return false
		}
	}
	return true
}

func maxLineLen(s string) int {
	n := 0
	for _, l := range strings.Split(s, "\n") {
		n = max(n, len(l))
	}
	return n
}

// crlf returns s with every line ending in CRLF.
func crlf(s string) string {
	s = strings.ReplaceAll(s, "\r\n", "\n")
	s = strings.ReplaceAll(s, "\r", "\n")
	if s != "" && !strings.HasSuffix(s, "\n") {
		s += "\n"
	}
	return strings.ReplaceAll(s, "\n", "\r\n")
}

// cleanSubject makes a request's Subject safe to copy: control characters
// become spaces, and it is cut to maxSubjectRunes.
func cleanSubject(s string) string {
	s = strings.Map(func(r rune) rune {
		if unicode.IsControl(r) || r == utf8.RuneError {
			return ' '
		}
		return r
	}, s)
	if utf8.RuneCountInString(s) > maxSubjectRunes {
		s = string([]rune(s)[:maxSubjectRunes])
	}
	return strings.TrimSpace(s)
}

// encodeText returns s as an unstructured header value: as is if ASCII,
// else RFC 2047 encoded words.
func encodeText(s string) string {
	if isASCII(s) {
		return s
	}
	return mime.QEncoding.Encode("utf-8", s)
}

// cleanMsgID returns id if it can stand between angle brackets in a
// header (printable ASCII, no space or angle bracket, an "@"), else "".
func cleanMsgID(id string) string {
	if id == "" || len(id) > 250 || !strings.Contains(id, "@") {
		return ""
	}
	for i := 0; i < len(id); i++ {
		if c := id[i]; c <= ' ' || c >= 0x7F || c == '<' || c == '>' {
			return ""
		}
	}
	return id
}

// formatAddresses writes a list of bare addresses for a To field.
func formatAddresses(addrs []string) string {
	out := make([]string, len(addrs))
	for i, a := range addrs {
		out[i] = (&netmail.Address{Address: a}).String()
	}
	return strings.Join(out, ", ")
}
