package gateway

import (
	"fmt"
	"strings"

	"github.com/stskms/stskms/gwresult"
)

// Attachments says what attachments a service takes.
type Attachments int

const (
	// NoAttachment: any attachment makes the request ignored.
	NoAttachment Attachments = iota
	// OptionalAttachment: at most one text/plain attachment.
	OptionalAttachment
	// RequiredAttachment: exactly one text/plain attachment.
	RequiredAttachment
)

// Service is one service of the gateway (STS 600-9-2 §5). The policy, the
// processing and the {KMS:Help} text all come from these definitions.
type Service struct {
	// Name is the code in the Subject: {KMS:<Name>}.
	Name string
	// Summary says what the service does, in one line.
	Summary string
	// Request says what to send.
	Request string
	// Response says what comes back.
	Response string
	// Attachments is what the request may carry.
	Attachments Attachments
	// Restricted: only configured STS Association senders may use it.
	Restricted bool
}

// Subject returns the code that starts the Subject, e.g. "{KMS:Help}".
func (s *Service) Subject() string { return "{KMS:" + s.Name + "}" }

// The services.
var (
	ServiceHelp = &Service{
		Name:     "Help",
		Summary:  "Instructions for using the mail-based services (this text).",
		Request:  "A plain-text e-mail whose Subject starts with {KMS:Help}; the body is ignored.",
		Response: "Human-readable instructions, generated from the gateway's own service definitions.",
	}
	ServiceGetPublicKey = &Service{
		Name:     "GetPublicKey",
		Summary:  "Retrieve the public key of the KMC, which a security module needs to make a Vending Key Load Request.",
		Request:  "A plain-text e-mail whose Subject starts with {KMS:GetPublicKey}; the body is ignored.",
		Response: "The line \"KMC Public Key Fingerprint: ...\" (check it out of band) and the current PK.ECDH.1 record in Record-in-Email format.",
	}
	ServiceGetKlfStsEd2 = &Service{
		Name:    "GetKlfStsEd2",
		Summary: "Obtain a Key Load File for an STS Edition 2 security module.",
		Request: "A plain-text e-mail whose Subject starts with {KMS:GetKlfStsEd2} and whose body holds one fresh " +
			"VKLOAD.REQ.1 in Record-in-Email format (STS:VKLOAD.REQ.1 BEGINS ... ENDS), as the security module made it; " +
			"or the same record in one text/plain file-of-records attachment.",
		Response: "On success the Key Load File as a text/plain attachment named <SM id>_<time>.klf; otherwise the reason " +
			"and what to do. It is sent only to an address registered for the security module.",
		Attachments: OptionalAttachment,
	}
	ServiceSmUpdateStsEd2 = &Service{
		Name:        "SmUpdateStsEd2",
		Summary:     "Send a signed security-module registry update to the KMC (reserved for the STS Association).",
		Request:     "A plain-text e-mail whose Subject starts with {KMS:SmUpdateStsEd2}, with the signed update file as one text/plain attachment.",
		Response:    "A summary of the update applied, or the reason it was refused.",
		Attachments: RequiredAttachment,
		Restricted:  true,
	}
)

// Services lists the services in the order {KMS:Help} presents them.
var Services = []*Service{ServiceHelp, ServiceGetPublicKey, ServiceGetKlfStsEd2, ServiceSmUpdateStsEd2}

// lookupService returns the service named name (case-insensitive), or nil.
func lookupService(name string) *Service {
	for _, s := range Services {
		if strings.EqualFold(s.Name, name) {
			return s
		}
	}
	return nil
}

// serviceList is e.g. "{KMS:Help}, {KMS:GetPublicKey}, …".
func serviceList() string {
	names := make([]string, len(Services))
	for i, s := range Services {
		names[i] = s.Subject()
	}
	return strings.Join(names, ", ")
}

// HelpText returns the {KMS:Help} reply body for a gateway reached at
// address: the services, the request rules, the reply format and every
// result code, all from the definitions above. Lines end in CRLF and stay
// under 78 characters.
func HelpText(address string) string {
	var b textBuilder
	b.para("STS KMS E-mail Gateway - instructions (STS 600-9-2)")
	b.para(fmt.Sprintf("Send a plain-text e-mail to %s, with that address in the To: field "+
		"(not Cc or Bcc), and the service code at the start of the Subject. Anything after the "+
		"code is ignored, and comes back in the Subject of the reply (\"Auto: \" followed by your "+
		"Subject), so it may carry a reference of yours.", address))
	b.heading("Services")
	for _, s := range Services {
		b.line(s.Subject())
		b.indented("What: " + s.Summary)
		b.indented("Send: " + s.Request)
		b.indented("Reply: " + s.Response)
		b.blank()
	}
	b.heading("Rules")
	for _, r := range []string{
		"Use plain text, not HTML. Attach files only where the service asks for one, as text/plain (a name ending in .txt).",
		"The gateway ignores mail that is not a well-formed request addressed to it: mail where its address is not in To:, " +
			"automatic replies (Auto-Submitted), subjects starting with Re:, Fwd:, Auto: or an out-of-office prefix, " +
			"mailing-list and bulk mail, mail from mailer daemons and list robots, large messages and unexpected attachments.",
		"Do not flood the gateway: over a rate limit your requests are deferred (you get one Deferred notice), " +
			"further on you are blocked for a while (one Blocked notice with the end time).",
		"A request may get notices before its final reply; the final reply is sent once.",
	} {
		b.bullet(r)
	}
	b.blank()
	b.heading("Replies")
	b.para("Replies come from " + address + " with Auto-Submitted: auto-replied, In-Reply-To your Message-ID, and a header " +
		"X-Gateway-Result whose elements are separated by a horizontal tab:")
	b.indented("Success <TAB> summary                        (final)")
	b.indented("Error <TAB> code <TAB> description <TAB> params (final)")
	b.indented("Notice <TAB> code <TAB> message <TAB> params    (more mail follows)")
	b.blank()
	b.heading("Codes")
	for _, c := range gwresult.Codes {
		b.line(fmt.Sprintf("%s %s", c.Kind, c.Code))
		b.indented(c.Description)
		if c.Params != "" {
			b.indented("Param: " + c.Params)
		}
	}
	return b.String()
}

// textBuilder writes a plain-text body: CRLF line ends, paragraphs wrapped
// at 72 columns.
type textBuilder struct{ strings.Builder }

const wrapWidth = 72

func (b *textBuilder) line(s string) { b.WriteString(s + "\r\n") }
func (b *textBuilder) blank()        { b.WriteString("\r\n") }

func (b *textBuilder) para(s string) {
	b.wrap(s, "", "")
	b.blank()
}

func (b *textBuilder) heading(s string) {
	b.line(s)
	b.line(strings.Repeat("-", len(s)))
}

func (b *textBuilder) indented(s string) { b.wrap(s, "    ", "    ") }
func (b *textBuilder) bullet(s string)   { b.wrap(s, "  - ", "    ") }

// wrap writes s in lines of at most wrapWidth columns, the first prefixed
// by first, the others by rest. A word longer than the line stands alone.
func (b *textBuilder) wrap(s, first, rest string) {
	prefix := first
	n := 0
	for _, w := range strings.Fields(s) {
		switch {
		case n == 0:
			b.WriteString(prefix + w)
			n = len(prefix) + len(w)
		case n+1+len(w) > wrapWidth:
			b.WriteString("\r\n" + rest + w)
			n = len(rest) + len(w)
		default:
			b.WriteString(" " + w)
			n += 1 + len(w)
		}
	}
	if n > 0 {
		b.blank()
	}
}
