package gateway

import (
	"bytes"
	"mime"
	"net/mail"
	"strings"
	"testing"
	"time"

	"github.com/stskms/stskms/gwresult"
)

// TestReplySubjectFolded: a long non-ASCII Subject is copied into the
// reply in encoded words on lines of at most 78 columns (RFC 5322
// §2.1.1), and reads back as "Auto: " and the request's Subject.
func TestReplySubjectFolded(t *testing.T) {
	subject := "{KMS:GetKlfStsEd2} " + strings.Repeat("Prüfung für das Modul ", 8)
	data, err := composeReply(&replyMail{
		From: mail.Address{Address: gwAddr}, To: []string{alice}, Subject: subject,
		MessageID: "x.final.1@kms.example.com", Date: time.Date(2025, 6, 23, 10, 0, 0, 0, time.UTC),
		Result: gwresult.Result{Kind: gwresult.Success, Text: "ok"}, Body: "body",
	})
	if err != nil {
		t.Fatal(err)
	}
	head, _, _ := bytes.Cut(data, []byte("\r\n\r\n"))
	var field []string
	for _, line := range strings.Split(string(head), "\r\n") {
		if strings.HasPrefix(line, "Subject:") || len(field) > 0 && strings.HasPrefix(line, " ") {
			field = append(field, line)
		} else if len(field) > 0 {
			break
		}
	}
	if len(field) < 3 {
		t.Fatalf("Subject not folded: %q", field)
	}
	for _, line := range field {
		if len(line) > 78 {
			t.Errorf("Subject line of %d columns: %q", len(line), line)
		}
	}
	raw := strings.TrimPrefix(strings.Join(field, ""), "Subject: ")
	got, err := new(mime.WordDecoder).DecodeHeader(raw)
	if want := "Auto: " + strings.TrimSpace(subject); err != nil || got != want {
		t.Errorf("Subject reads %q (%v), want %q", got, err, want)
	}
}
