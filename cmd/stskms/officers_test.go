package main

import (
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stskms/stskms/audit"
	"github.com/stskms/stskms/keystore/pkcs11"
	"github.com/stskms/stskms/keystore/pkcs11/softhsmtest"
	"github.com/stskms/stskms/kmc"
	kmcapi "github.com/stskms/stskms/kmc/api"
	smapi "github.com/stskms/stskms/sm/api"
)

// The officers of the tests with a production custody: alice and bob, as
// `kmc --officers alice,bob` reads them (passphraseLines) and as `sm`
// reads them (officerLines).
const (
	passphraseLines = "correct horse battery staple\nTr0ub4dor&3 tuna mirror\n"
	officerLines    = "alice=correct horse battery staple\nbob=Tr0ub4dor&3 tuna mirror\n"
)

// Component files whose XOR is the key of KCV D5D44F (as kmc.txtar).
const (
	componentA = "1122334455667788 6FB23E\n"
	componentB = "10017623DCCDBA67 58D20E\n"
)

// TestVKImportPKCS11Officers is the scenario on a live KMC whose
// keys are in a PKCS#11 token and whose officers, alice and bob, are
// registered beside it: `vk import --component mallory=… --component
// eve=…` is refused naming both before any passphrase is read; one officer
// twice and a wrong passphrase are refused; none of it imports a key; with
// alice's and bob's own passphrases the key is imported.
func TestVKImportPKCS11Officers(t *testing.T) {
	cfg, pin := softhsmtest.New(t).Token("cli-token")
	work := t.TempDir()
	kmcDir := filepath.Join(work, "kmc")
	t.Setenv(pkcs11.PINEnv, string(pin))
	if code, out, errOut := stskms(passphraseLines, "kmc", "init", "--dir", kmcDir, "--mode", "live", "--vendor", "Utility", "--id", "K0042",
		"--pkcs11", writeP11Config(t, cfg, "kmc"), "--officers", "alice,bob"); code != 0 {
		t.Fatalf("kmc init: exit %d\n%s%s", code, out, errOut)
	}
	if code, _, errOut := stskms("", "kmc", "sgc", "add", "--dir", kmcDir, "--sgc", "123456", "--name", "g"); code != 0 {
		t.Fatalf("sgc add: %s", errOut)
	}
	a, b := filepath.Join(work, "a.txt"), filepath.Join(work, "b.txt")
	if err := os.WriteFile(a, []byte(componentA), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(b, []byte(componentB), 0o600); err != nil {
		t.Fatal(err)
	}
	vkImport := func(stdin, first, second string) (int, string) {
		code, out, errOut := stskms(stdin, "kmc", "vk", "import", "--dir", kmcDir, "--sgc", "123456", "--type", "VCDK", "--dkga", "02",
			"--ea", "07", "--bdt", "1993", "--kcv", "D5D44F", "--component", first+"="+a, "--component", second+"="+b)
		return code, out + errOut
	}
	noKey := func(what string) {
		t.Helper()
		if _, out, _ := stskms("", "kmc", "vk", "list", "--dir", kmcDir); strings.Contains(out, "VK-") {
			t.Fatalf("%s imported a key:\n%s", what, out)
		}
	}
	if code, out := vkImport(passphraseLines, "mallory", "eve"); code != 1 || !strings.Contains(out, `"mallory", "eve"`) ||
		!strings.Contains(out, "registered officers are alice, bob") {
		t.Errorf("mallory and eve: exit %d\n%s", code, out)
	}
	noKey("mallory and eve")
	if code, out := vkImport(passphraseLines, "alice", "alice"); code != 1 || !strings.Contains(out, "twice") {
		t.Errorf("alice twice: exit %d\n%s", code, out)
	}
	if code, out := vkImport("correct horse battery staple\nnot bob's passphrase\n", "alice", "bob"); code != 1 ||
		!strings.Contains(out, `wrong passphrase`) || !strings.Contains(out, `"bob"`) || strings.Contains(out, "not bob's") {
		t.Errorf("bob's wrong passphrase: exit %d\n%s", code, out)
	}
	noKey("a wrong passphrase")
	if code, out := vkImport(passphraseLines, "alice", "bob"); code != 0 || !strings.Contains(out, "KCV D5D44F") {
		t.Fatalf("alice and bob: exit %d\n%s", code, out)
	}
	// accept-rollback and downgrade of a PKCS#11 KMC authenticate the
	// officers given with the PIN: a wrong passphrase is refused.
	for _, cmd := range []string{"accept-rollback", "downgrade"} {
		code, out, errOut := stskms("correct horse battery staple\nnot bob's passphrase\n", "kmc", cmd, "--dir", kmcDir, "--officers", "alice,bob")
		if code == 0 || !strings.Contains(errOut, `"bob"`) || !strings.Contains(errOut, "wrong passphrase") {
			t.Errorf("%s with bob's wrong passphrase: exit %d\n%s%s", cmd, code, out, errOut)
		}
	}
	if code, out, errOut := stskms(passphraseLines, "kmc", "accept-rollback", "--dir", kmcDir, "--officers", "alice,bob"); code != 0 {
		t.Errorf("accept-rollback by alice and bob: exit %d\n%s%s", code, out, errOut)
	}
	k, err := kmc.OpenDir(context.Background(), kmcDir, kmc.OpenOptions{PIN: pin})
	if err != nil {
		t.Fatal(err)
	}
	defer k.Close()
	var officers []string
	err = k.AuditLog().Records(context.Background(), 1, func(r audit.Record) error {
		if r.Action == "vk.import" {
			b, _ := json.Marshal(r.Details)
			var d struct {
				Officers []string `json:"officers"`
			}
			json.Unmarshal(b, &d)
			officers = append(officers, d.Officers...)
		}
		return nil
	})
	if err != nil || strings.Join(officers, ",") != "alice,bob" {
		t.Errorf("vk.import audited with officers %v (%v), want alice, bob", officers, err)
	}
}

// TestSlotInstallPKCS11Officers: installing a KMC key into a production
// module on a PKCS#11 token is dual control: the PIN alone, or one
// officer, is refused and installs nothing; with alice's and bob's
// NAME=PASSPHRASE lines the key is installed and audited as
// officer:alice+bob.
func TestSlotInstallPKCS11Officers(t *testing.T) {
	cfg, pin := softhsmtest.New(t).Token("cli-token")
	work := t.TempDir()
	smDir, kmcDir := filepath.Join(work, "sm"), filepath.Join(work, "kmc")
	t.Setenv(pkcs11.PINEnv, string(pin))
	if code, out, errOut := stskms(officerLines, "sm", "init", "--dir", smDir, "--variant", "vending", "--pkcs11", writeP11Config(t, cfg, "sm")); code != 0 {
		t.Fatalf("sm init: exit %d\n%s%s", code, out, errOut)
	}
	if code, _, errOut := stskms("", "kmc", "init", "--dir", kmcDir, "--mode", "test"); code != 0 {
		t.Fatalf("kmc init: %s", errOut)
	}
	_, pub, _ := stskms("", "kmc", "pubkey", "--dir", kmcDir)
	record := filepath.Join(work, "kmc.eml")
	if err := os.WriteFile(record, []byte(pub), 0o600); err != nil {
		t.Fatal(err)
	}
	fp := strings.TrimSpace(strings.TrimPrefix(strings.SplitN(pub, "\n", 2)[0], "KMC Public Key Fingerprint:"))
	install := func(stdin string) (int, string) {
		code, out, errOut := stskms(stdin, "sm", "slot", "install", "--dir", smDir, "--record", record, "--fingerprint", fp, "--test-kmc")
		return code, out + errOut
	}
	for _, stdin := range []string{"", "alice=correct horse battery staple\n"} {
		if code, out := install(stdin); code == 0 || !strings.Contains(out, "dual control") {
			t.Errorf("install with %q: exit %d\n%s", stdin, code, out)
		}
	}
	if code, out := install("alice=correct horse battery staple\nbob=not bob's passphrase\n"); code == 0 || !strings.Contains(out, `"bob"`) {
		t.Errorf("install with bob's wrong passphrase: exit %d\n%s", code, out)
	}
	if _, out, _ := stskms("", "sm", "slot", "list", "--dir", smDir); strings.Contains(out, "INSTALLED") {
		t.Fatalf("a refused install installed:\n%s", out)
	}
	if code, out := install(officerLines); code != 0 || !strings.Contains(out, "INSTALLED") {
		t.Fatalf("install by alice and bob: exit %d\n%s", code, out)
	}
	var actors []string
	smAuditLog(t, smDir, pin).Records(context.Background(), 1, func(r audit.Record) error {
		if r.Action == "slot.install" {
			actors = append(actors, r.Actor)
		}
		return nil
	})
	if strings.Join(actors, ",") != "officer:alice+bob" {
		t.Errorf("slot installs audited by %v, want officer:alice+bob", actors)
	}
}

// TestServeRefusesUnregisteredOfficerTokens: kmc serve of a live KMC and
// sm serve of a production module, whose officers are alice and bob,
// refuse at start a token file with an officer token of mallory, naming
// her and never a token; with alice and bob only they get past the check.
func TestServeRefusesUnregisteredOfficerTokens(t *testing.T) {
	work := t.TempDir()
	kmcDir, smDir := filepath.Join(work, "kmc"), filepath.Join(work, "sm")
	if code, _, errOut := stskms(passphraseLines, "kmc", "init", "--dir", kmcDir, "--mode", "live", "--vendor", "Utility", "--id", "K0042",
		"--officers", "alice,bob"); code != 0 {
		t.Fatalf("kmc init: %s", errOut)
	}
	if code, _, errOut := stskms(officerLines, "sm", "init", "--dir", smDir, "--variant", "vending"); code != 0 {
		t.Fatalf("sm init: %s", errOut)
	}
	tokens := func(path, format string, names ...string) {
		t.Helper()
		body := `{"format":"` + format + `","tokens":[`
		for i, n := range names {
			if i > 0 {
				body += ","
			}
			body += `{"token":"` + n + `-0123456789abcdef0123","role":"officer","name":"` + n + `"}`
		}
		if err := os.WriteFile(path, []byte(body+"]}"), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	kmcTokens, smTokens := filepath.Join(kmcDir, kmcapi.TokenFile), filepath.Join(smDir, smapi.TokenFile)
	tokens(kmcTokens, "stskms-kmc-api-tokens/1", "alice", "mallory")
	tokens(smTokens, "stskms-sm-api-tokens/1", "mallory", "bob")
	serve := map[string][]string{
		"kmc": {"kmc", "serve", "--dir", kmcDir, "--http", "127.0.0.1:0", "--exit-after", "1ms"},
		"sm":  {"sm", "serve", "--dir", smDir, "--http", "127.0.0.1:0", "--exit-after", "1ms"},
	}
	for name, args := range serve {
		code, out, errOut := stskms("", args...)
		if code == 0 || !strings.Contains(errOut, `"mallory"`) || !strings.Contains(errOut, "not officers registered") ||
			strings.Contains(out+errOut, "0123456789abcdef0123") {
			t.Errorf("%s serve with mallory's token: exit %d\n%s%s", name, code, out, errOut)
		}
	}
	tokens(kmcTokens, "stskms-kmc-api-tokens/1", "alice", "bob")
	tokens(smTokens, "stskms-sm-api-tokens/1", "alice", "bob")
	for name, args := range serve {
		if _, out, errOut := stskms("", args...); strings.Contains(errOut, "not officers registered") {
			t.Errorf("%s serve with alice and bob: %s%s", name, out, errOut)
		}
	}
}
