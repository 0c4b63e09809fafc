package main

import (
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/stskms/stskms/audit"
	kmcapi "github.com/stskms/stskms/kmc/api"
	smapi "github.com/stskms/stskms/sm/api"
	"github.com/stskms/stskms/store"
)

// The officers of the live components of these tests.
const (
	alicePass = "correct horse battery"
	bobPass   = "staple tuna mirror 42"
)

// officerToken is the officer's bearer token of writeTokenFile.
const officerToken = "officer-0123456789abcdef"

// apiStatus calls GET url with the officer's token and returns the status
// and body.
func apiStatus(t *testing.T, url string) (int, string) {
	t.Helper()
	req, err := http.NewRequest(http.MethodGet, url, nil)
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Authorization", "Bearer "+officerToken)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

// wantAPI fails the test unless GET url answers status with a body
// holding want.
func wantAPI(t *testing.T, url string, status int, want string) {
	t.Helper()
	if got, body := apiStatus(t, url); got != status || !strings.Contains(body, want) {
		t.Fatalf("GET %s: %d %s, want %d with %q", url, got, body, status, want)
	}
}

// unsealCLI runs "stskms COMPONENT VERB --dir DIR args…" with stdin and
// fails the test unless it exits with code and says want.
func unsealCLI(t *testing.T, code int, want, stdin, component, verb, dir string, args ...string) string {
	t.Helper()
	rc, out, errOut := stskms(stdin, append([]string{component, verb, "--dir", dir}, args...)...)
	if rc != code || !strings.Contains(out+errOut, want) {
		t.Fatalf("%s %s %q: exit %d, said %q %q; want exit %d saying %q", component, verb, args, rc, out, errOut, code, want)
	}
	if strings.Contains(out+errOut, alicePass) || strings.Contains(out+errOut, bobPass) || strings.Contains(out+errOut, "wrong horse") {
		t.Fatalf("%s %s echoed a passphrase: %q %q", component, verb, out, errOut)
	}
	return out
}

// unsealByOfficers walks a sealed service of dir through its officers:
// alice, a wrong passphrase for bob (refused, counted), bob.
func unsealByOfficers(t *testing.T, component, dir string) {
	t.Helper()
	unsealCLI(t, 0, "sealed (0 of 2 officers)", "", component, "status", dir)
	unsealCLI(t, 0, "sealed (1 of 2 officers: alice)", alicePass+"\n", component, "unseal", dir, "--officer", "alice")
	unsealCLI(t, 1, "refused", "wrong horse\n", component, "unseal", dir, "--officer", "bob")
	unsealCLI(t, 1, "refused", "x\n", component, "unseal", dir, "--officer", "mallory")
	unsealCLI(t, 0, "sealed (1 of 2 officers: alice), 2 refused", "", component, "status", dir)
	unsealCLI(t, 0, "unsealed", bobPass+"\n", component, "unseal", dir, "--officer", "bob")
}

// auditActions lists the records of the audit log in the database dsn as
// "ACTION ACTOR" lines.
func auditActions(t *testing.T, dsn string) string {
	t.Helper()
	ctx := context.Background()
	db, err := store.OpenExisting(ctx, dsn)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	l, err := audit.Open(ctx, db)
	if err != nil {
		t.Fatal(err)
	}
	var lines []string
	err = l.Records(ctx, 1, func(r audit.Record) error {
		lines = append(lines, r.Action+" "+r.Actor)
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return strings.Join(lines, "\n")
}

// wantAudited fails the test unless the log holds each line.
func wantAudited(t *testing.T, log string, lines ...string) {
	t.Helper()
	for _, l := range lines {
		if !strings.Contains(log, l) {
			t.Errorf("the audit log lacks %q:\n%s", l, log)
		}
	}
}

// TestLiveKMCSealedUnseal: a live KMC served without its officers starts
// sealed (the API answers 503 ESealed), is unsealed by each officer over
// its socket — a wrong passphrase and an unknown officer refused and
// counted — serves, is sealed again at once, and the audit log holds
// every step.
func TestLiveKMCSealedUnseal(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "kmc")
	if rc, out, errOut := stskms(alicePass+"\n"+bobPass+"\n", "kmc", "init", "--dir", dir, "--mode", "live",
		"--vendor", "Utility", "--id", "K1", "--officers", "alice,bob"); rc != 0 {
		t.Fatalf("kmc init: %d %s %s", rc, out, errOut)
	}
	writeTokenFile(t, filepath.Join(dir, kmcapi.TokenFile), "stskms-kmc-api-tokens/1", false, 0o600)
	unsealCLI(t, 1, "no running service", "", "kmc", "status", dir)
	c := startLimited(t, 1024, "kmc", "serve", "--dir", dir, "--http", "127.0.0.1:0")
	addr := c.grab(`admin API on http://(\S+)`)[0]
	url := "http://" + addr + "/v1/identity"
	c.grab(`(sealed): waiting for 2 officers`)
	wantAPI(t, url, http.StatusServiceUnavailable, `"code":"ESealed"`)
	// The console on the same listener is sealed with the API.
	wantAPI(t, "http://"+addr+"/console/", http.StatusServiceUnavailable, "sealed: 0 of 2 officers")

	unsealByOfficers(t, "kmc", dir)
	wantAPI(t, url, http.StatusOK, `K1`)
	wantAPI(t, "http://"+addr+"/console/", http.StatusOK, "Sign in")
	unsealCLI(t, 0, "kmc-serve", "", "kmc", "status", dir, "--json")

	unsealCLI(t, 0, "sealed (0 of 2 officers)", "", "kmc", "seal", dir)
	wantAPI(t, url, http.StatusServiceUnavailable, "sealed: 0 of 2 officers have unsealed")
	// Unsealed again without a restart.
	unsealCLI(t, 0, "1 of 2", alicePass+"\n", "kmc", "unseal", dir, "--officer", "alice")
	unsealCLI(t, 0, "unsealed", bobPass+"\n", "kmc", "unseal", dir, "--officer", "bob")
	wantAPI(t, url, http.StatusOK, `K1`)
	c.stop()
	if out := c.out.String(); strings.Contains(out, alicePass) || strings.Contains(out, "wrong horse") ||
		!strings.Contains(out, "kmc.unseal.refused officer=bob") {
		t.Fatalf("kmc serve said:\n%s", out)
	}

	wantAudited(t, auditActions(t, "sqlite:"+filepath.Join(dir, "kmc.db")),
		"kmc.unseal.officer officer:alice", "kmc.unseal.refused officer:bob", "kmc.unseal.refused officer:mallory",
		"kmc.unseal.officer officer:bob", "kmc.unseal unseal-socket", "kmc.seal unseal-socket")
}

// TestLiveSMSealedUnseal: the same for a production module: sealed, its
// HTTP API answers 503 and its STS6 port closes each connection; after
// both officers it serves.
func TestLiveSMSealedUnseal(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "sm")
	if rc, out, errOut := stskms("alice="+alicePass+"\nbob="+bobPass+"\n", "sm", "init", "--dir", dir, "--variant", "vending"); rc != 0 {
		t.Fatalf("sm init: %d %s %s", rc, out, errOut)
	}
	writeTokenFile(t, filepath.Join(dir, smapi.TokenFile), "stskms-sm-api-tokens/1", false, 0o600)
	c := startLimited(t, 1024, "sm", "serve", "--dir", dir, "--http", "127.0.0.1:0", "--listen", "127.0.0.1:0")
	a := c.grab(`HTTP API on http://(\S+)`, `STS6 API on (\S+)`)
	url := "http://" + a[0] + "/v1/identify"
	c.grab(`(sealed): waiting for 2 officers`)
	wantAPI(t, url, http.StatusServiceUnavailable, "sealed: 0 of 2 officers have unsealed; run `stskms sm unseal`")
	if err := closedAtOnce(a[1]); err != nil {
		t.Fatalf("the sealed STS6 port: %v", err)
	}

	unsealByOfficers(t, "sm", dir)
	wantAPI(t, url, http.StatusOK, `"smid"`)
	unsealCLI(t, 0, "sealed (0 of 2 officers)", "", "sm", "seal", dir)
	wantAPI(t, url, http.StatusServiceUnavailable, "sealed")
	c.stop()
	wantAudited(t, auditActions(t, "sqlite:"+filepath.Join(dir, "sm.db")),
		"sm.unseal.officer officer:alice", "sm.unseal.refused officer:bob", "sm.unseal unseal-socket", "sm.seal unseal-socket")
}

// closedAtOnce connects to addr and wants the connection closed without a
// word.
func closedAtOnce(addr string) error {
	c, err := net.Dial("tcp", addr)
	if err != nil {
		return err
	}
	defer c.Close()
	c.SetDeadline(time.Now().Add(10 * time.Second))
	n, err := c.Read(make([]byte, 1))
	if n != 0 || err != io.EOF {
		return fmt.Errorf("read %d bytes, %v; want the connection closed", n, err)
	}
	return nil
}

// TestLiveGatewaySealedUnseal: a gateway on a live KMC served without its
// officers starts sealed — its mail port greets 421, so the mail stays
// with the sender — and is unsealed through "kmc unseal"; then it greets
// 220.
func TestLiveGatewaySealedUnseal(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "kmc")
	if rc, out, errOut := stskms(alicePass+"\n"+bobPass+"\n", "kmc", "init", "--dir", dir, "--mode", "live",
		"--vendor", "Utility", "--id", "K1", "--officers", "alice,bob"); rc != 0 {
		t.Fatalf("kmc init: %d %s %s", rc, out, errOut)
	}
	c := startLimited(t, 1024, "gateway", "serve", "--dir", dir, "--address", "kmc@kms.example.com",
		"--listen", "127.0.0.1:0", "--auth", "off")
	addr := c.grab(`"msg":"gateway: sealed","listen":"([^"]+)"`)[0]
	if err := lineServes(addr, nil, "421 4.3.2 ", '\n')(); err != nil {
		t.Fatalf("the sealed mail port: %v", err)
	}
	unsealCLI(t, 0, "gateway-serve", "", "kmc", "status", dir)
	unsealByOfficers(t, "kmc", dir)
	if got := c.grab(`"msg":"gateway: serving","listen":"([^"]+)"`)[0]; got != addr {
		t.Fatalf("unsealed, the gateway listens on %s, not %s", got, addr)
	}
	if err := lineServes(addr, nil, "220 ", '\n')(); err != nil {
		t.Fatalf("the unsealed mail port: %v", err)
	}
	unsealCLI(t, 0, "sealed (0 of 2 officers)", "", "kmc", "seal", dir)
	if err := lineServes(addr, nil, "421 4.3.2 ", '\n')(); err != nil {
		t.Fatalf("the mail port sealed again: %v", err)
	}
	c.stop()
	wantAudited(t, auditActions(t, "sqlite:"+filepath.Join(dir, "kmc.db")),
		"kmc.unseal.officer officer:alice", "kmc.unseal unseal-socket", "kmc.seal unseal-socket")
}
