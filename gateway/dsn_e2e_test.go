package gateway

import (
	"context"
	"fmt"
	"io"
	"net"
	"reflect"
	"regexp"
	"strings"
	"sync"
	"testing"

	"github.com/emersion/go-smtp"
	"github.com/stskms/stskms/store"
)

const bounceAddr = "bounces@kms.example.com"

// sentReply is a reply as the relay got it, with its outbox entry.
type sentReply struct {
	envFrom string
	out     OutboxEntry
}

// sendReply sends a {KMS:Help} request and returns its reply, sent.
func (h *harness) sendReply() sentReply {
	h.t.Helper()
	before := len(h.sink.messages())
	h.request(reqMail("Regards", "Subject: {KMS:Help}"))
	h.drain()
	msgs := h.sink.messages()
	if len(msgs) != before+1 {
		h.t.Fatalf("%d replies, want %d", len(msgs), before+1)
	}
	q := h.queue()
	out := q[len(q)-1].Replies[0]
	if out.State != OutSent {
		h.t.Fatalf("reply %+v", out)
	}
	return sentReply{envFrom: msgs[len(msgs)-1].From, out: out}
}

// bounce sends raw to rcpt from <> as an MTA sends a bounce, processes it
// and returns the bounce records it left.
func (h *harness) bounce(rcpt, raw string) []BounceRecord {
	h.t.Helper()
	before, err := h.gw.Queue().Bounces(context.Background())
	if err != nil {
		h.t.Fatal(err)
	}
	if err := h.send("", []string{rcpt}, raw); err != nil {
		h.t.Fatalf("the gateway refused the bounce: %v", err)
	}
	h.drain()
	all, err := h.gw.Queue().Bounces(context.Background())
	if err != nil {
		h.t.Fatal(err)
	}
	q := h.queue()
	if last := q[len(q)-1]; last.State != StateIgnored || last.Reason != string(BounceMail) || len(last.Replies) != 0 {
		h.t.Fatalf("the bounce mail: %+v", last)
	}
	return all[len(before):]
}

// replyState returns the outbox entry id now.
func (h *harness) replyState(id int64) OutboxEntry {
	h.t.Helper()
	for _, m := range h.queue() {
		for _, o := range m.Replies {
			if o.ID == id {
				return o
			}
		}
	}
	h.t.Fatalf("no reply %d", id)
	return OutboxEntry{}
}

var verpRE = regexp.MustCompile(`^bounces\+(\d+)\.([0-9a-f]{16})@kms\.example\.com$`)

// TestBounces: with a bounce address, each reply goes out from its own
// VERP address and asks for failure and delay reports; real bounces sent
// over SMTP to those addresses (Postfix's RFC 3464 reports, a qmail
// notice) are stored, matched to exactly the reply they name, recorded,
// and never answered; forged or unknown ones are recorded and ignored.
func TestBounces(t *testing.T) {
	each(t, func(t *testing.T, db *store.DB) {
		logs := &logBuffer{}
		h := newHarness(t, db, func(c *Config) { c.EnvelopeSender = bounceAddr; c.Logger = logs.logger() })
		fill := func(r sentReply, envID, msgID string) dsnVars {
			return dsnVars{envFrom: r.envFrom, envID: envID, rcpt: alice, msgID: msgID}
		}
		verp := func(r sentReply) (id, tag string) {
			m := verpRE.FindStringSubmatch(r.envFrom)
			if m == nil || m[1] != fmt.Sprint(r.out.ID) {
				t.Fatalf("envelope sender %q for reply %d", r.envFrom, r.out.ID)
			}
			return m[1], m[2]
		}
		replies := 0
		check := func(r sentReply, state, status string, recs []BounceRecord, matched bool, note string) {
			t.Helper()
			replies++
			if got := h.replyState(r.out.ID); got.State != state || got.BounceStatus != status {
				t.Errorf("reply %+v, want %s %q", got, state, status)
			}
			if len(recs) != 1 || (recs[0].Reply == r.out.ID) != matched || !strings.Contains(recs[0].Note, note) {
				t.Errorf("bounce records %+v; want matched %v, note %q", recs, matched, note)
			}
			if n := len(h.sink.messages()); n != replies {
				t.Errorf("%d mails sent, want %d: a bounce was answered", n, replies)
			}
		}

		t.Run("envelope", func(t *testing.T) {
			r := h.sendReply()
			verp(r)
			m := h.sink.messages()[0]
			if want := []smtp.DSNNotify{smtp.DSNNotifyFailure, smtp.DSNNotifyDelayed}; !reflect.DeepEqual(m.Notify, want) {
				t.Errorf("NOTIFY %v, want %v", m.Notify, want)
			}
			replies++
		})
		t.Run("Postfix failed", func(t *testing.T) {
			r := h.sendReply()
			id, tag := verp(r)
			recs := h.bounce(r.envFrom, dsnFixture(t, "postfix-failed.eml", fill(r, id+"."+tag, r.out.MessageID)))
			check(r, OutBounced, "5.1.1", recs, true, "")
			got := h.replyState(r.out.ID)
			if !strings.Contains(got.BounceDiagnostic, "550 5.1.1") || recs[0].Action != ActionFailed ||
				recs[0].Recipient != alice {
				t.Errorf("reply %+v, record %+v", got, recs[0])
			}
		})
		t.Run("Postfix delayed", func(t *testing.T) {
			r := h.sendReply()
			id, tag := verp(r)
			recs := h.bounce(r.envFrom, dsnFixture(t, "postfix-delayed.eml", fill(r, id+"."+tag, r.out.MessageID)))
			check(r, OutSent, "", recs, true, "")
			if recs[0].Action != ActionDelayed || recs[0].Status != "4.4.1" {
				t.Errorf("record %+v", recs[0])
			}
		})
		t.Run("qmail", func(t *testing.T) {
			r := h.sendReply()
			recs := h.bounce(r.envFrom, dsnFixture(t, "qmail-failed.eml", fill(r, "", r.out.MessageID)))
			check(r, OutBounced, "5.1.1", recs, true, "")
		})
		t.Run("bare address, ENVID", func(t *testing.T) {
			r := h.sendReply()
			id, tag := verp(r)
			recs := h.bounce(bounceAddr, dsnFixture(t, "postfix-failed.eml", fill(r, id+"."+tag, r.out.MessageID)))
			check(r, OutBounced, "5.1.1", recs, true, "")
		})
		t.Run("forged tag", func(t *testing.T) {
			r := h.sendReply()
			id, _ := verp(r)
			forged := "bounces+" + id + ".00000000000000ff@kms.example.com"
			recs := h.bounce(forged, dsnFixture(t, "postfix-failed.eml", fill(r, "", r.out.MessageID)))
			check(r, OutSent, "", recs, false, "wrong tag")
			// The log says why it matched nothing, as the record does.
			if l := logs.String(); !strings.Contains(l, `"msg":"gateway: bounce matches no reply`) || !strings.Contains(l, `"note":"wrong tag"`) {
				t.Errorf("log: %s", l)
			}
		})
		t.Run("unknown id", func(t *testing.T) {
			r := h.sendReply()
			_, tag := verp(r)
			recs := h.bounce("bounces+999999."+tag+"@kms.example.com",
				dsnFixture(t, "postfix-failed.eml", fill(r, "", r.out.MessageID)))
			check(r, OutSent, "", recs, false, "no such reply")
		})
		t.Run("other Message-ID", func(t *testing.T) {
			r := h.sendReply()
			recs := h.bounce(r.envFrom, dsnFixture(t, "postfix-failed.eml", fill(r, "", "other@example.com")))
			check(r, OutSent, "", recs, false, "Message-ID")
		})
		t.Run("bare address, no ENVID", func(t *testing.T) {
			r := h.sendReply()
			recs := h.bounce(bounceAddr, dsnFixture(t, "postfix-failed.eml", fill(r, "", r.out.MessageID)))
			check(r, OutSent, "", recs, false, "names no reply")
		})
		t.Run("not a bounce", func(t *testing.T) {
			r := h.sendReply()
			recs := h.bounce(r.envFrom, reqMail("Hello, is this the gateway?", "Subject: {KMS:Help}"))
			check(r, OutSent, "", recs, false, "no delivery status")
		})
		t.Run("other recipients refused", func(t *testing.T) {
			for _, rcpt := range []string{"bounces-x@kms.example.com", "bounces+1.x@other.example.com", "other+1.x@kms.example.com"} {
				if err := h.send("", []string{rcpt}, reqMail("x")); err == nil || !strings.Contains(err.Error(), "550") {
					t.Errorf("RCPT %s: %v, want 550", rcpt, err)
				}
			}
		})
	})
}

// TestBounceAddressChecked: the bounce address must be a bare address,
// without the VERP delimiter, and not one requests go to.
func TestBounceAddressChecked(t *testing.T) {
	each(t, func(t *testing.T, db *store.DB) {
		for _, a := range []string{gwAddr, "Bounces <b@kms.example.com>", "b+x@kms.example.com", "nodomain", "ALIAS@kms.example.com"} {
			_, err := New(context.Background(), db, nil, nil, Config{Address: gwAddr, Aliases: []string{"alias@kms.example.com"},
				EnvelopeSender: a})
			if err == nil || !strings.Contains(err.Error(), "envelope sender") {
				t.Errorf("envelope sender %q: %v", a, err)
			}
		}
	})
}

// mailOptsSink is a relay that records the DSN parameters of MAIL and RCPT.
type mailOptsSink struct {
	mu   sync.Mutex
	seen []string // "RET=… ENVID=…" of MAIL, then "NOTIFY=…" of RCPT
}

type mailOptsSession struct{ s *mailOptsSink }

func (m mailOptsSession) Reset()        {}
func (m mailOptsSession) Logout() error { return nil }
func (m mailOptsSession) Mail(_ string, o *smtp.MailOptions) error {
	m.s.mu.Lock()
	defer m.s.mu.Unlock()
	if o == nil {
		o = &smtp.MailOptions{}
	}
	m.s.seen = append(m.s.seen, fmt.Sprintf("RET=%s ENVID=%s", o.Return, o.EnvelopeID))
	return nil
}
func (m mailOptsSession) Rcpt(_ string, o *smtp.RcptOptions) error {
	m.s.mu.Lock()
	defer m.s.mu.Unlock()
	var n []smtp.DSNNotify
	if o != nil {
		n = o.Notify
	}
	m.s.seen = append(m.s.seen, fmt.Sprintf("NOTIFY=%v", n))
	return nil
}
func (m mailOptsSession) Data(r io.Reader) error { _, err := io.Copy(io.Discard, r); return err }

// TestRelayDSNParameters: from the null sender the relay is asked for no
// DSN at all; from a VERP bounce address for failure and delay reports,
// headers only, with the VERP id as ENVID; a relay without DSN gets no
// parameters.
func TestRelayDSNParameters(t *testing.T) {
	for _, dsn := range []bool{true, false} {
		rec := &mailOptsSink{}
		srv := smtp.NewServer(smtp.BackendFunc(func(*smtp.Conn) (smtp.Session, error) { return mailOptsSession{rec}, nil }))
		srv.Domain, srv.EnableDSN, srv.ErrorLog = "relay.test", dsn, nopLogger{}
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		go srv.Serve(l)
		relay := &Relay{Addr: l.Addr().String()}
		msg := []byte("Subject: x\r\n\r\nx\r\n")
		for _, from := range []string{"", "bounces+12.0123456789abcdef@kms.example.com"} {
			if err := relay.Send(context.Background(), from, []string{alice}, msg); err != nil {
				t.Fatal(err)
			}
		}
		srv.Close()
		want := []string{"RET= ENVID=", "NOTIFY=[NEVER]", "RET=HDRS ENVID=12.0123456789abcdef", "NOTIFY=[FAILURE DELAY]"}
		if !dsn {
			want = []string{"RET= ENVID=", "NOTIFY=[]", "RET= ENVID=", "NOTIFY=[]"}
		}
		rec.mu.Lock()
		if !reflect.DeepEqual(rec.seen, want) {
			t.Errorf("DSN offered %v: the relay saw %q, want %q", dsn, rec.seen, want)
		}
		rec.mu.Unlock()
	}
}
