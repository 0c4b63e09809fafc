package gateway

import (
	"errors"
	"os"
	"strings"
	"testing"
)

// dsnVars are the placeholders of the bounce fixtures.
type dsnVars struct {
	envFrom, envID, rcpt, msgID string
}

// dsnFixture returns testdata/dsn/name (bounces in the formats real MTAs
// send: Postfix's RFC 3464 reports, a qmail failure notice) with its
// placeholders filled in.
func dsnFixture(t testing.TB, name string, v dsnVars) string {
	t.Helper()
	b, err := os.ReadFile("testdata/dsn/" + name)
	if err != nil {
		t.Fatal(err)
	}
	return strings.NewReplacer("{{ENVFROM}}", v.envFrom, "{{ENVID}}", v.envID, "{{RCPT}}", v.rcpt,
		"{{MSGID}}", v.msgID).Replace(string(b))
}

var testDSN = dsnVars{envFrom: "bounces+7.0123456789abcdef@kms.example.com", envID: "7.0123456789abcdef",
	rcpt: "bob@example.com", msgID: "ref.final.1@kms.example.com"}

func TestParseBounce(t *testing.T) {
	for _, tc := range []struct {
		file                 string
		standard             bool
		action, status, diag string
		envID                string
		failed               bool
	}{
		{"postfix-failed.eml", true, ActionFailed, "5.1.1",
			"smtp; 550 5.1.1 <bob@example.com>: Recipient address rejected: User unknown in local recipient table",
			testDSN.envID, true},
		{"postfix-delayed.eml", true, ActionDelayed, "4.4.1",
			"X-Postfix; connect to mx.example.com[192.0.2.25]:25: Connection timed out", testDSN.envID, false},
		{"qmail-failed.eml", false, ActionFailed, "5.1.1", "550 5.1.1 <bob@example.com>... User unknown", "", true},
	} {
		t.Run(tc.file, func(t *testing.T) {
			for _, eol := range []string{"\n", "\r\n"} {
				raw := strings.ReplaceAll(dsnFixture(t, tc.file, testDSN), "\n", eol)
				b, err := ParseBounce([]byte(raw))
				if err != nil {
					t.Fatal(err)
				}
				if b.Standard != tc.standard || b.EnvelopeID != tc.envID || len(b.Recipients) != 1 {
					t.Fatalf("%+v", b)
				}
				r := b.Recipients[0]
				if r.Recipient != testDSN.rcpt || r.Action != tc.action || r.Status != tc.status || r.Diagnostic != tc.diag {
					t.Errorf("recipient %+v", r)
				}
				if (b.Failed() != nil) != tc.failed {
					t.Errorf("Failed() = %v", b.Failed())
				}
				if tc.standard && b.MessageID != testDSN.msgID {
					t.Errorf("returned Message-ID %q", b.MessageID)
				}
			}
		})
	}
}

func TestParseBounceRefuses(t *testing.T) {
	report := func(status string) string {
		return "Content-Type: multipart/report; report-type=delivery-status; boundary=b\r\n\r\n" +
			"--b\r\nContent-Type: text/plain\r\n\r\nhi\r\n--b\r\nContent-Type: message/delivery-status\r\n\r\n" +
			status + "\r\n--b--\r\n"
	}
	for name, raw := range map[string]string{
		"empty":            "",
		"not a bounce":     "From: alice@example.com\r\nSubject: hello\r\n\r\nJust saying hello.\r\n",
		"bad header":       "From alice\r\n\x00\x01: x\r\n\r\nbody",
		"no recipients":    report("Reporting-MTA: dns; mx.example.com\r\n"),
		"bad status block": report("Reporting-MTA: dns; mx.example.com\r\n\r\nFinal-Recipient rfc822 bob\r\n"),
		"status only 2xx":  "Subject: x\r\n\r\n250 2.0.0 Ok: queued\r\n",
	} {
		t.Run(name, func(t *testing.T) {
			b, err := ParseBounce([]byte(raw))
			var be *BounceError
			if !errors.As(err, &be) || !errors.Is(err, ErrBadBounce) || b != nil {
				t.Fatalf("got %+v, %v; want a *BounceError", b, err)
			}
		})
	}
}

// TestParseBounceLimits: a bounce's fields are cut and made printable;
// it names at most maxBounceRecipients recipients.
func TestParseBounceLimits(t *testing.T) {
	var s strings.Builder
	s.WriteString("Content-Type: multipart/report; report-type=delivery-status; boundary=b\r\n\r\n--b\r\n" +
		"Content-Type: message/delivery-status\r\n\r\nReporting-MTA: dns; " + strings.Repeat("x", 5000) + "\r\n")
	for i := range maxBounceRecipients + 10 {
		s.WriteString("\r\nFinal-Recipient: rfc822; u" + strings.Repeat("y", i) + "@example.com\r\nAction: failed\r\n" +
			"Status: 5.0.0\r\nDiagnostic-Code: smtp; 550 \x7f\x1b[31m red\r\n")
	}
	s.WriteString("--b--\r\n")
	b, err := ParseBounce([]byte(s.String()))
	if err != nil {
		t.Fatal(err)
	}
	if len(b.Recipients) != maxBounceRecipients || len(b.ReportingMTA) != maxBounceField {
		t.Fatalf("%d recipients, Reporting-MTA of %d bytes", len(b.Recipients), len(b.ReportingMTA))
	}
	if d := b.Recipients[0].Diagnostic; d != "smtp; 550 ??[31m red" {
		t.Errorf("diagnostic %q", d)
	}
}

// FuzzParseBounce: ParseBounce never panics; what it returns is a
// *BounceError or a bounce with 1 to maxBounceRecipients reports whose
// fields are short printable ASCII.
func FuzzParseBounce(f *testing.F) {
	for _, name := range []string{"postfix-failed.eml", "postfix-delayed.eml", "qmail-failed.eml"} {
		f.Add(dsnFixture(f, name, testDSN))
	}
	f.Add("Content-Type: multipart/report; boundary=b\r\n\r\n--b\r\nContent-Type: message/delivery-status\r\n\r\nX: y\r\n\r\nAction: failed\r\n--b--")
	f.Fuzz(func(t *testing.T, raw string) {
		b, err := ParseBounce([]byte(raw))
		if err != nil {
			if !errors.Is(err, ErrBadBounce) || b != nil {
				t.Fatalf("error %v with %+v", err, b)
			}
			return
		}
		if n := len(b.Recipients); n == 0 || n > maxBounceRecipients {
			t.Fatalf("%d recipients", n)
		}
		for _, r := range b.Recipients {
			for _, v := range []string{r.Recipient, r.Action, r.Status, r.Diagnostic, b.EnvelopeID, b.MessageID} {
				if len(v) > maxBounceField || field(v) != v {
					t.Fatalf("field %q not cut or not printable", v)
				}
			}
		}
	})
}
