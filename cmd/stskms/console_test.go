package main

import (
	"bytes"
	"crypto/tls"
	"encoding/json"
	"net"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stskms/stskms/internal/testcert"
)

// consoleRun runs the command line in-process and returns its exit status and
// output.
func consoleRun(args ...string) (code int, stdout, stderr string) {
	var out, errOut bytes.Buffer
	code = run(args, strings.NewReader(""), &out, &errOut)
	return code, out.String(), errOut.String()
}

// TestConsoleCommands: enroll prints a one-time path under /console/, list
// shows the accounts, revoke cancels a pending enrolment; a bad role or
// name, or no --dir, is a usage error or a refusal naming the problem.
func TestConsoleCommands(t *testing.T) {
	t.Setenv("STSKMS_KMC_DIR", "")
	t.Setenv("STSKMS_CONFIG", "")
	dir := filepath.Join(t.TempDir(), "kmc")
	if code, _, errOut := consoleRun("kmc", "init", "--mode", "test", "--dir", dir); code != 0 {
		t.Fatalf("kmc init: %d %s", code, errOut)
	}
	code, out, errOut := consoleRun("kmc", "console", "enroll", "--dir", dir, "--name", "alice", "--role", "officer", "--as", "cli:test")
	if code != 0 || !strings.HasPrefix(out, "/console/enrol/") || len(strings.TrimSpace(out)) < len("/console/enrol/")+40 ||
		!strings.Contains(errOut, "UTC") {
		t.Fatalf("enroll: %d %q %q", code, out, errOut)
	}
	for _, tc := range []struct {
		args []string
		code int
		want string
	}{
		{[]string{"--dir", dir, "--name", "bob", "--role", "admin"}, 2, "--role"},
		{[]string{"--dir", dir, "--name", "bob"}, 2, "--role"},
		{[]string{"--name", "bob", "--role", "auditor"}, 2, "--dir"},
		{[]string{"--dir", dir, "--name", "bob smith", "--role", "auditor"}, 1, "name"},
		{[]string{"--dir", filepath.Join(dir, "nope"), "--name", "bob", "--role", "auditor"}, 1, ""},
	} {
		code, _, errOut := consoleRun(append([]string{"kmc", "console", "enroll"}, tc.args...)...)
		if code != tc.code || !strings.Contains(errOut, tc.want) {
			t.Errorf("enroll %v: exit %d %q, want %d naming %q", tc.args, code, errOut, tc.code, tc.want)
		}
	}
	code, out, _ = consoleRun("kmc", "console", "list", "--dir", dir, "--json")
	var rows []map[string]any
	if code != 0 || json.Unmarshal([]byte(out), &rows) != nil || len(rows) != 0 {
		t.Errorf("list before any passkey: %d %q", code, out)
	}
	if code, out, errOut := consoleRun("kmc", "console", "revoke", "--dir", dir, "--name", "alice"); code != 0 || out != "revoked alice\n" {
		t.Errorf("revoke of a pending enrolment: %d %q %q", code, out, errOut)
	}
	if code, _, errOut := consoleRun("kmc", "console", "revoke", "--dir", dir, "--name", "alice"); code != 1 || !strings.Contains(errOut, "no such active account") {
		t.Errorf("second revoke: %d %q", code, errOut)
	}
	code, out, errOut = consoleRun("audit", "verify", "--dir", dir)
	if code != 0 {
		t.Errorf("audit verify after console commands: %d %s %s", code, out, errOut)
	}
}

// TestConsoleOrigin: on loopback the console is at localhost (a passkey
// needs a host name), elsewhere at the TLS certificate's host; default
// ports are left out; a plain or nameless non-loopback listener has none.
func TestConsoleOrigin(t *testing.T) {
	cert, _ := testcert.SelfSigned(t, "kmc.example.org")
	withCert := &tls.Config{Certificates: []tls.Certificate{cert}}
	tcp := func(s string) net.Addr { a, _ := net.ResolveTCPAddr("tcp", s); return a }
	for _, tc := range []struct {
		addr string
		cfg  *tls.Config
		want string
	}{
		{"127.0.0.1:8081", nil, "http://localhost:8081"},
		{"[::1]:80", nil, "http://localhost"},
		{"127.0.0.1:443", withCert, "https://localhost"},
		{"0.0.0.0:8443", withCert, "https://kmc.example.org:8443"},
		{"192.0.2.1:443", withCert, "https://kmc.example.org"},
		{"192.0.2.1:8081", nil, ""},
		{"192.0.2.1:8081", &tls.Config{}, ""},
	} {
		got, err := consoleOrigin(tcp(tc.addr), tc.cfg)
		if got != tc.want || (err != nil) != (tc.want == "") {
			t.Errorf("consoleOrigin(%s) = %q, %v; want %q", tc.addr, got, err, tc.want)
		}
	}
}
