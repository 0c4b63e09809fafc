package sts6_test

import (
	"bufio"
	"crypto/tls"
	"crypto/x509"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stskms/stskms/internal/httpapi/httpapitest"
	"github.com/stskms/stskms/sm"
	"github.com/stskms/stskms/sm/api/sts6"
	"github.com/stskms/stskms/store"
	"github.com/stskms/stskms/store/storetest"
)

// TestClientCertificates: the TLS port refuses a client without a
// certificate, with one of another CA, and with one of its CA that the
// client file does not name; a known one gets its role.
func TestClientCertificates(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		e := newEnv(t, db, sm.Actor{})
		roots := x509.NewCertPool()
		roots.AddCert(e.pki.CA)
		other := httpapitest.NewPKI(t)
		for _, c := range []struct {
			name  string
			certs []tls.Certificate
			want  string // the refusal frame's text, "" for a failed handshake
		}{
			{"no certificate", nil, ""},
			{"another CA", []tls.Certificate{other.Cert("pos-1", false)}, ""},
			{"unknown", []tls.Certificate{e.certs["mallory"]}, "client certificate not known to this module"},
		} {
			conn, err := tls.Dial("tcp", e.tlsAt, &tls.Config{RootCAs: roots, Certificates: c.certs, MinVersion: tls.VersionTLS12})
			if err != nil {
				if c.want != "" {
					t.Errorf("%s: %v", c.name, err)
				}
				continue // refused in the handshake
			}
			q, _ := sts6.Frame{Cmd: "DI"}.Encode()
			conn.Write(q)
			line, err := bufio.NewReader(conn).ReadBytes('\r')
			conn.Close()
			if c.want == "" {
				if err == nil {
					t.Errorf("%s: answered %q", c.name, line)
				}
				continue
			}
			f, perr := sts6.Parse(line)
			if err != nil || perr != nil || f.Prefix != "GL" || f.Status != sm.CodeExtended || len(f.Fields) != 1 || f.Fields[0].Value != c.want {
				t.Errorf("%s: answered %q, %v", c.name, line, err)
			}
		}
		// A known certificate: its role, and the next frame is served.
		f := e.dial("pos-1").askFrame(sts6.Frame{Cmd: "CQ"})
		if f.Status != sm.CodeOK || len(f.Fields) != 1 || f.Fields[0].Value != "0" {
			t.Fatalf("SM?CQ of the operator = %+v", f)
		}
	})
}

// TestPlainRole: a plain loopback connection has the configured role.
func TestPlainRole(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		e := newEnv(t, db, sm.Auditor.As("loopback"))
		c := e.dial("")
		if f := c.askFrame(sts6.Frame{Cmd: "CQ"}); f.Status != sm.CodeOK {
			t.Fatalf("SM?CQ of the configured auditor = %+v", f)
		}
		if f := c.askFrame(sts6.Frame{Cmd: "KX", Fields: []sts6.Field{sts6.Num(1)}}); f.Status != sm.CodeExtended ||
			!strings.Contains(f.Fields[0].Value, "auditor may not call SM?KX") {
			t.Fatalf("SM?KX of the auditor = %+v", f)
		}
	})
}

// TestErrorState: once a self-test fails, every command but SM?DI is
// refused with the reason, and SM?DI says EE and why.
func TestErrorState(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		e := newEnv(t, db, sm.Actor{})
		k := newKMC(t)
		officer := sm.Officer.As("setup")
		if _, err := e.m.InstallSlot(e.ctx, officer, sm.InstallRequest{Record: k.record, Fingerprint: fpOf(k), TestKMC: true}); err != nil {
			t.Fatal(err)
		}
		c := e.dial("pos-1")
		if f := c.askFrame(sts6.Frame{Cmd: "CQ"}); f.Status != sm.CodeOK {
			t.Fatalf("before: %+v", f)
		}
		// Tamper with the stored slot: the integrity self-test fails.
		if _, err := db.Exec(e.ctx, `UPDATE sm_slot SET fingerprint = '0000000000000000'`); err != nil {
			t.Fatal(err)
		}
		rep, err := e.m.Selftest(e.ctx, sm.Auditor.As("test"))
		if err != nil || rep.OK {
			t.Fatalf("Selftest = %+v, %v", rep, err)
		}
		for _, q := range []sts6.Frame{{Cmd: "CQ"}, {Cmd: "GA", Fields: []sts6.Field{sts6.Num(1), sts6.Num(1), sts6.Num(2)}}} {
			f := c.askFrame(q)
			if f.Status != sm.CodeExtended || len(f.Fields) != 1 || !strings.Contains(f.Fields[0].Value, "self-test slots failed") {
				t.Fatalf("SM?%s in the error state = %+v", q.Cmd, f)
			}
		}
		f := e.dial("").askFrame(sts6.Frame{Cmd: "DI"})
		if f.Status != sm.CodeExtended || len(f.Fields) != 6 || !strings.Contains(f.Fields[5].Value, "module in error state") {
			t.Fatalf("SM?DI in the error state = %+v", f)
		}
	})
}

// TestLoadClients reads a client file and refuses bad ones.
func TestLoadClients(t *testing.T) {
	dir := t.TempDir()
	write := func(s string) string {
		p := filepath.Join(dir, sts6.ClientsFile)
		if err := os.WriteFile(p, []byte(s), 0o600); err != nil {
			t.Fatal(err)
		}
		return p
	}
	good := `{"format":"stskms-sm-sts6-clients/1","clients":[{"common_name":"pos-1","role":"operator","name":"pos-1"}]}`
	if _, err := sts6.LoadClients(write(good)); err != nil {
		t.Fatal(err)
	}
	for _, bad := range []string{
		`{"format":"other/1","clients":[]}`,
		`{"format":"stskms-sm-sts6-clients/1","clients":[{"common_name":"x","role":"king","name":"x"}]}`,
		`{"format":"stskms-sm-sts6-clients/1","clients":[{"common_name":"x","cert_sha256":"00","role":"operator","name":"x"}]}`,
		`{"format":"stskms-sm-sts6-clients/1","clients":[{"cert_sha256":"abcd","role":"operator","name":"x"}]}`,
		`{"format":"stskms-sm-sts6-clients/1","clients":[{"common_name":"x","role":"operator"}]}`,
		`{"format":"stskms-sm-sts6-clients/1","clients":[{"common_name":"x","role":"operator","name":"a"},{"common_name":"x","role":"auditor","name":"b"}]}`,
		`{"format":"stskms-sm-sts6-clients/1","clients":[],"extra":1}`,
	} {
		if _, err := sts6.LoadClients(write(bad)); err == nil {
			t.Errorf("accepted %s", bad)
		}
	}
	if _, err := sts6.ServerTLS(tls.Certificate{}, ""); err != sts6.ErrNoClientCA {
		t.Fatalf("ServerTLS without a CA = %v", err)
	}
}
