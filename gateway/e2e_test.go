package gateway

import (
	"context"
	"errors"
	"fmt"
	"net/textproto"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/emersion/go-smtp"
	"github.com/stskms/stskms/gwresult"
	"github.com/stskms/stskms/internal/testclock"
	"github.com/stskms/stskms/records"
	"github.com/stskms/stskms/records/armor"
	"github.com/stskms/stskms/store"
	"github.com/stskms/stskms/store/storetest"
)

// klfRequest is a {KMS:GetKlfStsEd2} mail whose body is cb.
func klfRequest(cb clientBody, edits ...string) string {
	return reqMail(cb.body, append(append(cb.headers, "Subject: {KMS:GetKlfStsEd2}"), edits...)...)
}

// checkKLF checks a successful GetKlfStsEd2 reply: the Key Load File is
// one text/plain attachment named <SM id>_<time>.klf that the test SM
// opens for its request of tReq.
func checkKLF(t *testing.T, h *harness, p *parsedReply, tReq time.Time) []string {
	t.Helper()
	if p.result.Kind != gwresult.Success || !strings.Contains(p.result.Text, "94000001") {
		t.Fatalf("result %+v\n%s", p.result, p.text)
	}
	if len(p.files) != 1 || p.fileType != "text/plain; charset=us-ascii" || p.fileDisp != "attachment" {
		t.Fatalf("attachments %d, %s, %s", len(p.files), p.fileType, p.fileDisp)
	}
	blocks, err := armor.ParseFile(p.files[0].Data)
	if err != nil {
		t.Fatalf("attachment is not a file of records: %v", err)
	}
	bodies := make([]string, len(blocks))
	for i, b := range blocks {
		bodies[i] = b.Body
	}
	hdr, err := records.ParseKLFHeader(bodies[0])
	if err != nil {
		t.Fatal(err)
	}
	if want := armor.FileName("94000001", hdr.IssueTime, "klf"); p.files[0].Name != want {
		t.Errorf("attachment named %q, want %q", p.files[0].Name, want)
	}
	keys, err := h.kmc.open(bodies, tReq)
	if err != nil || len(keys) != 1 {
		t.Fatalf("the SM cannot open the Key Load File: %d keys, %v", len(keys), err)
	}
	return bodies
}

// TestServices runs each service end to end: a real SMTP client sends to
// the gateway on 127.0.0.1, the reply arrives at a real SMTP relay.
func TestServices(t *testing.T) {
	each(t, func(t *testing.T, db *store.DB) {
		h := newHarness(t, db, nil)

		t.Run("Help", func(t *testing.T) {
			h.sink.Reset()
			h.request(reqMail("Regards, User", "Subject: {KMS:Help} #1"))
			h.drain()
			p := h.one()
			if p.result.Kind != gwresult.Success || p.text != HelpText(gwAddr)+"" {
				t.Errorf("result %+v, text:\n%s", p.result, p.text)
			}
			if subjectOf(p) != "Auto: {KMS:Help} #1" || p.header.Get("In-Reply-To") != baseMID ||
				p.header.Get("To") != "<"+alice+">" || !strings.Contains(p.header.Get("From"), gwAddr) {
				t.Errorf("header %v", p.header)
			}
			m := h.sink.messages()[0]
			if m.From != "" || !reflect.DeepEqual(m.To, []string{alice}) || !reflect.DeepEqual(m.Notify, []smtp.DSNNotify{smtp.DSNNotifyNever}) {
				t.Errorf("envelope from %q to %q notify %v; want <> to alice, NOTIFY=NEVER", m.From, m.To, m.Notify)
			}
		})

		t.Run("GetPublicKey", func(t *testing.T) {
			h.sink.Reset()
			h.request(reqMail("", "Subject: {KMS:GetPublicKey}"))
			h.drain()
			p := h.one()
			info, _ := h.kmc.PublicKey(context.Background())
			if p.result.Kind != gwresult.Success || p.result.Text != "KMC public key "+info.Fingerprint {
				t.Errorf("result %+v", p.result)
			}
			if !strings.HasPrefix(p.text, "KMC Public Key Fingerprint: "+info.Fingerprint+"\r\n") {
				t.Errorf("text %q", p.text)
			}
			blocks, err := armor.Find([]byte(p.text))
			if err != nil || len(blocks) != 1 || blocks[0].Body != info.Record {
				t.Errorf("PK.ECDH.1 in the body: %v, %v", blocks, err)
			}
		})

		for _, cb := range clientBodies(t, seedRecord(t, "R2")) {
			t.Run("GetKlfStsEd2/"+cb.name, func(t *testing.T) {
				h.sink.Reset()
				h.clock.Add(time.Second) // a fresh request each time
				tReq := h.clock.Now()
				body := clientBodies(t, h.kmc.request(t, tReq))
				var mine clientBody
				for _, b := range body {
					if b.name == cb.name {
						mine = b
					}
				}
				h.request(klfRequest(mine))
				h.drain()
				checkKLF(t, h, h.one(), tReq)
			})
		}

		t.Run("GetKlfStsEd2/attachment", func(t *testing.T) {
			h.sink.Reset()
			h.clock.Add(time.Second)
			tReq := h.clock.Now()
			file, _ := armor.File(h.kmc.request(t, tReq))
			ct, body := multipart("mixed", plainPart,
				"Content-Type: text/plain; name=vkload.txt\r\nContent-Disposition: attachment; filename=vkload.txt\r\n\r\n"+string(file))
			h.request(reqMail(body, ct, "Subject: {KMS:GetKlfStsEd2}"))
			h.drain()
			checkKLF(t, h, h.one(), tReq)
		})

		// The seed's own request, pasted by Outlook: found intact, handed to
		// the KMC, refused (it names the seed's KMC key, not ours).
		t.Run("GetKlfStsEd2/seed request", func(t *testing.T) {
			h.sink.Reset()
			r2 := seedRecord(t, "R2")
			h.request(klfRequest(clientBodies(t, r2)[1]))
			h.drain()
			p := h.one()
			calls := h.kmc.calls()
			if got := calls[len(calls)-1]; got.Request != r2 || !reflect.DeepEqual(got.ReplyTo, []string{alice}) || len(got.ID) != 24 {
				t.Errorf("KMC got %+v", got)
			}
			if p.result.Kind != gwresult.Failure || p.result.Code != gwresult.EUnknownKmc || !strings.Contains(p.text, "Error: EUnknownKmc") {
				t.Errorf("result %+v", p.result)
			}
		})

		for _, tc := range []struct {
			name  string
			raw   func() string
			code  string
			param string
		}{
			{"not registered reply address", func() string {
				return klfRequest(clientBodies(t, h.kmc.request(t, h.clock.Now()))[0], "Reply-To: mallory@example.net")
			}, gwresult.ENotAuthorisedSender, ""},
			{"stale request", func() string {
				return klfRequest(clientBodies(t, h.kmc.request(t, h.clock.Now().Add(-time.Hour)))[0])
			}, gwresult.EVkloadExpired, ""},
			{"no request", func() string { return reqMail("Please send keys", "Subject: {KMS:GetKlfStsEd2}") },
				gwresult.ERecordFormat, "no STS:VKLOAD.REQ.1 block found"},
			{"unknown service", func() string { return reqMail("", "Subject: {KMS:GetCoffee}") }, gwresult.EUnknownService, "GetCoffee"},
			{"HTML only", func() string { return reqMail("<p>hi</p>", "Content-Type: text/html; charset=utf-8") }, gwresult.ENotPlainText, ""},
			{"update from a stranger", func() string {
				ct, b := multipart("mixed", plainPart, txtAttach)
				return reqMail(b, ct, "Subject: {KMS:SmUpdateStsEd2}")
			}, gwresult.ENotAuthorisedSender, ""},
		} {
			t.Run("error/"+tc.name, func(t *testing.T) {
				h.sink.Reset()
				h.clock.Add(time.Second)
				h.request(tc.raw())
				h.drain()
				p := h.one()
				if p.result.Kind != gwresult.Failure || p.result.Code != tc.code || !strings.Contains(p.text, "Error: "+tc.code) {
					t.Fatalf("result %+v\n%s", p.result, p.text)
				}
				if tc.param != "" && !reflect.DeepEqual(p.result.Params, []string{tc.param}) {
					t.Errorf("params %q, want %q", p.result.Params, tc.param)
				}
				for _, svc := range Services {
					if tc.code == gwresult.EUnknownService && !strings.Contains(p.text, svc.Subject()) {
						t.Errorf("error reply does not list %s:\n%s", svc.Subject(), p.text)
					}
				}
			})
		}

		t.Run("SmUpdateStsEd2", func(t *testing.T) {
			h.sink.Reset()
			ct, b := multipart("mixed", plainPart, txtAttach)
			raw := reqMail(b, ct, "Subject: {KMS:SmUpdateStsEd2} 2025-07", "From: STSA <registry@sts.example.org>")
			h.requestFrom("registry@sts.example.org", raw)
			h.drain()
			p := h.one()
			if p.result.Kind != gwresult.Success || p.result.Text != "registry update req.txt applied: 25 bytes" {
				t.Errorf("result %+v", p.result)
			}
			if u := h.kmc.updates; len(u) != 1 || u[0].Sender != "registry@sts.example.org" || string(u[0].File) != "STS:VKLOAD.REQ.1 BEGINS\r\n" {
				t.Errorf("updates %+v", u)
			}
			h.sink.Reset()
			h.kmc.updateErr = &ServiceError{Code: gwresult.ENotAvailable}
			raw = strings.Replace(raw, "Message-ID: <m1@", "Message-ID: <m2@", 1)
			h.requestFrom("registry@sts.example.org", raw)
			h.drain()
			if p := h.one(); p.result.Code != gwresult.ENotAvailable {
				t.Errorf("result %+v", p.result)
			}
		})
	})
}

// TestIgnoredGetNoReply sends one mail per ignore rule over SMTP, then one
// good request: only the good one is answered, and the queue records why
// each other one was ignored.
func TestIgnoredGetNoReply(t *testing.T) {
	each(t, func(t *testing.T, db *store.DB) {
		h := newHarness(t, db, func(c *Config) { c.MaxMessageBytes = 4096 })
		type m struct {
			from   string
			to     []string
			raw    string
			reason Reason
		}
		ct, body := multipart("mixed", plainPart, txtAttach)
		mails := []m{
			{alice, []string{gwAddr}, reqMail("", "To: bob@example.com", "Cc: "+gwAddr), NotAddressed},
			{alice, []string{gwAddr}, reqMail("", "Auto-Submitted: auto-replied"), AutoSubmitted},
			{alice, []string{gwAddr}, reqMail("", "Subject: RE: {KMS:Help}"), ReplyPrefix},
			{alice, []string{gwAddr}, reqMail("", "Subject: Automatic reply: {KMS:Help}"), ReplyPrefix},
			{alice, []string{gwAddr}, reqMail("", "List-Id: <kms.example.com>"), MailingList},
			{alice, []string{gwAddr}, reqMail("", "Precedence: junk"), BulkPrecedence},
			{alice, []string{gwAddr}, reqMail("", "X-Auto-Response-Suppress: All"), SuppressResponse},
			{"", []string{gwAddr}, reqMail(""), NullSender},
			{"MAILER-DAEMON@mx.example.com", []string{gwAddr}, reqMail("", "From: Mail Delivery System <MAILER-DAEMON@mx.example.com>"), DaemonSender},
			{"kms-request@lists.example.com", []string{gwAddr}, reqMail(""), DaemonSender},
			{gwAddr, []string{gwAddr}, reqMail("", "From: "+gwAddr), OwnMail},
			{alice, []string{gwAddr}, reqMail("", "X-Gateway-Result: Success\tok"), GatewayResult},
			{alice, []string{gwAddr}, reqMail(strings.Repeat("x\r\n", 2000)), TooLarge},
			{alice, []string{gwAddr}, reqMail("", "Subject: Help me"), NoService},
			{alice, []string{gwAddr}, reqMail(body, ct), UnexpectedAttach},
		}
		for _, x := range mails {
			if err := h.send(x.from, x.to, x.raw); err != nil {
				t.Fatalf("send (%s): %v", x.reason, err)
			}
		}
		h.request(reqMail("", "Subject: {KMS:Help} the good one"))
		h.drain()
		if p := h.one(); subjectOf(p) != "Auto: {KMS:Help} the good one" {
			t.Errorf("replied to %q", subjectOf(p))
		}
		q := h.queue()
		if len(q) != len(mails)+1 {
			t.Fatalf("%d queued, want %d", len(q), len(mails)+1)
		}
		for i, x := range mails {
			if q[i].State != StateIgnored || q[i].Reason != string(x.reason) || len(q[i].Replies) != 0 {
				t.Errorf("mail %d: %s %s, %d replies; want ignored %s", i, q[i].State, q[i].Reason, len(q[i].Replies), x.reason)
			}
		}
		if last := q[len(q)-1]; last.State != StateReplied || len(last.Replies) != 1 || last.Replies[0].State != OutSent {
			t.Errorf("good request: %+v", last)
		}
	})
}

// TestSMTPRefusals: the server refuses what is not the gateway's before
// DATA, and what is too big.
func TestSMTPRefusals(t *testing.T) {
	each(t, func(t *testing.T, db *store.DB) {
		h := newHarness(t, db, func(c *Config) { c.MaxMessageBytes, c.MaxAcceptBytes = 1024, 8192 })
		code := func(err error) int {
			var te *textproto.Error
			if errors.As(err, &te) {
				return te.Code
			}
			t.Fatalf("error %v (%T)", err, err)
			return 0
		}
		if err := h.send(alice, []string{"someone@kms.example.com"}, reqMail("")); code(err) != 550 {
			t.Errorf("other recipient: %v", err)
		}
		if err := h.send(alice, []string{gwAddr}, reqMail(strings.Repeat("x\r\n", 5000))); code(err) != 552 {
			t.Errorf("too big: %v", err)
		}
		// Between the two limits: taken, stored as header only, ignored.
		h.requestFrom(alice, reqMail(strings.Repeat("x\r\n", 1000)))
		h.drain()
		q := h.queue()
		if len(q) != 1 || q[0].Reason != string(TooLarge) || len(h.sink.messages()) != 0 {
			t.Fatalf("queue %+v", q)
		}
		var raw []byte
		var size int64
		if err := db.QueryRow(context.Background(), "SELECT raw, size FROM gateway_mail").Scan(&raw, &size); err != nil {
			t.Fatal(err)
		}
		if size < 3000 || len(raw) > 400 || strings.Contains(string(raw), "x\r\n") {
			t.Errorf("stored %d bytes of %d", len(raw), size)
		}
	})
}

// TestStoredBeforeAck: when the client has its 250 the message is in the
// database (a second handle sees it, nothing processed yet); when the
// database fails, the client gets a temporary failure, not a 250.
func TestStoredBeforeAck(t *testing.T) {
	each(t, func(t *testing.T, db *store.DB) {
		h := newHarness(t, db, nil)
		h.request(reqMail(""))
		var state string
		if err := storetest.Reopen(t, db).QueryRow(context.Background(), "SELECT state FROM gateway_mail").Scan(&state); err != nil || state != StateReceived {
			t.Fatalf("state %q, %v", state, err)
		}
		db.Close()
		err := h.send(alice, []string{gwAddr}, reqMail(""))
		var te *textproto.Error
		if !errors.As(err, &te) || te.Code != 451 {
			t.Errorf("with the database down: %v, want 451", err)
		}
	})
}

// TestExactlyOnce crashes the gateway at each point of the processing and
// restarts it: every request is answered, once, and a Key Load File is
// issued once (the KMC's idempotency per request ID).
func TestExactlyOnce(t *testing.T) {
	for _, point := range []string{"claimed", "executed", "sending"} {
		t.Run(point, func(t *testing.T) {
			each(t, func(t *testing.T, db *store.DB) {
				h := newHarness(t, db, nil)
				tReq := h.clock.Now()
				h.request(klfRequest(clientBodies(t, h.kmc.request(t, tReq))[1]))
				h.crashAt(point)
				if _, err := h.gw.ProcessNext(context.Background()); point != "sending" && !errors.Is(err, errCrash) {
					t.Fatalf("ProcessNext: %v", err)
				}
				if point == "sending" {
					if _, err := h.gw.SendNext(context.Background()); !errors.Is(err, errCrash) {
						t.Fatalf("SendNext: %v", err)
					}
				}
				h.restart()
				h.drain()
				if n := len(h.sink.messages()); n != 0 {
					t.Fatalf("%d replies before the lease expired", n)
				}
				h.clock.Add(h.gw.cfg.Lease + time.Second)
				h.drain()
				bodies := checkKLF(t, h, h.one(), tReq)
				if h.kmc.distinct != 1 || !reflect.DeepEqual(h.kmc.issued[h.kmc.calls()[0].ID].Bodies, bodies) {
					t.Errorf("%d Key Load Files made, want 1 (the one sent)", h.kmc.distinct)
				}
				h.clock.Add(time.Hour)
				h.drain()
				if n := len(h.sink.messages()); n != 1 {
					t.Errorf("%d replies in the end", n)
				}
				q := h.queue()
				if len(q) != 1 || q[0].State != StateReplied || len(q[0].Replies) != 1 || q[0].Replies[0].State != OutSent {
					t.Errorf("queue %+v", q)
				}
			})
		})
	}
}

// TestAfterRelayCrash: a crash between the relay's 250 and the record of
// it is the one window SMTP leaves: the reply goes out again, identical
// (same Message-ID), so the recipient can drop the copy.
func TestAfterRelayCrash(t *testing.T) {
	each(t, func(t *testing.T, db *store.DB) {
		h := newHarness(t, db, nil)
		h.request(reqMail(""))
		h.gw.ProcessNext(context.Background())
		h.crashAt("sent")
		if _, err := h.gw.SendNext(context.Background()); !errors.Is(err, errCrash) {
			t.Fatal(err)
		}
		h.restart()
		h.clock.Add(h.gw.cfg.Lease + time.Second)
		h.drain()
		r := h.replies()
		if len(r) != 2 || r[0].header.Get("Message-Id") != r[1].header.Get("Message-Id") {
			t.Fatalf("%d copies", len(r))
		}
	})
}

// TestConcurrentGateways: two gateway processes (own connection pools)
// run on one database; each request is answered exactly once.
func TestConcurrentGateways(t *testing.T) {
	each(t, func(t *testing.T, db *store.DB) {
		h := newHarness(t, db, func(c *Config) { c.Workers = 3; c.PollInterval = 20 * time.Millisecond })
		h2 := h.second()
		const n = 20
		for i := range n {
			to := h.addr
			if i%2 == 1 {
				to = h2.addr
			}
			raw := reqMail("", fmt.Sprintf("Subject: {KMS:Help} %d", i), fmt.Sprintf("Message-ID: <c%d@example.com>", i))
			if err := netsmtpSend(to, raw); err != nil {
				t.Fatal(err)
			}
		}
		ctx, cancel := context.WithCancel(context.Background())
		done := make(chan error, 2)
		go func() { done <- h.gw.Run(ctx) }()
		go func() { done <- h2.gw.Run(ctx) }()
		deadline := time.After(30 * time.Second)
		for msgs, kept := h.sink.Messages(); len(msgs) < n; msgs, kept = h.sink.Messages() {
			select {
			case <-kept:
			case <-deadline:
				t.Fatalf("%d replies after 30 s", len(h.sink.messages()))
			}
		}
		time.Sleep(200 * time.Millisecond) // would a duplicate come?
		cancel()
		<-done
		<-done
		seen := map[string]int{}
		for _, r := range h.replies() {
			seen[subjectOf(r)]++
		}
		for i := range n {
			if s := fmt.Sprintf("Auto: {KMS:Help} %d", i); seen[s] != 1 {
				t.Errorf("%q answered %d times", s, seen[s])
			}
		}
	})
}

func netsmtpSend(addr, raw string) error {
	return (&harness{addr: addr}).send(alice, []string{gwAddr}, raw)
}

// TestRunLoop: with Run, a request is answered without polling delay.
func TestRunLoop(t *testing.T) {
	each(t, func(t *testing.T, db *store.DB) {
		h := newHarness(t, db, func(c *Config) { c.PollInterval = time.Hour; c.Now = nil })
		ctx, cancel := context.WithCancel(context.Background())
		defer cancel()
		done := make(chan error)
		go func() { done <- h.gw.Run(ctx) }()
		time.Sleep(50 * time.Millisecond) // let the workers go idle
		_, kept := h.sink.Messages()
		start := time.Now()
		h.request(reqMail(""))
		select {
		case <-kept:
		case <-time.After(10 * time.Second):
			t.Fatal("no reply")
		}
		if d := time.Since(start); d > 5*time.Second {
			t.Errorf("reply after %v", d)
		}
		cancel()
		if err := <-done; !errors.Is(err, context.Canceled) {
			t.Errorf("Run: %v", err)
		}
	})
}

// TestLMTP: behind Postfix, the gateway speaks LMTP.
func TestLMTP(t *testing.T) {
	each(t, func(t *testing.T, db *store.DB) {
		h := &harness{t: t, db: db, clock: testclock.New(time.Now().UTC().Truncate(time.Second)), sink: newSink(t), opts: ServerOptions{LMTP: true}}
		h.kmc = newFakeKMC(t, h.clock.Now)
		h.cfg = Config{Address: gwAddr, Now: h.clock.Now, Limits: &Limits{}}
		h.start()
		conn, err := netDial(h.addr)
		if err != nil {
			t.Fatal(err)
		}
		c := smtp.NewClientLMTP(conn)
		defer c.Close()
		if err := c.SendMail(alice, []string{gwAddr}, strings.NewReader(reqMail(""))); err != nil {
			t.Fatal(err)
		}
		h.drain()
		if p := h.one(); p.result.Kind != gwresult.Success {
			t.Errorf("result %+v", p.result)
		}
	})
}

// TestLostClaim: a worker that stalls past its lease while another takes
// the mail over and answers it can change nothing when it wakes: one
// reply.
func TestLostClaim(t *testing.T) {
	each(t, func(t *testing.T, db *store.DB) {
		h := newHarness(t, db, nil)
		h.request(reqMail(""))
		slow := h.gw
		h.restart() // the second gateway
		fast := h.gw
		slow.hook = func(p string) error {
			if p == "executed" {
				h.clock.Add(slow.cfg.Lease + time.Second)
				if did, err := fast.ProcessNext(context.Background()); !did || err != nil {
					t.Errorf("takeover: %v, %v", did, err)
				}
			}
			return nil
		}
		if did, err := slow.ProcessNext(context.Background()); !did || err != nil {
			t.Fatalf("slow worker: %v, %v", did, err)
		}
		h.drain()
		if n := len(h.sink.messages()); n != 1 {
			t.Errorf("%d replies", n)
		}
		if q := h.queue(); q[0].Attempts != 2 || len(q[0].Replies) != 1 {
			t.Errorf("queue %+v", q)
		}
	})
}
