package main

import (
	"bytes"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/stskms/stskms/internal/httpapi/httpapitest"
	"github.com/stskms/stskms/sm/api/sts6"
)

// serving is an "stskms sm serve" running in-process.
type serving struct {
	http, sts6 string
	done       chan int
	out, err   bytes.Buffer
}

// startServe makes a test module in a new DIR, lets prepare add files to
// it, and serves it with args added, for 5 seconds.
func startServe(t *testing.T, prepare func(dir string), args ...string) *serving {
	t.Helper()
	dir := filepath.Join(t.TempDir(), "mod")
	addrFile := filepath.Join(t.TempDir(), "addr")
	var out bytes.Buffer
	if rc := run([]string{"sm", "init", "--dir", dir, "--variant", "vending", "--test"}, strings.NewReader(""), &out, &out); rc != 0 {
		t.Fatalf("sm init: %d\n%s", rc, out.String())
	}
	prepare(dir)
	s := &serving{done: make(chan int, 1)}
	args = append([]string{"sm", "serve", "--dir", dir, "--http", "127.0.0.1:0", "--listen", "127.0.0.1:0", "--addr-file", addrFile,
		"--exit-after", "5s"}, args...)
	go func() { s.done <- run(args, strings.NewReader(""), &s.out, &s.err) }()
	for deadline := time.Now().Add(5 * time.Second); time.Now().Before(deadline) && s.sts6 == ""; time.Sleep(10 * time.Millisecond) {
		if b, err := os.ReadFile(addrFile); err == nil && bytes.Count(b, []byte("\n")) == 2 {
			s.http, s.sts6, _ = strings.Cut(strings.TrimSpace(string(b)), "\n")
		}
	}
	if s.sts6 == "" {
		t.Fatalf("sm serve wrote no addresses\n%s", s.err.String())
	}
	return s
}

// wait waits for the server to stop by itself.
func (s *serving) wait(t *testing.T) {
	t.Helper()
	if rc := <-s.done; rc != 0 {
		t.Fatalf("sm serve: exit %d\n%s\n%s", rc, s.out.String(), s.err.String())
	}
}

// call runs "stskms sm call" and returns its exit status and output.
func call(args ...string) (int, string) {
	var out bytes.Buffer
	rc := run(append([]string{"sm", "call"}, args...), strings.NewReader(""), &out, &out)
	return rc, out.String()
}

// TestSMCall serves a test module's STS6 port to loopback clients as an
// auditor (--sts6-role) and calls it with "stskms sm call".
func TestSMCall(t *testing.T) {
	s := startServe(t, func(string) {}, "--sts6-role", "auditor", "--selftest-every", "1h")
	rc, out := call("--addr", s.sts6, "SM?DI", "SM?CQ")
	lines := strings.Split(strings.TrimSpace(out), "\n")
	if rc != 0 || len(lines) != 2 || !strings.HasPrefix(lines[0], "SM!DI00PSMID.1:") || !strings.HasPrefix(lines[1], "SM!CQ00N0~") {
		t.Fatalf("sm call: exit %d\n%s", rc, out)
	}
	if rc, out := call("--addr", s.sts6, "SM?KXN1~"); rc != 1 || !strings.Contains(out, "auditor may not call SM?KX") {
		t.Fatalf("sm call SM?KX: exit %d\n%s", rc, out)
	}
	if rc, out := call("--addr", s.sts6, "--raw", "SM?DI0000"); rc != 1 || !strings.HasPrefix(out, "GL!ER49") {
		t.Fatalf("sm call --raw with a bad CRC: exit %d\n%s", rc, out)
	}
	s.wait(t)
}

// TestSMServeTLS serves the STS6 port with TLS and client certificates:
// a client the client file names gets its role, another is refused.
func TestSMServeTLS(t *testing.T) {
	pki := httpapitest.NewPKI(t)
	certs := t.TempDir()
	srvCert, srvKey := httpapitest.WriteCert(t, certs, "server", pki.Cert("127.0.0.1", true))
	posCert, posKey := httpapitest.WriteCert(t, certs, "pos", pki.Cert("pos-1", false))
	malCert, malKey := httpapitest.WriteCert(t, certs, "mallory", pki.Cert("mallory", false))
	s := startServe(t, func(dir string) {
		b, err := json.Marshal(map[string]any{"format": "stskms-sm-sts6-clients/1",
			"clients": []sts6.ClientEntry{{CommonName: "pos-1", Role: "operator", Name: "pos-1"}}})
		if err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(dir, sts6.ClientsFile), b, 0o600); err != nil {
			t.Fatal(err)
		}
	}, "--tls-cert", srvCert, "--tls-key", srvKey, "--client-ca", pki.CAFile)
	if rc, out := call("--addr", s.sts6, "--tls-cert", posCert, "--tls-key", posKey, "--ca", pki.CAFile, "SM?CQ"); rc != 0 ||
		!strings.HasPrefix(out, "SM!CQ00N0~") {
		t.Fatalf("sm call as pos-1: exit %d\n%s", rc, out)
	}
	if rc, out := call("--addr", s.sts6, "--tls-cert", malCert, "--tls-key", malKey, "--ca", pki.CAFile, "SM?CQ"); rc != 1 ||
		!strings.Contains(out, "client certificate not known to this module") {
		t.Fatalf("sm call as mallory: exit %d\n%s", rc, out)
	}
	if rc, out := call("--addr", s.sts6, "SM?DI"); rc != 1 {
		t.Fatalf("plain sm call to the TLS port: exit %d\n%s", rc, out)
	}
	s.wait(t)
}
