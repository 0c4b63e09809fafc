package gateway

import (
	"os"
	"strings"
	"testing"
)

// TestDocs: docs/gateway.md, the integrator's guide, lists every service,
// every code with its exact description, and every reason the queue
// records.
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
	for _, c := range Codes {
		row := "| " + string(c.Kind) + " | `" + c.Code + "` | " + c.Description
		if !strings.Contains(doc, row) {
			t.Errorf("docs/gateway.md lacks the row %q", row)
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
