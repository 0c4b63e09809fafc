package smmail

import (
	"bytes"
	"context"
	"errors"
	"sync/atomic"
	"testing"
	"time"

	"github.com/emersion/go-imap/v2"
	"github.com/emersion/go-imap/v2/imapserver"
	"github.com/emersion/go-imap/v2/imapserver/imapmemserver"
)

type literal struct {
	*bytes.Reader
	n int64
}

func (l literal) Size() int64 { return l.n }

func appendMsg(t *testing.T, u *imapmemserver.User, raw string) {
	t.Helper()
	if _, err := u.Append("INBOX", literal{bytes.NewReader([]byte(raw)), int64(len(raw))}, &imap.AppendOptions{}); err != nil {
		t.Error(err)
	}
}

// serveIMAP serves, until t ends, an IMAP server with opts (its sessions
// and capabilities set here) over an in-memory mailbox INBOX of user "op",
// password "secret"; it returns the user and the server's address.
func serveIMAP(t *testing.T, opts imapserver.Options) (*imapmemserver.User, string) {
	t.Helper()
	mem := imapmemserver.New()
	user := imapmemserver.NewUser("op", "secret")
	if err := user.Create("INBOX", nil); err != nil {
		t.Fatal(err)
	}
	mem.AddUser(user)
	opts.NewSession = func(*imapserver.Conn) (imapserver.Session, *imapserver.GreetingData, error) {
		return mem.NewSession(), nil, nil
	}
	opts.Caps = imap.CapSet{imap.CapIMAP4rev1: {}}
	return user, serveLoopback(t, imapserver.New(&opts))
}

// TestIMAPMailbox: replies read from an IMAP mailbox, notices followed,
// mail that is not a gateway reply or not ours skipped.
func TestIMAPMailbox(t *testing.T) {
	user, imapAddr := serveIMAP(t, imapserver.Options{InsecureAuth: true})
	appendMsg(t, user, "Subject: hello\r\n\r\nnot a reply")

	box := &IMAP{Addr: imapAddr, Username: "op", Password: "secret", Poll: 20 * time.Millisecond}
	var answered atomic.Bool
	_, addr := startFake(t, func(subj string) []string {
		if answered.Swap(true) {
			return nil // the second request goes unanswered
		}
		go func() {
			time.Sleep(50 * time.Millisecond)
			appendMsg(t, user, reply(subj+"-other", "Success\tnot ours", ""))
			appendMsg(t, user, reply(subj, "Notice\tDeferred\tlater\t20260101T000000Z", ""))
			time.Sleep(50 * time.Millisecond)
			appendMsg(t, user, reply(subj, "Success\tdone", "KMC Public Key Fingerprint: 0123456789ABCDEF\r\n"))
		}()
		return nil
	})
	notices := 0
	c := &Client{Submit: addr, Gateway: "kmc@kms.test", From: "op@utility.test", Mailbox: box, Timeout: 10 * time.Second,
		Progress: func(s string) {
			if len(s) > 7 && s[:7] == "notice:" {
				notices++
			}
		}}
	r, err := c.Request(context.Background(), GetPublicKey, "")
	if err != nil {
		t.Fatal(err)
	}
	if r.Result.Text != "done" || r.Fingerprint() != "0123456789ABCDEF" || notices != 1 {
		t.Errorf("reply %+v, %d notices", r.Result, notices)
	}

	// Nothing arrives: the wait ends with the timeout.
	c.Timeout = 200 * time.Millisecond
	c.Progress = nil
	if _, err := c.Request(context.Background(), GetPublicKey, ""); !errors.Is(err, ErrTimeout) {
		t.Errorf("err %v", err)
	}
	// A wrong password.
	bad := &IMAP{Addr: box.Addr, Username: "op", Password: "wrong"}
	if _, err := bad.Wait(context.Background(), "op@utility.test", func(*Reply) bool { return true }); err == nil {
		t.Error("login with a wrong password")
	}
}
