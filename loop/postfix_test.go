package loop_test

import (
	"context"
	"fmt"
	"net"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/emersion/go-smtp"
	"github.com/stskms/stskms/gateway"
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
	postfix := requirePostfix(t)
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	internet := newRelaySink(t)
	pfAddr := freeLoopbackAddr(t)
	st, err := loop.StartKMCAndGatewayServer(ctx, t.TempDir(), pfAddr, gateway.Config{}, gateway.ServerOptions{LMTP: true})
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	startPostfix(t, postfix, pfAddr, st.Submit, internet.addr)

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
		if !strings.Contains(string(r.raw), "by mx.kms.test (Postfix)") {
			t.Errorf("%s: the reply did not pass Postfix:\n%s", svc.subject, r.raw)
		}
	}
	if t.Failed() {
		log, _ := os.ReadFile(filepath.Join(pfDir(t), "maillog"))
		t.Logf("Postfix log:\n%s", log)
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

// requirePostfix returns the postfix command, or skips (fails under CI)
// when Postfix or root is missing.
func requirePostfix(t *testing.T) string {
	t.Helper()
	postfix, err := exec.LookPath("postfix")
	if err == nil {
		_, err = user.Lookup("postfix")
	}
	if err == nil && os.Geteuid() != 0 {
		err = fmt.Errorf("Postfix's master must start as root")
	}
	if err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatalf("Postfix: %v (.ci/run installs it and runs as root)", err)
		}
		t.Skipf("Postfix: %v", err)
	}
	return postfix
}

func freeLoopbackAddr(t *testing.T) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().String()
}

// pfDirs remembers each test's Postfix directory (for its log).
var pfDirs = map[string]string{}

func pfDir(t *testing.T) string { return pfDirs[t.Name()] }

// startPostfix starts a private Postfix instance: SMTP on listen (mail
// from loopback only), the gateway's address delivered over LMTP to lmtp,
// everything else relayed to nextHop. It is stopped at the end of the
// test. Its directories live outside t.TempDir, whose 0700 parents the
// postfix user could not enter.
func startPostfix(t *testing.T, postfix, listen, lmtp, nextHop string) {
	t.Helper()
	dir, err := os.MkdirTemp("", "stskms-postfix-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	pfDirs[t.Name()] = dir
	pf, err := user.Lookup("postfix")
	if err != nil {
		t.Fatal(err)
	}
	uid, _ := strconv.Atoi(pf.Uid)
	for _, d := range []string{"etc", "spool", "data"} {
		if err := os.MkdirAll(filepath.Join(dir, d), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	if err := os.Chmod(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.Chown(filepath.Join(dir, "data"), uid, -1); err != nil {
		t.Fatal(err)
	}
	mainCF := fmt.Sprintf(`compatibility_level = 3.6
queue_directory = %[1]s/spool
data_directory = %[1]s/data
maillog_file = %[1]s/maillog
maillog_file_prefixes = %[1]s
mail_owner = postfix
setgid_group = postdrop
myhostname = mx.kms.test
mydomain = kms.test
myorigin = kms.test
mydestination =
inet_interfaces = 127.0.0.1
inet_protocols = ipv4
mynetworks = 127.0.0.0/8
smtpd_relay_restrictions = permit_mynetworks, reject
relay_domains = kms.test
transport_maps = inline:{ %[2]s=lmtp:inet:%[3]s }
relayhost = [%[4]s]:%[5]s
smtp_tls_security_level = none
smtpd_tls_security_level = none
lmtp_tls_security_level = none
local_recipient_maps =
alias_maps =
alias_database =
`, dir, loop.GatewayAddress, lmtp, hostOf(t, nextHop), portOf(t, nextHop))
	services := "pickup:n:60:1:pickup cleanup:n:-:0:cleanup qmgr:n:300:1:qmgr rewrite:-:-:-:trivial-rewrite " +
		"bounce:-:-:0:bounce defer:-:-:0:bounce trace:-:-:0:bounce verify:-:-:1:verify flush:n:1000?:0:flush " +
		"proxymap:-:-:-:proxymap smtp:-:-:-:smtp relay:-:-:-:smtp showq:n:-:-:showq error:-:-:-:error " +
		"retry:-:-:-:error discard:-:-:-:discard lmtp:-:-:-:lmtp anvil:-:-:1:anvil scache:-:-:1:scache"
	masterCF := listen + " inet n - n - - smtpd\n"
	for _, s := range strings.Fields(services) {
		f := strings.Split(s, ":")
		masterCF += fmt.Sprintf("%s unix %s - n %s %s %s\n", f[0], f[1], f[2], f[3], f[4])
	}
	masterCF += "postlog unix-dgram n - n - 1 postlogd\n"
	for name, text := range map[string]string{"main.cf": mainCF, "master.cf": masterCF} {
		if err := os.WriteFile(filepath.Join(dir, "etc", name), []byte(text), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	conf := filepath.Join(dir, "etc")
	if out, err := exec.Command(postfix, "-c", conf, "start").CombinedOutput(); err != nil {
		log, _ := os.ReadFile(filepath.Join(dir, "maillog"))
		t.Fatalf("postfix start: %v\n%s\n%s", err, out, log)
	}
	t.Cleanup(func() { exec.Command(postfix, "-c", conf, "stop").Run() })
	// Postfix answers once its master has bound the port.
	for range 100 {
		if c, err := net.Dial("tcp", listen); err == nil {
			c.Close()
			return
		}
		time.Sleep(50 * time.Millisecond)
	}
	t.Fatalf("Postfix does not listen on %s", listen)
}

func hostOf(t *testing.T, addr string) string {
	h, _, err := net.SplitHostPort(addr)
	if err != nil {
		t.Fatal(err)
	}
	return h
}

func portOf(t *testing.T, addr string) string {
	_, p, err := net.SplitHostPort(addr)
	if err != nil {
		t.Fatal(err)
	}
	return p
}
