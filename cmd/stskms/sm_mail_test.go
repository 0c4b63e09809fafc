package main

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"strings"
	"testing"

	"github.com/emersion/go-imap/v2"
	"github.com/emersion/go-imap/v2/imapserver"
	"github.com/emersion/go-imap/v2/imapserver/imapmemserver"
	"github.com/emersion/go-smtp"
	"github.com/stskms/stskms/gwresult"
	"github.com/stskms/stskms/kmc"
	"github.com/stskms/stskms/loop"
	"github.com/stskms/stskms/sm"
	"github.com/stskms/stskms/smmail"
)

// freeAddr returns a 127.0.0.1 address no one listens on (for the reply
// listener, which the gateway relays to).
func freeAddr(t *testing.T) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := l.Addr().String()
	l.Close()
	return addr
}

// TestSMMailCommands runs "sm mail pubkey" and "sm mail klf" against a real
// test-mode KMC and gateway on 127.0.0.1 (issue 8 §1).
func TestSMMailCommands(t *testing.T) {
	ctx := context.Background()
	work := t.TempDir()
	listen := freeAddr(t)
	st, err := loop.StartKMCAndGateway(ctx, work, listen)
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	dir := initTestSM(t)
	m, err := sm.Open(ctx, dir, sm.Options{})
	if err != nil {
		t.Fatal(err)
	}
	id := m.Identify()
	m.Close()
	const from = "vending@utility.test"
	if err := st.AddSupplyGroup(ctx); err != nil {
		t.Fatal(err)
	}
	if _, err := st.ImportKey(ctx, 1, kmc.VUDK); err != nil {
		t.Fatal(err)
	}
	mail := []string{"--dir", dir, "--gateway", st.Address, "--smtp", st.Submit, "--from", from, "--listen", listen, "--timeout", "20s"}
	cmd := func(args ...string) []string { return append(append([]string{"sm", "mail"}, args...), mail...) }

	// The live KMC is refused before anything is sent.
	_, stderr := mustRunCLI(t, 1, "sm", "mail", "pubkey", "--dir", dir, "--gateway", "STSA_KMC_01@stskms.org.za", "--smtp", st.Submit,
		"--from", from, "--listen", listen, "--fingerprint", st.Fingerprint, "--test-kmc")
	if !strings.Contains(stderr, "live KMC") {
		t.Errorf("live gateway: %s", stderr)
	}
	// A wrong fingerprint: shown, not installed.
	out, stderr := mustRunCLI(t, 1, cmd("pubkey", "--fingerprint", "0123456789ABCDEF", "--test-kmc")...)
	if !strings.Contains(out, st.Fingerprint) || !strings.Contains(stderr, "does not match") {
		t.Errorf("wrong fingerprint: %s %s", out, stderr)
	}
	// Without --test-kmc: not installed.
	_, stderr = mustRunCLI(t, 1, cmd("pubkey", "--fingerprint", st.Fingerprint)...)
	if !strings.Contains(stderr, "--test-kmc") {
		t.Errorf("no --test-kmc: %s", stderr)
	}
	out, _ = mustRunCLI(t, 0, "sm", "slot", "list", "--dir", dir)
	if strings.TrimSpace(out) != "none" {
		t.Fatalf("a slot was installed: %s", out)
	}
	out, stderr = mustRunCLI(t, 0, cmd("pubkey", "--fingerprint", strings.ToLower(st.Fingerprint), "--test-kmc")...)
	if !strings.Contains(out, "slot 1") || !strings.Contains(stderr, "reply: Success") {
		t.Errorf("pubkey: %s %s", out, stderr)
	}

	// Not registered yet: EUnknownSm.
	_, stderr = mustRunCLI(t, 1, cmd("klf", "--slot", "1")...)
	if !strings.Contains(stderr, gwresult.EUnknownSm) || !strings.Contains(stderr, "register") {
		t.Errorf("unregistered: %s", stderr)
	}
	if err := st.Authorise(ctx, id, kmc.Vending, kmc.TypesOf(kmc.VUDK), from); err != nil {
		t.Fatal(err)
	}
	out, stderr = mustRunCLI(t, 0, cmd("klf", "--slot", "1")...)
	if !strings.Contains(out, "new SGC 123456 KRN 1 KT 2") {
		t.Errorf("klf: %s\n%s", out, stderr)
	}
	out, _ = mustRunCLI(t, 0, "sm", "registers", "--dir", dir)
	if !strings.Contains(out, "123456") {
		t.Errorf("registers: %s", out)
	}
	// Again: the same register is reloaded.
	out, _ = mustRunCLI(t, 0, cmd("klf", "--slot", "1")...)
	if !strings.Contains(out, "reloaded (same key) SGC 123456 KRN 1") {
		t.Errorf("klf again: %s", out)
	}
}

// TestMailErrorCode: the command line's error unwraps to the gateway code.
func TestMailErrorCode(t *testing.T) {
	err := mailError(&smmail.Error{Service: smmail.GetKlf, Result: gwresult.Result{Kind: gwresult.Failure, Code: gwresult.ESmRevoked, Text: "revoked"}})
	if !errors.Is(err, smmail.ErrSmRevoked) || smmail.CodeOf(err) != gwresult.ESmRevoked {
		t.Fatalf("%v", err)
	}
	if !strings.Contains(err.Error(), "ESmRevoked") || !strings.Contains(err.Error(), "contact the KMC operator") {
		t.Errorf("%v", err)
	}
}

// imapBridge is the operator's mail server for TestSMMailIMAP: SMTP in (the
// gateway's relay), IMAP out.
type imapBridge struct{ user *imapmemserver.User }

type bridgeSession struct{ b *imapBridge }

func (s *bridgeSession) Reset()                               {}
func (s *bridgeSession) Logout() error                        { return nil }
func (s *bridgeSession) Mail(string, *smtp.MailOptions) error { return nil }
func (s *bridgeSession) Rcpt(string, *smtp.RcptOptions) error { return nil }
func (s *bridgeSession) Data(r io.Reader) error {
	b, err := io.ReadAll(r)
	if err != nil {
		return err
	}
	_, err = s.b.user.Append("INBOX", literal{bytes.NewReader(b), int64(len(b))}, &imap.AppendOptions{})
	return err
}

type literal struct {
	*bytes.Reader
	n int64
}

func (l literal) Size() int64 { return l.n }

// TestSMMailIMAP: "sm mail pubkey" reading the reply from an IMAP mailbox.
func TestSMMailIMAP(t *testing.T) {
	ctx := context.Background()
	mem := imapmemserver.New()
	user := imapmemserver.NewUser("op", "secret")
	if err := user.Create("INBOX", nil); err != nil {
		t.Fatal(err)
	}
	mem.AddUser(user)
	isrv := imapserver.New(&imapserver.Options{
		NewSession: func(*imapserver.Conn) (imapserver.Session, *imapserver.GreetingData, error) {
			return mem.NewSession(), nil, nil
		},
		InsecureAuth: true,
		Caps:         imap.CapSet{imap.CapIMAP4rev1: {}},
	})
	il, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	go isrv.Serve(il) //nolint:errcheck // ends with Close
	defer isrv.Close()
	b := &imapBridge{user: user}
	ssrv := smtp.NewServer(smtp.BackendFunc(func(*smtp.Conn) (smtp.Session, error) { return &bridgeSession{b: b}, nil }))
	ssrv.Domain = "mail.utility.test"
	sl, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	go ssrv.Serve(sl) //nolint:errcheck // ends with Close
	defer ssrv.Close()

	work := t.TempDir()
	st, err := loop.StartKMCAndGateway(ctx, work, sl.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	dir := initTestSM(t)
	t.Setenv("STSKMS_IMAP_PASSWORD", "secret")
	var out, errOut bytes.Buffer
	args := []string{"sm", "mail", "pubkey", "--dir", dir, "--gateway", st.Address, "--smtp", st.Submit, "--from", "op@utility.test",
		"--imap", il.Addr().String(), "--imap-user", "op", "--timeout", "20s", "--fingerprint", st.Fingerprint, "--test-kmc"}
	if code := run(args, strings.NewReader(""), &out, &errOut); code != 0 {
		t.Fatalf("exit %d\n%s%s", code, out.String(), errOut.String())
	}
	if !strings.Contains(out.String(), st.Fingerprint) || !strings.Contains(out.String(), "slot 1") {
		t.Errorf("%s", out.String())
	}
}

// TestMailErrorCertificate: a certificate failure is explained with the
// flags of its protocol and unwraps to the *smmail.CertificateError.
func TestMailErrorCertificate(t *testing.T) {
	for _, proto := range []string{"SMTP", "IMAP"} {
		ce := &smmail.CertificateError{Proto: proto, Server: "192.0.2.1:25", ServerName: "192.0.2.1", Err: errors.New("x509: not for 192.0.2.1")}
		err := mailError(fmt.Errorf("smmail: submit: %w", ce))
		flag := "--" + strings.ToLower(proto)
		if !errors.As(err, &ce) || !strings.Contains(err.Error(), flag+"-server-name") || !strings.Contains(err.Error(), flag+"-ca") ||
			!strings.Contains(err.Error(), `server name "192.0.2.1"`) {
			t.Errorf("%s: %v", proto, err)
		}
	}
}
