package postfixtest

import (
	"crypto/tls"
	"net/smtp"
	"strings"
	"testing"

	"github.com/stskms/stskms/internal/testcert"
)

// TestConfig: the configuration names the instance's own directories, and
// offers STARTTLS only with a certificate.
func TestConfig(t *testing.T) {
	plain := mainCF("/tmp/pf", Config{Listen: "127.0.0.1:2525", NextHop: "127.0.0.1:2526", LMTP: map[string]string{"kmc@kms.test": "127.0.0.1:2424"}})
	for _, want := range []string{"queue_directory = /tmp/pf/spool", "relayhost = [127.0.0.1]:2526",
		"transport_maps = inline:{ kmc@kms.test=lmtp:inet:127.0.0.1:2424 }", "smtpd_tls_security_level = none", "helo"} {
		if !strings.Contains(plain, want) {
			t.Errorf("main.cf lacks %q:\n%s", want, plain)
		}
	}
	cert, _ := testcert.SelfSigned(t, Hostname)
	if cf := mainCF("/tmp/pf", Config{Cert: &cert}); !strings.Contains(cf, "smtpd_tls_security_level = may") || strings.Contains(cf, "relayhost") {
		t.Errorf("main.cf with a certificate:\n%s", cf)
	}
	if m := masterCF("127.0.0.1:2525"); !strings.HasPrefix(m, "127.0.0.1:2525 inet") || !strings.Contains(m, "tlsmgr unix") {
		t.Errorf("master.cf:\n%s", m)
	}
}

// TestStart: an instance greets as Hostname and offers STARTTLS with the
// certificate it was given, verified for Hostname under its CA. Needs
// Postfix and root.
func TestStart(t *testing.T) {
	postfix := Require(t)
	ca := testcert.NewCA(t)
	cert := ca.Issue(t, Hostname)
	addr := FreeAddr(t)
	p := Start(t, postfix, Config{Listen: addr, Cert: &cert})
	c, err := smtp.Dial(addr)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if err := c.Hello("client.kms.test"); err != nil {
		t.Fatal(err)
	}
	if err := c.StartTLS(&tls.Config{ServerName: Hostname, RootCAs: ca.Pool()}); err != nil {
		t.Fatal(err)
	}
	if err := c.Quit(); err != nil {
		t.Fatal(err)
	}
	p.WaitLog(t, func(l string) bool {
		return strings.Contains(l, "disconnect from") && strings.Contains(l, "starttls=1") && strings.Contains(l, "quit=1")
	})
}
