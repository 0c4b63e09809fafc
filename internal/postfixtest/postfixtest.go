// Package postfixtest runs a private Postfix instance for tests: its own
// configuration, queue and log in a temporary directory, SMTP on a
// loopback port, mail from loopback relayed for the test's domains,
// started by the test and stopped at its end. The machine's own Postfix
// configuration is neither read nor changed. Postfix's master must start
// as root; a test without Postfix or root is skipped, except under CI
// (CI=true), where it fails.
package postfixtest

import (
	"crypto/tls"
	"errors"
	"fmt"
	"net"
	"net/textproto"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/stskms/stskms/internal/testcert"
)

// Hostname is the instance's name (myhostname): its greeting, its
// Received headers, the name its STARTTLS certificate should carry.
const Hostname = "mx.kms.test"

// Config is what an instance does.
type Config struct {
	// Listen is its SMTP address, 127.0.0.1:PORT (FreeAddr gives one).
	Listen string
	// LMTP delivers each of these recipient addresses over LMTP to the
	// server at HOST:PORT.
	LMTP map[string]string
	// NextHop is the HOST:PORT everything else for the relay domains
	// (kms.test) and every other domain is relayed to; "" keeps it queued.
	NextHop string
	// Cert, when set, is offered with STARTTLS (not required); the
	// instance logs each TLS session.
	Cert *tls.Certificate
}

// Postfix is a running instance. Its log has, besides Postfix's usual
// lines, one "warn: RCPT from … helo=<NAME>" line per recipient, naming
// the client's HELO name.
type Postfix struct {
	// Dir holds its configuration (etc), queue (spool) and log (maillog).
	Dir string
}

// Require returns the postfix command, or skips tb (fails it under
// CI=true) when Postfix or root is missing.
func Require(tb testing.TB) string {
	tb.Helper()
	postfix, err := exec.LookPath("postfix")
	if err == nil {
		_, err = user.Lookup("postfix")
	}
	if err == nil && os.Geteuid() != 0 {
		err = errors.New("not root: Postfix's master must start as root")
	}
	if err != nil {
		if os.Getenv("CI") == "true" {
			tb.Fatalf("Postfix: %v (.ci/run installs it and runs as root)", err)
		}
		tb.Skipf("Postfix: %v", err)
	}
	return postfix
}

// FreeAddr returns a 127.0.0.1 address no one listens on.
func FreeAddr(tb testing.TB) string {
	tb.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		tb.Fatal(err)
	}
	defer l.Close()
	return l.Addr().String()
}

// Start starts an instance with the postfix command (from Require) and
// returns once it listens; it is stopped when tb ends. Its directory lives
// outside tb.TempDir, whose 0700 parents the postfix user could not enter.
func Start(tb testing.TB, postfix string, cfg Config) *Postfix {
	tb.Helper()
	dir, err := os.MkdirTemp("", "stskms-postfix-")
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { os.RemoveAll(dir) })
	p := &Postfix{Dir: dir}
	pf, err := user.Lookup("postfix")
	if err != nil {
		tb.Fatal(err)
	}
	uid, _ := strconv.Atoi(pf.Uid)
	for _, d := range []string{"etc", "spool", "data"} {
		if err := os.MkdirAll(filepath.Join(dir, d), 0o755); err != nil {
			tb.Fatal(err)
		}
	}
	if err := os.Chmod(dir, 0o755); err != nil {
		tb.Fatal(err)
	}
	if err := os.Chown(filepath.Join(dir, "data"), uid, -1); err != nil {
		tb.Fatal(err)
	}
	files := map[string]string{"main.cf": mainCF(dir, cfg), "master.cf": masterCF(cfg.Listen)}
	if cfg.Cert != nil {
		chain, key := testcert.PEMFiles(tb, *cfg.Cert)
		files["cert.pem"], files["key.pem"] = string(chain), string(key)
	}
	for name, text := range files {
		mode := os.FileMode(0o644)
		if name == "key.pem" {
			mode = 0o600
		}
		if err := os.WriteFile(filepath.Join(dir, "etc", name), []byte(text), mode); err != nil {
			tb.Fatal(err)
		}
	}
	conf := filepath.Join(dir, "etc")
	if out, err := exec.Command(postfix, "-c", conf, "start").CombinedOutput(); err != nil {
		tb.Fatalf("postfix start: %v\n%s\n%s", err, out, p.Log())
	}
	tb.Cleanup(func() { exec.Command(postfix, "-c", conf, "stop").Run() })
	// Postfix answers once its master has bound the port.
	for range 100 {
		if greets(cfg.Listen) {
			return p
		}
		time.Sleep(50 * time.Millisecond)
	}
	tb.Fatalf("Postfix does not listen on %s\n%s", cfg.Listen, p.Log())
	return nil
}

// greets reports whether an SMTP server at addr greets; the session ends
// with QUIT, as a well-behaved probe's does.
func greets(addr string) bool {
	conn, err := net.DialTimeout("tcp", addr, 5*time.Second)
	if err != nil {
		return false
	}
	conn.SetDeadline(time.Now().Add(5 * time.Second))
	c := textproto.NewConn(conn)
	defer c.Close()
	if _, _, err := c.ReadResponse(220); err != nil {
		return false
	}
	if _, err := c.Cmd("QUIT"); err != nil {
		return false
	}
	_, _, err = c.ReadResponse(221)
	return err == nil
}

// Log returns the instance's log so far.
func (p *Postfix) Log() string {
	b, _ := os.ReadFile(filepath.Join(p.Dir, "maillog"))
	return string(b)
}

// WaitLog waits until the log has a line for which match is true, and
// returns it; it fails tb after 30 s (Postfix writes its log through
// postlogd, a little after the event).
func (p *Postfix) WaitLog(tb testing.TB, match func(line string) bool) string {
	tb.Helper()
	for deadline := time.Now().Add(30 * time.Second); time.Now().Before(deadline); time.Sleep(20 * time.Millisecond) {
		for _, l := range strings.Split(p.Log(), "\n") {
			if match(l) {
				return l
			}
		}
	}
	tb.Fatalf("no such line in the Postfix log:\n%s", p.Log())
	return ""
}

func mainCF(dir string, cfg Config) string {
	s := fmt.Sprintf(`compatibility_level = 3.6
queue_directory = %[1]s/spool
data_directory = %[1]s/data
maillog_file = %[1]s/maillog
maillog_file_prefixes = %[1]s
mail_owner = postfix
setgid_group = postdrop
myhostname = %[2]s
mydomain = kms.test
myorigin = kms.test
mydestination =
inet_interfaces = 127.0.0.1
inet_protocols = ipv4
mynetworks = 127.0.0.0/8
smtpd_relay_restrictions = permit_mynetworks, reject
smtpd_helo_restrictions = check_helo_access static:WARN
relay_domains = kms.test
smtp_tls_security_level = none
lmtp_tls_security_level = none
local_recipient_maps =
alias_maps =
alias_database =
`, dir, Hostname)
	if len(cfg.LMTP) > 0 {
		var m []string
		for addr, lmtp := range cfg.LMTP {
			m = append(m, addr+"=lmtp:inet:"+lmtp)
		}
		s += "transport_maps = inline:{ " + strings.Join(m, ", ") + " }\n"
	}
	if cfg.NextHop != "" {
		host, port, _ := net.SplitHostPort(cfg.NextHop)
		s += "relayhost = [" + host + "]:" + port + "\n"
	}
	if cfg.Cert != nil {
		s += fmt.Sprintf("smtpd_tls_security_level = may\nsmtpd_tls_chain_files = %[1]s/etc/key.pem, %[1]s/etc/cert.pem\nsmtpd_tls_loglevel = 1\n", dir)
	} else {
		s += "smtpd_tls_security_level = none\n"
	}
	return s
}

// masterCF is the services: smtpd on listen, and the daemons it needs.
func masterCF(listen string) string {
	services := "pickup:n:60:1:pickup cleanup:n:-:0:cleanup qmgr:n:300:1:qmgr rewrite:-:-:-:trivial-rewrite " +
		"bounce:-:-:0:bounce defer:-:-:0:bounce trace:-:-:0:bounce verify:-:-:1:verify flush:n:1000?:0:flush " +
		"proxymap:-:-:-:proxymap smtp:-:-:-:smtp relay:-:-:-:smtp showq:n:-:-:showq error:-:-:-:error " +
		"retry:-:-:-:error discard:-:-:-:discard lmtp:-:-:-:lmtp anvil:-:-:1:anvil scache:-:-:1:scache " +
		"tlsmgr:-:1000?:1:tlsmgr"
	s := listen + " inet n - n - - smtpd\n"
	for _, svc := range strings.Fields(services) {
		f := strings.Split(svc, ":")
		s += fmt.Sprintf("%s unix %s - n %s %s %s\n", f[0], f[1], f[2], f[3], f[4])
	}
	return s + "postlog unix-dgram n - n - 1 postlogd\n"
}
