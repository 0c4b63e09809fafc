package main

import (
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/stskms/stskms/audit"
	"github.com/stskms/stskms/keystore"
	"github.com/stskms/stskms/keystore/pkcs11"
	"github.com/stskms/stskms/keystore/pkcs11/softhsmtest"
	"github.com/stskms/stskms/kmc"
	"github.com/stskms/stskms/sm"
)

// registerRecords returns the actor and the officers of each audit record
// action in log.
func registerRecords(t *testing.T, log *audit.Log, action string) (actors []string, officers [][]string) {
	t.Helper()
	err := log.Records(context.Background(), 1, func(r audit.Record) error {
		if r.Action != action {
			return nil
		}
		b, _ := json.Marshal(r.Details)
		var d struct {
			Officers []string `json:"officers"`
		}
		if err := json.Unmarshal(b, &d); err != nil {
			return err
		}
		actors, officers = append(actors, r.Actor), append(officers, d.Officers)
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return actors, officers
}

// smAuditLog opens the production module in dir with the PIN of its
// PKCS#11 custody, until the test ends, and returns its audit log.
func smAuditLog(t *testing.T, dir string, pin []byte) *audit.Log {
	t.Helper()
	m, err := sm.Open(context.Background(), dir, sm.Options{PIN: pin})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { m.Close() })
	log, err := m.Audit(sm.Auditor.As("test"))
	if err != nil {
		t.Fatal(err)
	}
	return log
}

// forgetOfficers removes the officer registry of the custody of dir, as a
// directory made before registries existed has none.
func forgetOfficers(t *testing.T, dir string) {
	t.Helper()
	if err := os.Remove(filepath.Join(dir, "keystore", keystore.OfficersFile)); err != nil {
		t.Fatal(err)
	}
}

// TestKMCOfficersRegisterPKCS11: a live KMC on a PKCS#11 token without an
// officer registry (an older directory) does not open, and officers list
// says how to register them; kmc officers register with the PIN and
// alice's and bob's passphrases registers them, opens the KMC with them
// authenticated and audits kmc.officers.register by cli:USER naming them;
// the KMC then opens and authenticates alice and bob by their
// passphrases; a second registration is refused naming them, and changes
// nothing.
func TestKMCOfficersRegisterPKCS11(t *testing.T) {
	cfg, pin := softhsmtest.New(t).Token("cli-token")
	dir := filepath.Join(t.TempDir(), "kmc")
	t.Setenv(pkcs11.PINEnv, string(pin))
	t.Setenv("USER", "carol")
	if code, out, errOut := stskms(passphraseLines, "kmc", "init", "--dir", dir, "--mode", "live", "--vendor", "Utility", "--id", "K0042",
		"--pkcs11", writeP11Config(t, cfg, "kmc"), "--officers", "alice,bob"); code != 0 {
		t.Fatalf("kmc init: exit %d\n%s%s", code, out, errOut)
	}
	forgetOfficers(t, dir)
	if code, _, errOut := stskms("", "kmc", "sgc", "list", "--dir", dir); code == 0 || !strings.Contains(errOut, "no officers registered") ||
		!strings.Contains(errOut, "stskms kmc officers register --dir") {
		t.Fatalf("an old PKCS#11 KMC opened: exit %d\n%s", code, errOut)
	}
	if code, _, errOut := stskms("", "kmc", "officers", "list", "--dir", dir); code == 0 || !strings.Contains(errOut, "kmc officers register") {
		t.Errorf("officers list without a registry: exit %d\n%s", code, errOut)
	}
	register := func(stdin string) (int, string) {
		code, out, errOut := stskms(stdin, "kmc", "officers", "register", "--dir", dir, "--officers", "alice,bob")
		return code, out + errOut
	}
	if code, out := register("short\nTr0ub4dor&3 tuna mirror\n"); code == 0 {
		t.Fatalf("a short passphrase was registered:\n%s", out)
	}
	if _, err := os.Stat(filepath.Join(dir, "keystore", keystore.OfficersFile)); !os.IsNotExist(err) {
		t.Fatalf("a refused registration left a registry: %v", err)
	}
	if code, out := register(passphraseLines); code != 0 || !strings.Contains(out, "registered officers alice, bob") {
		t.Fatalf("officers register: exit %d\n%s", code, out)
	}
	if code, out := register(passphraseLines); code == 0 || !strings.Contains(out, "registered with this custody already: alice, bob") {
		t.Errorf("a second registration: exit %d\n%s", code, out)
	}
	if code, out, errOut := stskms("", "kmc", "officers", "list", "--dir", dir); code != 0 || out != "alice\nbob\n" {
		t.Errorf("officers list: exit %d\n%s%s", code, out, errOut)
	}
	if _, out, _ := stskms("", "kmc", "officers", "list", "--dir", dir, "--json"); !strings.Contains(out, `"custody":"pkcs11"`) &&
		!strings.Contains(out, `"custody": "pkcs11"`) {
		t.Errorf("officers list --json: %s", out)
	}
	comps := []keystore.Component{{Officer: "alice", Passphrase: []byte("correct horse battery staple")},
		{Officer: "bob", Passphrase: []byte("Tr0ub4dor&3 tuna mirror")}}
	k, err := kmc.OpenDir(context.Background(), dir, kmc.OpenOptions{PIN: pin, Officers: comps})
	if err != nil {
		t.Fatal(err)
	}
	defer k.Close()
	if !slices.Equal(k.Officers(), []string{"alice", "bob"}) {
		t.Errorf("officers %v", k.Officers())
	}
	if _, err := kmc.AuthenticateOfficers(dir, []keystore.Component{{Officer: "bob", Passphrase: []byte("not bob's passphrase")}}); err == nil {
		t.Error("a wrong passphrase of bob was accepted")
	}
	actors, officers := registerRecords(t, k.AuditLog(), "kmc.officers.register")
	if !slices.Equal(actors, []string{"cli:carol"}) || len(officers) != 1 || !slices.Equal(officers[0], []string{"alice", "bob"}) {
		t.Errorf("kmc.officers.register records: %v %v", actors, officers)
	}
}

// TestSMOfficersRegisterPKCS11 is TestKMCOfficersRegisterPKCS11 for a
// production module on a PKCS#11 token, its officers given as
// NAME=PASSPHRASE lines.
func TestSMOfficersRegisterPKCS11(t *testing.T) {
	cfg, pin := softhsmtest.New(t).Token("cli-token")
	dir := filepath.Join(t.TempDir(), "sm")
	t.Setenv(pkcs11.PINEnv, string(pin))
	t.Setenv("USER", "carol")
	if code, out, errOut := stskms(officerLines, "sm", "init", "--dir", dir, "--variant", "vending", "--pkcs11", writeP11Config(t, cfg, "sm")); code != 0 {
		t.Fatalf("sm init: exit %d\n%s%s", code, out, errOut)
	}
	forgetOfficers(t, dir)
	if code, _, errOut := stskms("", "sm", "identify", "--dir", dir); code == 0 || !strings.Contains(errOut, "no officers registered") ||
		!strings.Contains(errOut, "stskms sm officers register --dir") {
		t.Fatalf("an old PKCS#11 module opened: exit %d\n%s", code, errOut)
	}
	register := func() (int, string) {
		code, out, errOut := stskms(officerLines, "sm", "officers", "register", "--dir", dir)
		return code, out + errOut
	}
	if code, out := register(); code != 0 || !strings.Contains(out, "registered officers alice, bob") {
		t.Fatalf("officers register: exit %d\n%s", code, out)
	}
	if code, out := register(); code == 0 || !strings.Contains(out, "registered with this custody already: alice, bob") {
		t.Errorf("a second registration: exit %d\n%s", code, out)
	}
	if code, out, errOut := stskms("", "sm", "officers", "list", "--dir", dir); code != 0 || out != "alice\nbob\n" {
		t.Errorf("officers list: exit %d\n%s%s", code, out, errOut)
	}
	if code, out, errOut := stskms("", "sm", "identify", "--dir", dir); code != 0 {
		t.Errorf("identify after the registration: exit %d\n%s%s", code, out, errOut)
	}
	comps := []keystore.Component{{Officer: "alice", Passphrase: []byte("correct horse battery staple")},
		{Officer: "bob", Passphrase: []byte("not bob's passphrase")}}
	if _, err := sm.Open(context.Background(), dir, sm.Options{PIN: pin, Officers: comps}); err == nil || !strings.Contains(err.Error(), `"bob"`) {
		t.Errorf("open with bob's wrong passphrase: %v", err)
	}
	actors, officers := registerRecords(t, smAuditLog(t, dir, pin), "sm.officers.register")
	if !slices.Equal(actors, []string{"cli:carol"}) || len(officers) != 1 || !slices.Equal(officers[0], []string{"alice", "bob"}) {
		t.Errorf("sm.officers.register records: %v %v", actors, officers)
	}
}

// TestOfficersRegisterRefused: a sealed store's officers are its
// components' holders and a test KMC or module registers none, so
// officers register refuses them, saying so, before reading any
// passphrase; officers list shows a sealed store's officers and a test
// one's none.
func TestOfficersRegisterRefused(t *testing.T) {
	work := t.TempDir()
	live, test := filepath.Join(work, "live"), filepath.Join(work, "test")
	smLive, smTest := filepath.Join(work, "sm-live"), filepath.Join(work, "sm-test")
	for _, c := range []struct {
		stdin string
		args  []string
	}{
		{passphraseLines, []string{"kmc", "init", "--dir", live, "--mode", "live", "--vendor", "Utility", "--id", "K0042", "--officers", "alice,bob"}},
		{"", []string{"kmc", "init", "--dir", test, "--mode", "test"}},
		{officerLines, []string{"sm", "init", "--dir", smLive, "--variant", "vending"}},
		{"", []string{"sm", "init", "--dir", smTest, "--variant", "vending", "--test"}},
	} {
		if code, out, errOut := stskms(c.stdin, c.args...); code != 0 {
			t.Fatalf("%v: exit %d\n%s%s", c.args, code, out, errOut)
		}
	}
	for _, c := range []struct {
		args []string
		want string
	}{
		{[]string{"kmc", "officers", "register", "--dir", live, "--officers", "carol,dave"}, "holders of its components (alice, bob)"},
		{[]string{"kmc", "officers", "register", "--dir", test, "--officers", "carol,dave"}, "test KMC registers no officers"},
		{[]string{"sm", "officers", "register", "--dir", smLive}, "holders of its components (alice, bob)"},
		{[]string{"sm", "officers", "register", "--dir", smTest}, "test module registers no officers"},
	} {
		code, out, errOut := stskms("carol=a long enough passphrase\ndave=another long passphrase\n", c.args...)
		if code == 0 || !strings.Contains(errOut, c.want) {
			t.Errorf("%v: exit %d, want %q\n%s%s", c.args, code, c.want, out, errOut)
		}
	}
	for dir, want := range map[string]string{live: "alice\nbob\n", test: "none: a test KMC registers no officers\n"} {
		if code, out, errOut := stskms("", "kmc", "officers", "list", "--dir", dir); code != 0 || out != want {
			t.Errorf("kmc officers list %s: exit %d\n%s%s", dir, code, out, errOut)
		}
	}
	if code, out, errOut := stskms("", "sm", "officers", "list", "--dir", smLive); code != 0 || out != "alice\nbob\n" {
		t.Errorf("sm officers list: exit %d\n%s%s", code, out, errOut)
	}
}
