package main

import (
	"bytes"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stskms/stskms/keystore"
	"github.com/stskms/stskms/keystore/pkcs11"
	"github.com/stskms/stskms/keystore/pkcs11/softhsmtest"
	"github.com/stskms/stskms/sm"
)

// writeP11Config writes a PKCS#11 configuration file for cfg in the
// namespace ns and returns its path.
func writeP11Config(t *testing.T, cfg pkcs11.Config, ns string) string {
	t.Helper()
	cfg.Namespace = ns
	dir := filepath.Join(t.TempDir(), ns)
	if err := pkcs11.WriteConfig(dir, cfg); err != nil {
		t.Fatal(err)
	}
	return filepath.Join(dir, pkcs11.ConfigFileName)
}

// TestInitPKCS11: `sm init --pkcs11` and `kmc init --pkcs11` on one
// SoftHSM2 token (two namespaces); the module and the KMC then open with
// the PIN from a file or $STSKMS_PKCS11_PIN, and refuse a wrong one
// without printing it.
func TestInitPKCS11(t *testing.T) {
	cfg, pin := softhsmtest.New(t).Token("cli-token")
	work := t.TempDir()
	pinFile := filepath.Join(work, "pin")
	if err := os.WriteFile(pinFile, append(pin, '\n'), 0o600); err != nil {
		t.Fatal(err)
	}
	wrongFile := filepath.Join(work, "wrong")
	if err := os.WriteFile(wrongFile, []byte("wrong-pin-9931\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	smCfg, kmcCfg := writeP11Config(t, cfg, "sm"), writeP11Config(t, cfg, "kmc")
	smDir, kmcDir := filepath.Join(work, "sm"), filepath.Join(work, "kmc")
	t.Setenv(pkcs11.PINEnv, "")

	if code, _, errOut := stskms("", "sm", "init", "--dir", filepath.Join(work, "x"), "--variant", "vending", "--test", "--pkcs11", smCfg, "--pin-file", pinFile); code == 0 || !strings.Contains(errOut, "--pkcs11") {
		t.Fatalf("sm init --test --pkcs11: exit %d, %s", code, errOut)
	}
	if code, _, errOut := stskms("", "sm", "init", "--dir", filepath.Join(work, "y"), "--variant", "vending", "--pkcs11", smCfg, "--pin-file", pinFile); code == 0 || !strings.Contains(errOut, "at least 2 officers") {
		t.Fatalf("sm init --pkcs11 without officers: exit %d, %s", code, errOut)
	}
	code, out, errOut := stskms(officerLines, "sm", "init", "--dir", smDir, "--variant", "vending", "--pkcs11", smCfg, "--pin-file", pinFile)
	if code != 0 || !strings.Contains(out, "SMID") || !strings.Contains(out, "test      false") {
		t.Fatalf("sm init --pkcs11: exit %d\n%s%s", code, out, errOut)
	}
	if info, err := sm.Stat(smDir); err != nil || info.Custody != keystore.KindPKCS11 {
		t.Fatalf("sm.json: %+v, %v", info, err)
	}
	code, out2, errOut := stskms("", "sm", "identify", "--dir", smDir, "--pin-file", pinFile)
	if code != 0 || out2 != out {
		t.Fatalf("sm identify: exit %d\n%s%s", code, out2, errOut)
	}

	if code, _, errOut := stskms("", "kmc", "init", "--dir", filepath.Join(work, "z"), "--mode", "live", "--vendor", "Utility", "--id", "K0042", "--pkcs11", kmcCfg, "--pin-file", pinFile); code == 0 || !strings.Contains(errOut, "--officers") {
		t.Fatalf("kmc init --pkcs11 without officers: exit %d, %s", code, errOut)
	}
	code, out, errOut = stskms(passphraseLines, "kmc", "init", "--dir", kmcDir, "--mode", "live", "--vendor", "Utility", "--id", "K0042", "--pkcs11", kmcCfg, "--pin-file", pinFile, "--officers", "alice,bob")
	if code != 0 || !strings.Contains(out, "mode LIVE") {
		t.Fatalf("kmc init --pkcs11: exit %d\n%s%s", code, out, errOut)
	}

	// The PIN from the environment; a wrong one, from a file or the
	// environment, is refused and not printed.
	t.Setenv(pkcs11.PINEnv, string(pin))
	if code, _, errOut := stskms("", "sm", "identify", "--dir", smDir); code != 0 {
		t.Fatalf("sm identify with $%s: %s", pkcs11.PINEnv, errOut)
	}
	if code, out, errOut := stskms("", "kmc", "pubkey", "--dir", kmcDir); code != 0 || !strings.Contains(out, "Fingerprint") {
		t.Fatalf("kmc pubkey with $%s: %s%s", pkcs11.PINEnv, out, errOut)
	}
	// The audit key is in the token: checkpoints are signed there and
	// verified with the verifier key alone.
	for _, dir := range []string{smDir, kmcDir} {
		_, key, _ := stskms("", "audit", "key", "--dir", dir)
		code, cp, errOut := stskms("", "audit", "checkpoint", "--dir", dir)
		cpFile := filepath.Join(work, filepath.Base(dir)+".cp")
		if code != 0 || os.WriteFile(cpFile, []byte(cp), 0o600) != nil {
			t.Fatalf("audit checkpoint of %s: exit %d\n%s", dir, code, errOut)
		}
		if code, out, errOut := stskms("", "audit", "verify", "--dir", dir, "--checkpoint", cpFile, "--key", strings.TrimSpace(key)); code != 0 {
			t.Fatalf("audit verify of %s: exit %d\n%s%s", dir, code, out, errOut)
		}
	}
	for _, args := range [][]string{
		{"sm", "identify", "--dir", smDir, "--pin-file", wrongFile},
		{"kmc", "pubkey", "--dir", kmcDir, "--pin-file", wrongFile},
	} {
		code, out, errOut := stskms("", args...)
		if code == 0 || !strings.Contains(errOut, "PIN") || strings.Contains(out+errOut, "wrong-pin-9931") || strings.Contains(out+errOut, string(pin)) {
			t.Fatalf("%s with a wrong PIN: exit %d\n%s%s", args[0], code, out, errOut)
		}
	}
	t.Setenv(pkcs11.PINEnv, "")
	if code, _, errOut := stskms("", "sm", "identify", "--dir", smDir); code == 0 || !strings.Contains(errOut, pkcs11.PINEnv) {
		t.Fatalf("sm identify without a PIN: exit %d, %s", code, errOut)
	}
	checkPINSources(t, smDir, kmcDir, pin)
}

// TestPrompterPipe: from a pipe the officers' credentials are read line by
// line, as before the terminal prompts.
func TestPrompterPipe(t *testing.T) {
	e := &env{stdin: strings.NewReader("alice=correct horse battery\r\n\nbob=tuna=mirror 42\n"), stdout: &bytes.Buffer{}, stderr: &bytes.Buffer{}, getenv: os.Getenv}
	creds, err := smCredentials(e)
	if err != nil || len(creds) != 2 || creds[0].Officer != "alice" || string(creds[0].Passphrase) != "correct horse battery" ||
		creds[1].Officer != "bob" || string(creds[1].Passphrase) != "tuna=mirror 42" {
		t.Fatalf("credentials %v, %v", creds, err)
	}
	e.stdin = strings.NewReader("alice=x\nno equals sign\n")
	if _, err := smCredentials(e); err == nil || strings.Contains(err.Error(), "no equals") {
		t.Fatalf("a line without '=': %v", err)
	}
	e.stdin = strings.NewReader("first passphrase\nsecond passphrase\n")
	comps, err := readOfficers(e, "alice, bob")
	if err != nil || len(comps) != 2 || comps[1].Officer != "bob" || string(comps[1].Passphrase) != "second passphrase" {
		t.Fatalf("officers %v, %v", comps, err)
	}
	e.stdin = strings.NewReader("only one\n")
	if _, err := readOfficers(e, "alice,bob"); err == nil || !strings.Contains(err.Error(), `"bob"`) {
		t.Fatalf("a missing passphrase: %v", err)
	}
	if stderr := e.stderr.(*bytes.Buffer).String(); stderr != "" {
		t.Fatalf("prompts on a pipe: %q", stderr)
	}
	if _, err := readPIN(e, "/nonexistent/pin", "t"); !errors.Is(err, pkcs11.ErrPINFile) || errors.Is(err, pkcs11.ErrPIN) {
		t.Fatalf("a missing PIN file: %v", err)
	}
}

// FuzzCredentials: any standard input gives officers' credentials or an
// error, never a panic; no credential holds a line break or (in its name)
// an '=', and an error never echoes the input.
func FuzzCredentials(f *testing.F) {
	f.Add("alice=correct horse\nbob=tuna mirror\n")
	f.Add("\r\n=\n\n")
	f.Add("no equals sign here")
	f.Fuzz(func(t *testing.T, in string) {
		e := &env{stdin: strings.NewReader(in), stdout: &bytes.Buffer{}, stderr: &bytes.Buffer{}, getenv: func(string) string { return "" }}
		creds, err := smCredentials(e)
		if err != nil {
			if creds != nil || len(in) >= 8 && strings.Contains(err.Error(), in) {
				t.Fatalf("error %v with credentials %d", err, len(creds))
			}
			return
		}
		for _, c := range creds {
			if strings.ContainsAny(c.Officer, "=\n") || bytes.ContainsRune(c.Passphrase, '\n') {
				t.Fatalf("credential %q", c.Officer)
			}
		}
	})
}
