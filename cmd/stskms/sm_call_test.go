package main

import (
	"bytes"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stskms/stskms/internal/httpapi/httpapitest"
	"github.com/stskms/stskms/sm/api"
)

// startServe makes a test module in a new DIR, lets prepare add files to
// it, and serves it with its STS6 port and args added, for 5 seconds.
func startServe(t *testing.T, prepare func(dir string), args ...string) *serving {
	t.Helper()
	dir := initTestSM(t)
	prepare(dir)
	return startServing(t, "sm", dir, 2, append([]string{"--listen", "127.0.0.1:0"}, args...)...)
}

// posClients is a prepare for startServe: it writes the module's client
// file (api.ClientsFile), which maps the client certificate "pos-1" to an
// operator of that name.
func posClients(t *testing.T) func(dir string) {
	return func(dir string) {
		b, err := json.Marshal(map[string]any{"format": "stskms-sm-sts6-clients/1",
			"clients": []api.ClientEntry{{CommonName: "pos-1", Role: "operator", Name: "pos-1"}}})
		if err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(dir, api.ClientsFile), b, 0o600); err != nil {
			t.Fatal(err)
		}
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
	s := startServe(t, posClients(t), "--tls-cert", srvCert, "--tls-key", srvKey, "--client-ca", pki.CAFile)
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
