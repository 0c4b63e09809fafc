package smmail

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"strings"

	"github.com/emersion/go-message/mail"
	"github.com/stskms/stskms/gwresult"
	"github.com/stskms/stskms/records/armor"
)

// Reply is a gateway reply as the mail client reads it.
type Reply struct {
	// Subject is the reply's Subject; it ends with the request's tag.
	Subject string
	// Result is its X-Gateway-Result (a reply without one is not a
	// gateway reply and is never matched).
	Result gwresult.Result
	// Text is the plain-text body.
	Text string
	// Files are the attachments.
	Files []Attachment
}

// Attachment is one attached file.
type Attachment struct {
	Name string
	Data []byte
}

// fingerprintPrefix starts the reply line of {KMS:GetPublicKey} that
// carries the KMC key's fingerprint.
const fingerprintPrefix = "KMC Public Key Fingerprint:"

// ParseReply reads a reply: its Subject, X-Gateway-Result, text body and
// attachments.
func ParseReply(raw []byte) (*Reply, error) {
	mr, err := mail.CreateReader(bytes.NewReader(raw))
	if err != nil {
		return nil, err
	}
	defer mr.Close()
	r := &Reply{}
	if r.Subject, err = mr.Header.Subject(); err != nil {
		return nil, err
	}
	v := mr.Header.Get(gwresult.HeaderName)
	if v == "" {
		return nil, fmt.Errorf("smmail: no %s header", gwresult.HeaderName)
	}
	if r.Result, err = gwresult.Parse(v); err != nil {
		return nil, err
	}
	for {
		p, err := mr.NextPart()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return nil, err
		}
		b, err := io.ReadAll(p.Body)
		if err != nil {
			return nil, err
		}
		switch h := p.Header.(type) {
		case *mail.AttachmentHeader:
			name, _ := h.Filename()
			r.Files = append(r.Files, Attachment{Name: name, Data: b})
		default:
			r.Text += string(b)
		}
	}
	return r, nil
}

// Final reports whether the reply is a final one (Success or Error).
func (r *Reply) Final() bool { return r.Result.Final() }

// Tag returns the subject's trailing tag (its last word).
func (r *Reply) Tag() string {
	f := strings.Fields(r.Subject)
	if len(f) == 0 {
		return ""
	}
	return f[len(f)-1]
}

// Fingerprint returns the KMC public key fingerprint the reply's
// fingerprint line gives, or "".
func (r *Reply) Fingerprint() string {
	for _, line := range strings.Split(r.Text, "\n") {
		if v, ok := strings.CutPrefix(strings.TrimSpace(line), fingerprintPrefix); ok {
			return strings.TrimSpace(v)
		}
	}
	return ""
}

// Records returns the Record-in-Email blocks of the body.
func (r *Reply) Records() ([]armor.Block, error) { return armor.Find([]byte(r.Text)) }

// KLF returns the attached Key Load File: its name and the bodies of its
// records. The reply must carry exactly one attachment.
func (r *Reply) KLF() (name string, bodies []string, err error) {
	if len(r.Files) != 1 {
		return "", nil, fmt.Errorf("smmail: %d attachments in the reply, want the Key Load File", len(r.Files))
	}
	blocks, err := armor.ParseFile(r.Files[0].Data)
	if err != nil {
		return "", nil, err
	}
	bodies = make([]string, len(blocks))
	for i, b := range blocks {
		bodies[i] = b.Body
	}
	return r.Files[0].Name, bodies, nil
}
