package loop_test

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/emersion/go-smtp"
	"github.com/stskms/stskms/gateway"
	"github.com/stskms/stskms/internal/postfixtest"
	"github.com/stskms/stskms/loop"
)

// TestBehindPostfix runs the gateway as README's "Behind Postfix" section
// describes: a real Postfix (a private instance, started by the test) owns
// the SMTP port and delivers the gateway's address to the gateway over
// LMTP; the gateway relays its replies back through Postfix, which hands
// them to the next hop (here a sink standing for the Internet). Requests
// of two services travel the whole way and come back answered. Needs
// Postfix and root (Postfix's master runs as root); skipped without them
// unless CI=true.
func TestBehindPostfix(t *testing.T) {
	postfix := postfixtest.Require(t)
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	internet := newRelaySink(t)
	pfAddr := postfixtest.FreeAddr(t)
	st, err := loop.StartKMCAndGatewayServer(ctx, t.TempDir(), pfAddr, gateway.Config{}, gateway.ServerOptions{LMTP: true})
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	pf := postfixtest.Start(t, postfix, postfixtest.Config{Listen: pfAddr, LMTP: map[string]string{loop.GatewayAddress: st.Submit},
		NextHop: internet.Addr})

	for _, svc := range []struct{ subject, want string }{
		{"{KMS:Help}", "Success"},
		{"{KMS:GetPublicKey}", "Success"},
	} {
		id := fmt.Sprintf("<postfix-%d@utility.test>", time.Now().UnixNano())
		msg := "From: ops@utility.test\r\nTo: " + loop.GatewayAddress + "\r\nSubject: " + svc.subject +
			"\r\nMessage-ID: " + id + "\r\nDate: " + time.Now().Format(time.RFC1123Z) + "\r\n\r\nPlease.\r\n"
		if err := sendPlain(pfAddr, "ops@utility.test", loop.GatewayAddress, msg); err != nil {
			t.Fatalf("%s to Postfix: %v", svc.subject, err)
		}
		r := internet.wait(ctx, t, func(m relayMsg) bool { return m.inReplyTo == id && m.reply != nil && m.reply.Final() })
		if got := r.reply.Result.Header(); !strings.HasPrefix(got, svc.want) {
			t.Errorf("%s: X-Gateway-Result %q", svc.subject, got)
		}
		// The reply left through Postfix: its Received header names it.
		if !strings.Contains(string(r.raw), "by "+postfixtest.Hostname+" (Postfix)") {
			t.Errorf("%s: the reply did not pass Postfix:\n%s", svc.subject, r.raw)
		}
	}
	if t.Failed() {
		t.Logf("Postfix log:\n%s", pf.Log())
	}
}

// sendPlain submits one message over plain SMTP on loopback.
func sendPlain(addr, from, to, msg string) error {
	c, err := smtp.Dial(addr)
	if err != nil {
		return err
	}
	defer c.Close()
	if err := c.Hello("utility.test"); err != nil {
		return err
	}
	if err := c.SendMail(from, []string{to}, strings.NewReader(msg)); err != nil {
		return err
	}
	return c.Quit()
}
