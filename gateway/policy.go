package gateway

import (
	"strconv"
	"strings"
	"unicode"

	"github.com/stskms/stskms/gwresult"
)

// Policy is what Decide needs to know of the gateway.
type Policy struct {
	// Addresses are the addresses requests go to (the gateway's address
	// and its aliases): one must be in To:.
	Addresses []string
	// Own are further addresses of the gateway (the envelope sender of
	// replies): mail from them, or from Addresses, is the gateway's own.
	Own []string
	// MaxMessageBytes: larger requests are ignored.
	MaxMessageBytes int64
}

// Action is what to do with a request.
type Action int

const (
	// Ignore: no reply at all.
	Ignore Action = iota
	// Reply: exactly one final reply (and perhaps notices before it).
	Reply
)

// String is "reply" or "ignore".
func (a Action) String() string {
	if a == Reply {
		return "reply"
	}
	return "ignore"
}

// Reason says why a mail is ignored or what the reply is; it is recorded
// with the request (never sent).
type Reason string

// Reasons for ignoring a mail (STS 600-9-2 §4, §8.2; RFC 3834 §2), in the
// order Decide checks them, then the reasons of replies.
const (
	Malformed         Reason = "malformed"           // the message cannot be read
	AutoSubmitted     Reason = "auto-submitted"      // Auto-Submitted other than "no"
	GatewayResult     Reason = "gateway-result"      // carries X-Gateway-Result: a gateway's reply
	SuppressResponse  Reason = "suppress-response"   // X-Auto-Response-Suppress: All, AutoReply or OOF
	MailingList       Reason = "mailing-list"        // List-* (or Mailing-List) fields
	BulkPrecedence    Reason = "precedence"          // Precedence: bulk, list or junk
	NullSender        Reason = "null-sender"         // MAIL FROM:<> or Return-Path: <>
	DaemonSender      Reason = "daemon-sender"       // MAILER-DAEMON, postmaster, *-request, owner-*, …
	OwnMail           Reason = "own-mail"            // from the gateway itself
	ReplyPrefix       Reason = "reply-prefix"        // Subject starts Re:, Fwd:, Auto:, out-of-office, …
	NotAddressed      Reason = "not-addressed"       // the gateway address is not in To:
	TooLarge          Reason = "too-large"           // over the size limit
	NoService         Reason = "no-service"          // the Subject does not start with {KMS:…}
	NoReplyAddress    Reason = "no-reply-address"    // no Reply-To, From or Sender address
	TooManyRecipients Reason = "too-many-recipients" // reply: ETooManyRecipients, to the envelope sender alone
	UnexpectedAttach  Reason = "unexpected-attachment"
	ServiceRequest    Reason = "service"            // reply: the service's result
	UnknownService    Reason = "unknown-service"    // reply: EUnknownService
	HTMLOnly          Reason = "html-only"          // reply: ENotPlainText
	BadAttachment     Reason = "bad-attachment"     // reply: EAttachment
	BlockedSender     Reason = "blocked"            // ignored: the sender is blocked (rate limit)
	ExhaustedAttempts Reason = "attempts-exhausted" // given up: processing kept failing
)

// Decision is the verdict on a request.
type Decision struct {
	Action Action
	Reason Reason
	// Service is the requested service (Reply with Reason ServiceRequest,
	// HTMLOnly or BadAttachment).
	Service *Service
	// Result is the immediate error result when the gateway answers
	// without running the service (UnknownService, HTMLOnly,
	// BadAttachment).
	Result *gwresult.Result
	// To are the reply's recipients: the Reply-To list, else the first
	// From, else the Sender (STS 600-9-2 §8.3.1).
	To []string
}

// Decide is the gateway's "reply or ignore, and why": a pure function of
// the parsed mail and the policy, one rule per line of STS 600-9-2 §4 and
// §8.2 and RFC 3834 §2, checked in the order of the Reason constants.
func Decide(in *Inbound, p *Policy) Decision {
	ignore := func(r Reason) Decision { return Decision{Action: Ignore, Reason: r} }
	if in.Malformed != nil {
		return ignore(Malformed)
	}
	h := &in.Header
	for _, v := range h.Values("Auto-Submitted") {
		if !strings.EqualFold(headerToken(v), "no") {
			return ignore(AutoSubmitted)
		}
	}
	if h.Has(gwresult.HeaderName) {
		return ignore(GatewayResult)
	}
	for _, v := range h.Values("X-Auto-Response-Suppress") {
		for _, t := range strings.Split(v, ",") {
			switch strings.ToLower(strings.TrimSpace(t)) {
			case "all", "autoreply", "oof":
				return ignore(SuppressResponse)
			}
		}
	}
	for f := h.Fields(); f.Next(); {
		k := strings.ToLower(f.Key())
		if strings.HasPrefix(k, "list-") || k == "mailing-list" || k == "x-mailing-list" {
			return ignore(MailingList)
		}
	}
	for _, v := range h.Values("Precedence") {
		switch strings.ToLower(headerToken(v)) {
		case "bulk", "list", "junk":
			return ignore(BulkPrecedence)
		}
	}
	if in.Envelope.From == "" {
		return ignore(NullSender)
	}
	for _, v := range h.Values("Return-Path") {
		if strings.Trim(strings.TrimSpace(v), "<> \t") == "" {
			return ignore(NullSender)
		}
	}
	senders := append([]string{in.Envelope.From, in.Sender}, in.From...)
	senders = append(senders, in.ReplyTo...)
	for _, s := range senders {
		if s != "" && daemonAddress(s) {
			return ignore(DaemonSender)
		}
	}
	for _, s := range senders {
		if containsAddress(p.Addresses, s) || containsAddress(p.Own, s) {
			return ignore(OwnMail)
		}
	}
	if replyPrefix(in.Subject) {
		return ignore(ReplyPrefix)
	}
	if !anyIn(in.To, p.Addresses) {
		return ignore(NotAddressed)
	}
	if in.Truncated || p.MaxMessageBytes > 0 && in.Size > p.MaxMessageBytes {
		return ignore(TooLarge)
	}
	name, ok := serviceName(in.Subject)
	if !ok {
		return ignore(NoService)
	}
	to := replyAddresses(in)
	if len(to) == 0 {
		return ignore(NoReplyAddress)
	}
	svc := lookupService(name)
	if len(to) > MaxReplyRecipients {
		r := errorResult(gwresult.ETooManyRecipients, strconv.Itoa(len(to)))
		return Decision{Action: Reply, Reason: TooManyRecipients, Service: svc, Result: &r, To: []string{in.Envelope.From}}
	}
	if svc == nil {
		r := errorResult(gwresult.EUnknownService, name)
		return Decision{Action: Reply, Reason: UnknownService, Result: &r, To: to}
	}
	if svc.Attachments == NoAttachment && len(in.Attachments) > 0 {
		return ignore(UnexpectedAttach)
	}
	if in.HTML && !in.PlainText {
		r := errorResult(gwresult.ENotPlainText)
		return Decision{Action: Reply, Reason: HTMLOnly, Service: svc, Result: &r, To: to}
	}
	if why := checkAttachments(svc, in.Attachments); why != "" {
		r := errorResult(gwresult.EAttachment, why)
		return Decision{Action: Reply, Reason: BadAttachment, Service: svc, Result: &r, To: to}
	}
	return Decision{Action: Reply, Reason: ServiceRequest, Service: svc, To: to}
}

// anyIn reports whether some address of list is one of addrs.
func anyIn(list, addrs []string) bool {
	for _, a := range addrs {
		if containsAddress(list, a) {
			return true
		}
	}
	return false
}

// headerToken returns the first token of a structured field such as
// Auto-Submitted ("auto-replied; owner=…") or Precedence, without comments.
func headerToken(v string) string {
	v, _, _ = strings.Cut(v, ";")
	if i := strings.IndexByte(v, '('); i >= 0 {
		v = v[:i]
	}
	return strings.TrimSpace(v)
}

// daemonAddress reports whether addr is a mail system's or list robot's
// address (RFC 3834 §2; the names simvacation and qmail skip), after
// undoing BATV and SRS rewriting of the local part.
func daemonAddress(addr string) bool {
	local, _ := splitAddress(addr)
	local = strings.ToLower(unrewrite(local))
	switch local {
	case "mailer-daemon", "postmaster", "mailer", "listserv", "majordomo", "noreply", "no-reply",
		"donotreply", "do-not-reply", "bounce", "bounces":
		return true
	}
	return strings.HasPrefix(local, "owner-") || strings.HasSuffix(local, "-request") ||
		strings.HasSuffix(local, "-owner") || strings.HasSuffix(local, "-errors") ||
		strings.HasSuffix(local, "-bounces")
}

// unrewrite undoes BATV ("prvs=tag=user") and SRS ("SRS0=h=t=domain=user")
// local parts.
func unrewrite(local string) string {
	l := strings.ToLower(local)
	switch {
	case strings.HasPrefix(l, "prvs=") || strings.HasPrefix(l, "btv1=") || strings.HasPrefix(l, "msprvs1="):
		if parts := strings.SplitN(local, "=", 3); len(parts) == 3 {
			return parts[2]
		}
	case strings.HasPrefix(l, "srs0=") || strings.HasPrefix(l, "srs1="):
		return local[strings.LastIndexByte(local, '=')+1:]
	}
	return local
}

// replyPrefixes are the reply, forward and automatic-reply markers that
// start a Subject, lower case, without their colon (Outlook, Gmail,
// Thunderbird and Exchange in several languages).
var replyPrefixes = []string{
	"re", "fwd", "fw", "aw", "wg", "sv", "vs", "antw", "tr", "rv", "rif", "odp", "enc", "res",
	"auto", "automatic reply", "autoreply", "auto-reply", "auto reply", "auto response",
	"out of office", "out of office reply", "out of office autoreply", "out of the office",
	"away", "vacation", "abwesend", "abwesenheitsnotiz", "automatische antwort",
	"réponse automatique", "reponse automatique", "absence", "respuesta automática",
	"respuesta automatica", "risposta automatica", "afwezig", "automatisch antwoord",
	"undeliverable", "undelivered mail returned to sender", "delivery status notification",
	"returned mail", "mail delivery failed",
}

// replyPrefix reports whether subject starts with a reply, forward or
// automatic-reply marker: one of replyPrefixes, perhaps numbered ("Re[2]:",
// "Re(2):", "Re^2:"), then a colon (ASCII or full-width), case-insensitive,
// after any leading space.
func replyPrefix(subject string) bool {
	s := strings.ToLower(strings.TrimLeftFunc(subject, unicode.IsSpace))
	for _, p := range replyPrefixes {
		if !strings.HasPrefix(s, p) {
			continue
		}
		rest := s[len(p):]
		rest = strings.TrimLeft(rest, "0123456789[]()^ \t")
		if strings.HasPrefix(rest, ":") || strings.HasPrefix(rest, "：") {
			return true
		}
	}
	return false
}

// serviceName returns the name in a Subject that starts with {KMS:<name>}
// ("KMS" in any case, leading white space allowed); ok is false for any
// other Subject.
func serviceName(subject string) (name string, ok bool) {
	s := strings.TrimLeftFunc(subject, unicode.IsSpace)
	if len(s) < 5 || !strings.EqualFold(s[:5], "{KMS:") {
		return "", false
	}
	end := strings.IndexByte(s, '}')
	if end < 0 {
		return "", false
	}
	name = strings.TrimSpace(s[5:end])
	if name == "" || len(name) > 64 || strings.ContainsFunc(name, func(r rune) bool {
		return r > unicode.MaxASCII || !unicode.IsLetter(r) && !unicode.IsDigit(r) && r != '-' && r != '_' && r != '.'
	}) {
		return "", false
	}
	return name, true
}

// MaxReplyRecipients is the most addresses a reply goes to. A request
// whose Reply-To names more (after removing duplicates) is answered
// ETooManyRecipients, to its envelope sender alone: one mail in never
// makes more than MaxReplyRecipients mails out.
const MaxReplyRecipients = 5

// replyAddresses returns the Reply-To list if present, else the first
// From, else the Sender (STS 600-9-2 §8.3.1), without duplicates (ignoring
// case).
func replyAddresses(in *Inbound) []string {
	var to []string
	switch {
	case len(in.ReplyTo) > 0:
		seen := make(map[string]bool, len(in.ReplyTo))
		for _, a := range in.ReplyTo {
			if k := strings.ToLower(a); !seen[k] {
				seen[k] = true
				to = append(to, a)
			}
		}
	case len(in.From) > 0:
		to = in.From[:1]
	case in.Sender != "":
		to = []string{in.Sender}
	}
	return to
}

// checkAttachments checks a request's attachments against what its service
// takes; it returns what is wrong, or "".
func checkAttachments(svc *Service, atts []Attachment) string {
	switch {
	case svc.Attachments == RequiredAttachment && len(atts) == 0:
		return "no attachment"
	case len(atts) > 1:
		return "more than one attachment"
	case len(atts) == 0:
		return ""
	}
	a := atts[0]
	switch {
	case a.ContentType != "text/plain":
		return "attachment of type " + gwresult.Clean(a.ContentType) + ", not text/plain"
	case a.Disposition != "attachment":
		return "attachment without Content-Disposition: attachment"
	case a.Size > maxPartBytes:
		return "attachment too large"
	}
	return ""
}
