// Package softhsmtest gives tests their own SoftHSM2 tokens: each test
// gets a token directory in its t.TempDir(), a softhsm2.conf pointing at
// it (SOFTHSM2_CONF is set for the test's process with t.Setenv, so such
// tests cannot run in parallel), and tokens initialised there with
// softhsm2-util and a random user PIN.
//
// When SoftHSM2 is not installed (or the test binary was built without
// cgo) the test is skipped with a message — unless the environment says
// CI=true, where it fails: CI installs SoftHSM2 and builds with cgo.
//
// SoftHSM2 reads its configuration when the module is initialised, and
// keystore/pkcs11 finalises the module when the last custody on it is
// locked: a test must Lock every custody it opens (t.Cleanup) for the next
// test to see its own tokens.
package softhsmtest

import (
	"crypto/rand"
	"encoding/hex"
	"os"
	"os/exec"
	"path/filepath"
	"testing"

	"github.com/stskms/stskms/keystore/pkcs11"
)

// ModuleEnv names an environment variable that gives the SoftHSM2 library
// when it is not in one of the usual places.
const ModuleEnv = "SOFTHSM2_MODULE"

// modulePaths are where distributions put libsofthsm2.so.
var modulePaths = []string{
	"/usr/lib/softhsm/libsofthsm2.so",
	"/usr/lib/x86_64-linux-gnu/softhsm/libsofthsm2.so",
	"/usr/lib/aarch64-linux-gnu/softhsm/libsofthsm2.so",
	"/usr/local/lib/softhsm/libsofthsm2.so",
	"/usr/lib64/pkcs11/libsofthsm2.so",
	"/opt/homebrew/lib/softhsm/libsofthsm2.so",
}

// Env is one test's SoftHSM2: its configuration and token directory.
type Env struct {
	t      testing.TB
	module string
	util   string
	dir    string
}

// Module returns the path of the SoftHSM2 library, or "" if there is none.
func Module() string {
	if m := os.Getenv(ModuleEnv); m != "" {
		return m
	}
	for _, p := range modulePaths {
		if _, err := os.Stat(p); err == nil {
			return p
		}
	}
	return ""
}

// New makes t's SoftHSM2 environment, or skips t (fails it if CI=true)
// when SoftHSM2 is missing.
func New(t testing.TB) *Env {
	t.Helper()
	module := Module()
	util, err := exec.LookPath("softhsm2-util")
	msg := ""
	switch {
	case !pkcs11.Available:
		msg = "this test binary was built without cgo, which PKCS#11 needs (CGO_ENABLED=1)"
	case module == "" || err != nil:
		msg = "SoftHSM2 is not installed (apt-get install softhsm2; or set " + ModuleEnv + "): PKCS#11 tests need it"
	}
	if msg != "" {
		if os.Getenv("CI") == "true" {
			t.Fatal(msg)
		}
		t.Skip(msg)
	}
	dir := t.TempDir()
	tokens := filepath.Join(dir, "tokens")
	if err := os.Mkdir(tokens, 0o700); err != nil {
		t.Fatal(err)
	}
	conf := filepath.Join(dir, "softhsm2.conf")
	text := "directories.tokendir = " + tokens + "\nobjectstore.backend = file\nlog.level = ERROR\nslots.removable = false\n"
	if err := os.WriteFile(conf, []byte(text), 0o600); err != nil {
		t.Fatal(err)
	}
	t.Setenv("SOFTHSM2_CONF", conf)
	return &Env{t: t, module: module, util: util, dir: dir}
}

// Token initialises a new token labelled label with a random user PIN and
// returns a configuration for it (namespace "test") and the PIN.
func (e *Env) Token(label string) (pkcs11.Config, []byte) {
	e.t.Helper()
	pin := random(8)
	cmd := exec.Command(e.util, "--init-token", "--free", "--label", label, "--so-pin", random(8), "--pin", pin)
	if out, err := cmd.CombinedOutput(); err != nil {
		e.t.Fatalf("softhsm2-util --init-token --label %s: %v\n%s", label, err, out)
	}
	return pkcs11.Config{Module: e.module, TokenLabel: label, Namespace: "test"}, []byte(pin)
}

// Dir returns the directory of the environment (softhsm2.conf and the
// tokens).
func (e *Env) Dir() string { return e.dir }

// random returns n random bytes in hex.
func random(n int) string {
	b := make([]byte, n)
	rand.Read(b)
	return hex.EncodeToString(b)
}
