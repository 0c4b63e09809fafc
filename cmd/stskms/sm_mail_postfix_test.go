package main

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stskms/stskms/gateway"
	"github.com/stskms/stskms/internal/postfixtest"
	"github.com/stskms/stskms/internal/testcert"
	"github.com/stskms/stskms/loop"
)

// TestSMMailStockPostfix: "sm mail pubkey" submits through a real Postfix
// addressed by IP (127.0.0.1) whose STARTTLS certificate names its host
// (mx.kms.test, issued by a CA): with --smtp-server-name and --smtp-ca
// (the name given through the environment, as the configuration
// mechanism allows) the request reaches the gateway behind Postfix and the
// key comes back; Postfix saw EHLO with --hostname and QUIT. Without the
// name the command fails at once — no retry — naming the server name and
// the flags that help. Needs Postfix and root; skipped without them unless
// CI=true.
func TestSMMailStockPostfix(t *testing.T) {
	postfix := postfixtest.Require(t)
	ctx := context.Background()
	work := t.TempDir()
	listen, pfAddr := freeAddr(t), freeAddr(t)
	st, err := loop.StartKMCAndGatewayServer(ctx, work, listen, gateway.Config{}, gateway.ServerOptions{LMTP: true})
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	ca := testcert.NewCA(t)
	cert := ca.Issue(t, postfixtest.Hostname)
	pf := postfixtest.Start(t, postfix, postfixtest.Config{Listen: pfAddr, LMTP: map[string]string{st.Address: st.Submit}, Cert: &cert})
	defer func() {
		if t.Failed() {
			t.Logf("Postfix log:\n%s", pf.Log())
		}
	}()
	caFile := filepath.Join(work, "ca.pem")
	if err := os.WriteFile(caFile, ca.PEM(), 0o644); err != nil {
		t.Fatal(err)
	}
	dir := initTestSM(t)
	pubkey := []string{"sm", "mail", "pubkey", "--dir", dir, "--gateway", st.Address, "--smtp", pfAddr, "--from", "op@utility.test",
		"--listen", listen, "--timeout", "30s", "--retries", "3", "--retry-gap", "10ms", "--fingerprint", st.Fingerprint, "--test-kmc"}

	// No server name: the certificate names mx.kms.test, not 127.0.0.1.
	_, stderr := mustRunCLI(t, 1, append(pubkey, "--smtp-ca", caFile)...)
	for _, want := range []string{`server name "127.0.0.1"`, "--smtp-server-name", "--smtp-ca"} {
		if !strings.Contains(stderr, want) {
			t.Errorf("without the server name: %q missing:\n%s", want, stderr)
		}
	}
	if strings.Contains(stderr, "trying again") {
		t.Errorf("a certificate failure was retried:\n%s", stderr)
	}
	t.Logf("without the server name:\n%s", stderr)
	pf.WaitLog(t, func(l string) bool {
		return strings.Contains(l, "disconnect from") && strings.Contains(l, "starttls=0/1")
	})

	t.Setenv("STSKMS_SM_MAIL_SMTP_SERVER_NAME", postfixtest.Hostname)
	out, stderr := mustRunCLI(t, 0, append(pubkey, "--smtp-ca", caFile, "--hostname", "client.utility.test")...)
	if !strings.Contains(out, st.Fingerprint) || !strings.Contains(out, "slot 1") || strings.Contains(stderr, "trying again") {
		t.Errorf("with the server name and CA:\n%s%s", out, stderr)
	}
	// One session: EHLO before and after STARTTLS, the mail, QUIT.
	pf.WaitLog(t, func(l string) bool {
		return strings.Contains(l, "disconnect from") && strings.Contains(l, "ehlo=2 starttls=1 mail=1 rcpt=1 data=1 quit=1")
	})
	pf.WaitLog(t, func(l string) bool { return strings.Contains(l, "helo=<client.utility.test>") })
	pf.WaitLog(t, func(l string) bool {
		return strings.Contains(l, "message-id=<smmail-") && strings.Contains(l, "@client.utility.test>")
	})
	if strings.Contains(pf.Log(), "helo=<localhost>") {
		t.Error("EHLO localhost")
	}
}
