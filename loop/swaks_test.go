package loop_test

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/stskms/stskms/gateway"
	"github.com/stskms/stskms/gwresult"
	"github.com/stskms/stskms/internal/stsatest"
	"github.com/stskms/stskms/loop"
	"github.com/stskms/stskms/sm"
	"github.com/stskms/stskms/smmail"
)

// stsaSender is the STS Association address configured in TestSwaks.
const stsaSender = "registry@sts.test"

// swaksMail is one request sent with swaks.
type swaksMail struct {
	name, from, subject, body string
	attach                    string // a file to attach as text/plain
	want                      string // the reply's X-Gateway-Result kind and code
}

// TestSwaks sends a request of each of the four services with swaks, the
// SMTP test tool of .ci/run, to a real KMC and gateway on 127.0.0.1, and
// checks the reply at a real SMTP relay: {KMS:Help}, {KMS:GetPublicKey}
// and {KMS:GetKlfStsEd2} (a VKLOAD.REQ.1 of a registered module, pasted as
// is and as Outlook shows it, STS 600-9-2 §7.1.2) succeed;
// {KMS:SmUpdateStsEd2} with a signed registry update attached is refused to
// anyone but the STS Association (ENotAuthorisedSender) and applied when it
// sends it. Skipped without swaks, unless CI=true.
func TestSwaks(t *testing.T) {
	swaks, err := exec.LookPath("swaks")
	if err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatal("swaks is not installed (.ci/run installs it)")
		}
		t.Skip("swaks is not installed")
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	dir := t.TempDir()
	sink := newRelaySink(t)
	st, record := startKeyed(ctx, t, dir, sink.Addr, gateway.Config{STSASenders: []string{stsaSender}})
	defer st.Close()
	m, from := newModule(ctx, t, st, filepath.Join(dir, "sm"), record, 0)
	update := signedUpdate(ctx, t, st, filepath.Join(dir, "update.txt"))
	mails := []swaksMail{
		{name: "help", from: "someone@utility.test", subject: "{KMS:Help}", body: "Please help.", want: "Success"},
		{name: "public-key", from: "someone@utility.test", subject: "{KMS:GetPublicKey}", body: "The key, please.", want: "Success"},
		{name: "klf", from: from, subject: "{KMS:GetKlfStsEd2}", body: vkloadBlock(ctx, t, m, false), want: "Success"},
		{name: "klf-outlook", from: from, subject: "{KMS:GetKlfStsEd2}", body: vkloadBlock(ctx, t, m, true), want: "Success"},
		{name: "update-stranger", from: "someone@utility.test", subject: "{KMS:SmUpdateStsEd2}", body: "Update attached.",
			attach: update, want: "Error\t" + gwresult.ENotAuthorisedSender},
		{name: "update-stsa", from: stsaSender, subject: "{KMS:SmUpdateStsEd2}", body: "Update attached.",
			attach: update, want: "Success\tregistry update 1 "},
	}
	for _, ml := range mails {
		t.Run(ml.name, func(t *testing.T) {
			tag := "swaks-" + ml.name
			args := []string{"--server", st.Submit, "--to", loop.GatewayAddress, "--from", ml.from, "--helo", "utility.test",
				"--header", "Subject: " + ml.subject + " " + tag, "--header", "Message-Id: <" + tag + "@utility.test>",
				"--body", ml.body, "--suppress-data", "--timeout", "20"}
			if ml.attach != "" {
				args = append(args, "--attach-type", "text/plain", "--attach-name", "update.txt", "--attach", "@"+ml.attach)
			}
			cmdCtx, stop := context.WithTimeout(ctx, 30*time.Second)
			defer stop()
			if out, err := exec.CommandContext(cmdCtx, swaks, args...).CombinedOutput(); err != nil {
				t.Fatalf("swaks: %v\n%s", err, out[:min(len(out), 4096)])
			}
			r := sink.wait(ctx, t, func(m relayMsg) bool {
				return m.inReplyTo == "<"+tag+"@utility.test>" && m.reply != nil && m.reply.Final()
			})
			if got := r.reply.Result.Header(); !strings.HasPrefix(got, ml.want) {
				t.Fatalf("X-Gateway-Result: %q, want %q…\n%s", got, ml.want, r.raw)
			}
			checkSwaksReply(t, ml, r.reply, st.Fingerprint)
		})
	}
}

// signedUpdate configures an STS Association key at the KMC and writes to
// path a registry update signed with it, adding one hardware module.
func signedUpdate(ctx context.Context, t *testing.T, st *loop.Stack, path string) string {
	t.Helper()
	if _, err := st.KMC.AddSTSAKey(ctx, "officer:test", &stsatest.Key(t).PublicKey); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, stsatest.Update(t), 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

// checkSwaksReply checks what a successful reply carries.
func checkSwaksReply(t *testing.T, ml swaksMail, r *smmail.Reply, fingerprint string) {
	t.Helper()
	switch {
	case ml.want != "Success":
	case ml.subject == "{KMS:Help}" && !strings.Contains(r.Text, "{KMS:GetKlfStsEd2}"):
		t.Errorf("help text without the services:\n%s", r.Text)
	case ml.subject == "{KMS:GetPublicKey}" && r.Fingerprint() != fingerprint:
		t.Errorf("fingerprint %q, want %q", r.Fingerprint(), fingerprint)
	case ml.subject == "{KMS:SmUpdateStsEd2}" && !strings.Contains(r.Result.Text, "1 modules, 1 added"):
		t.Errorf("registry update summary %q", r.Result.Text)
	case ml.subject == "{KMS:GetKlfStsEd2}":
		if _, bodies, err := r.KLF(); err != nil || len(bodies) < 3 {
			t.Errorf("Key Load File: %d records, %v", len(bodies), err)
		}
	}
}

// vkloadBlock returns a fresh VKLOAD.REQ.1 of m in Record-in-Email form,
// with text around it; outlook puts spaces around every "|" of the
// record's lines, as Outlook shows it (STS 600-9-2 §7.1.2).
func vkloadBlock(ctx context.Context, t *testing.T, m *sm.Module, outlook bool) string {
	t.Helper()
	block := requestBlock(ctx, t, m)
	lines := strings.Split(strings.TrimRight(strings.ReplaceAll(block, "\r\n", "\n"), "\n"), "\n")
	for i, l := range lines {
		if outlook && !strings.HasPrefix(l, "STS:") {
			lines[i] = strings.ReplaceAll(l, "|", " | ")
		}
	}
	return "Please send the Key Load File.\n\n" + strings.Join(lines, "\n") + "\n\nRegards,\nUser\n"
}
