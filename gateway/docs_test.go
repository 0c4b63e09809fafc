package gateway

import (
	"os"
	"strings"
	"testing"

	"github.com/stskms/stskms/gwresult"
)

// TestDocs: docs/gateway.md, the integrator's guide, lists every service,
// every code with its exact description and params, and every reason the
// queue records.
func TestDocs(t *testing.T) {
	b, err := os.ReadFile("../docs/gateway.md")
	if err != nil {
		t.Fatal(err)
	}
	doc := string(b)
	for _, s := range Services {
		if !strings.Contains(doc, "`"+s.Subject()+"`") {
			t.Errorf("docs/gateway.md lacks %s", s.Subject())
		}
	}
	for _, c := range gwresult.Codes {
		row := "| " + string(c.Kind) + " | `" + c.Code + "` | " + c.Description
		line, ok := docLine(doc, row)
		if !ok {
			t.Errorf("docs/gateway.md lacks the row %q", row)
			continue
		}
		params := c.Params
		if params == "" {
			params = "—"
		}
		if !strings.HasSuffix(strings.ReplaceAll(line, "`", ""), "| "+params+" |") {
			t.Errorf("docs/gateway.md: the params of %s are not %q: %s", c.Code, params, line)
		}
	}
	for _, r := range []Reason{Malformed, AutoSubmitted, GatewayResult, SuppressResponse, MailingList, BulkPrecedence,
		NullSender, DaemonSender, OwnMail, ReplyPrefix, NotAddressed, TooLarge, NoService, NoReplyAddress,
		UnexpectedAttach, TooManyRecipients, ServiceRequest, UnknownService, HTMLOnly, BadAttachment, BlockedSender, NotAuthenticated, ExhaustedAttempts, BounceMail, Duplicate} {
		if !strings.Contains(doc, "`"+string(r)+"`") {
			t.Errorf("docs/gateway.md lacks the reason %q", r)
		}
	}
}

// docLine returns the line of doc that starts with prefix.
func docLine(doc, prefix string) (string, bool) {
	for line := range strings.Lines(doc) {
		if strings.HasPrefix(line, prefix) {
			return strings.TrimRight(line, "\n"), true
		}
	}
	return "", false
}
