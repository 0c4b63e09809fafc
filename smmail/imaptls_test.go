package smmail

import (
	"context"
	"crypto/tls"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/emersion/go-imap/v2/imapserver"
	"github.com/stskms/stskms/internal/testcert"
)

// TestIMAPServerNameCAAndLogout: an IMAP server on 127.0.0.1 with
// STARTTLS and a certificate for mxName is read with that server name
// and its CA; every session ends with LOGOUT — after a match and after
// the wait ran out. Without the name the certificate does not verify: a
// *CertificateError naming the server name, nothing read.
func TestIMAPServerNameCAAndLogout(t *testing.T) {
	ca := testcert.NewCA(t)
	log := &transcript{}
	user, imapAddr := serveIMAP(t, imapserver.Options{
		TLSConfig:   &tls.Config{Certificates: []tls.Certificate{ca.Issue(t, mxName)}},
		DebugWriter: log,
		Logger:      nopLogger{},
	})
	appendMsg(t, user, reply("{KMS:GetPublicKey} smmail-1", "Success\tdone", ""))
	logouts := func() int { // the client's "TAG LOGOUT" lines
		n := 0
		for _, l := range log.lines("") {
			if f := strings.Fields(l); len(f) == 2 && strings.EqualFold(f[1], "LOGOUT") {
				n++
			}
		}
		return n
	}

	box := &IMAP{Addr: imapAddr, Username: "op", Password: "secret", Poll: 20 * time.Millisecond,
		TLSConfig: &tls.Config{ServerName: mxName, RootCAs: ca.Pool()}}
	r, err := box.Wait(context.Background(), "op@utility.test", func(r *Reply) bool { return r.Tag() == "smmail-1" })
	if err != nil || r.Result.Text != "done" {
		t.Fatalf("reply %v, err %v", r, err)
	}
	if n := logouts(); n != 1 {
		t.Errorf("%d LOGOUTs after a match, want 1", n)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 100*time.Millisecond)
	defer cancel()
	if _, err := box.Wait(ctx, "op@utility.test", func(*Reply) bool { return false }); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("err %v", err)
	}
	if n := logouts(); n != 2 {
		t.Errorf("%d LOGOUTs after the wait ran out, want 2", n)
	}

	bad := &IMAP{Addr: box.Addr, Username: "op", Password: "secret", TLSConfig: &tls.Config{RootCAs: ca.Pool()}}
	_, err = bad.Wait(context.Background(), "op@utility.test", func(*Reply) bool { return true })
	var ce *CertificateError
	if !errors.As(err, &ce) || ce.Proto != "IMAP" || ce.ServerName != "127.0.0.1" || !strings.Contains(err.Error(), `server name "127.0.0.1"`) {
		t.Fatalf("err %v, want a *CertificateError for 127.0.0.1", err)
	}
	// A request whose reply could not be read is not sent.
	g, addr := startFake(t, func(string) []string { return nil })
	c := &Client{Submit: addr, Gateway: "kmc@kms.test", From: "op@utility.test", Mailbox: bad, Timeout: 5 * time.Second}
	if _, err := c.Request(context.Background(), GetPublicKey, ""); !errors.As(err, &ce) {
		t.Fatalf("request: %v", err)
	}
	if g.got.Load() != 0 {
		t.Error("the request was sent")
	}
}
