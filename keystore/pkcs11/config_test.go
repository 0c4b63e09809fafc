package pkcs11_test

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stskms/stskms/internal/secretfile"
	"github.com/stskms/stskms/internal/testfile"
	"github.com/stskms/stskms/keystore"
	"github.com/stskms/stskms/keystore/pkcs11"
)

var goodConfig = pkcs11.Config{Module: "/usr/lib/softhsm/libsofthsm2.so", TokenLabel: "stskms", Namespace: "sm-0001"}

func TestConfigRoundTrip(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "keystore")
	if err := pkcs11.WriteConfig(dir, goodConfig); err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(dir, pkcs11.ConfigFileName)
	st, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	if st.Mode().Perm() != 0o600 {
		t.Fatalf("mode %v", st.Mode().Perm())
	}
	got, err := pkcs11.LoadConfig(path)
	if err != nil {
		t.Fatal(err)
	}
	if got != goodConfig {
		t.Fatalf("read back %+v", got)
	}
}

func TestParseConfigRefuses(t *testing.T) {
	const head = `{"format": "stskms-pkcs11/1", `
	for name, text := range map[string]string{
		"not JSON":        `hello`,
		"array":           `[]`,
		"no format":       `{"module": "/x.so", "token_label": "t", "namespace": "n"}`,
		"other format":    `{"format": "stskms-pkcs11/2", "module": "/x.so", "token_label": "t", "namespace": "n"}`,
		"relative module": head + `"module": "x.so", "token_label": "t", "namespace": "n"}`,
		"no module":       head + `"token_label": "t", "namespace": "n"}`,
		"no label":        head + `"module": "/x.so", "namespace": "n"}`,
		"long label":      head + `"module": "/x.so", "token_label": "` + strings.Repeat("t", 33) + `", "namespace": "n"}`,
		"blank label":     head + `"module": "/x.so", "token_label": " t", "namespace": "n"}`,
		"control label":   head + `"module": "/x.so", "token_label": "t\n", "namespace": "n"}`,
		"no namespace":    head + `"module": "/x.so", "token_label": "t"}`,
		"bad namespace":   head + `"module": "/x.so", "token_label": "t", "namespace": "a/b"}`,
		"long namespace":  head + `"module": "/x.so", "token_label": "t", "namespace": "` + strings.Repeat("n", 33) + `"}`,
		"unknown field":   head + `"module": "/x.so", "token_label": "t", "namespace": "n", "slot": 1}`,
		"trailing data":   head + `"module": "/x.so", "token_label": "t", "namespace": "n"} {}`,
		"too large":       head + `"module": "/x.so", "token_label": "t", "namespace": "n"}` + strings.Repeat(" ", 20<<10),
	} {
		if _, err := pkcs11.ParseConfig([]byte(text)); !errors.Is(err, pkcs11.ErrConfig) {
			t.Errorf("%s: %v, want ErrConfig", name, err)
		}
	}
}

// TestConfigRefusesPIN: a PIN put into the file is refused, and not echoed.
func TestConfigRefusesPIN(t *testing.T) {
	for _, field := range []string{"pin", "Pin", "user_pin", "PIN"} {
		text := `{"format": "stskms-pkcs11/1", "module": "/x.so", "token_label": "t", "namespace": "n", "` + field + `": "s3cret-991"}`
		_, err := pkcs11.ParseConfig([]byte(text))
		if !errors.Is(err, pkcs11.ErrConfig) || !strings.Contains(err.Error(), "PIN") || strings.Contains(err.Error(), "s3cret-991") {
			t.Errorf("%s: %v", field, err)
		}
	}
}

// pinEnv returns a getenv that knows only vars.
func pinEnv(vars map[string]string) func(string) string {
	return func(k string) string { return vars[k] }
}

// TestReadPIN: the PIN from a file (its first line) or the environment;
// a PIN file that cannot be used is ErrPINFile, saying which of missing,
// readable by others, empty or too long it is, and never ErrPIN (the
// token was not asked) nor a passphrase error; a PIN of the wrong length
// or none is ErrPIN. No error holds the PIN.
func TestReadPIN(t *testing.T) {
	dir := t.TempDir()
	file := testfile.Write(t, dir, "pin", "1234-abcd\r\nignored\n", 0o600)
	env := func(v string) func(string) string { return pinEnv(map[string]string{pkcs11.PINEnv: v}) }
	pin, err := pkcs11.ReadPIN(file, env("from-env"))
	if err != nil || string(pin) != "1234-abcd" {
		t.Fatalf("PIN file: %q, %v", pin, err)
	}
	if pin, err := pkcs11.ReadPIN(testfile.Write(t, dir, "ro", "1234-abcd", 0o400), nil); err != nil || string(pin) != "1234-abcd" {
		t.Fatalf("PIN file of mode 0400 without a newline: %q, %v", pin, err)
	}
	pin, err = pkcs11.ReadPIN("", env("from-env"))
	if err != nil || string(pin) != "from-env" {
		t.Fatalf("PIN from the environment: %q, %v", pin, err)
	}
	check := func(name string, pin []byte, err, want error, says string) {
		t.Helper()
		if !errors.Is(err, want) || pin != nil {
			t.Errorf("%s: %q, %v, want %v", name, pin, err, want)
			return
		}
		if want == pkcs11.ErrPINFile && (errors.Is(err, pkcs11.ErrPIN) || errors.Is(err, keystore.ErrBadPassphrase)) {
			t.Errorf("%s: %v is a wrong-PIN error", name, err)
		}
		if msg := err.Error(); !strings.Contains(msg, says) || strings.Contains(msg, "1234-abcd") || strings.Contains(msg, "passphrase") {
			t.Errorf("%s: %q does not say %q, or holds the PIN or speaks of a passphrase", name, msg, says)
		}
	}
	for name, tt := range map[string]struct {
		file string
		want error
		says string
	}{
		"missing file":   {filepath.Join(dir, "none"), pkcs11.ErrPINFile, "does not exist"},
		"world-readable": {testfile.Write(t, dir, "open", "1234-abcd", 0o644), pkcs11.ErrPINFile, "chmod 600"},
		"group-readable": {testfile.Write(t, dir, "group", "1234-abcd", 0o640), pkcs11.ErrPINFile, "mode 0640"},
		"empty":          {testfile.Write(t, dir, "empty", "", 0o600), pkcs11.ErrPINFile, "is empty"},
		"empty line":     {testfile.Write(t, dir, "blank", "\n1234-abcd\n", 0o600), pkcs11.ErrPINFile, "is empty"},
		"too long":       {testfile.Write(t, dir, "long", strings.Repeat("9", 300), 0o600), pkcs11.ErrPINFile, "more than 255 bytes"},
		"a directory":    {dir, pkcs11.ErrPINFile, "not a regular file"},
		"short":          {testfile.Write(t, dir, "short", "123\n", 0o600), pkcs11.ErrPIN, "3 bytes"},
	} {
		pin, err := pkcs11.ReadPIN(tt.file, env("1234-abcd"))
		check(name, pin, err, tt.want, tt.says)
		if strings.Contains(name, "file") && err != nil && !strings.Contains(err.Error(), tt.file) {
			t.Errorf("%s: %q does not name the file", name, err)
		}
	}
	for name, f := range map[string]func() ([]byte, error){
		"none":       func() ([]byte, error) { return pkcs11.ReadPIN("", env("")) },
		"nil getenv": func() ([]byte, error) { return pkcs11.ReadPIN("", nil) },
	} {
		pin, err := f()
		check(name, pin, err, pkcs11.ErrNoPIN, pkcs11.PINEnv)
		if !errors.Is(err, pkcs11.ErrPIN) {
			t.Errorf("%s: %v is not ErrPIN", name, err)
		}
	}
	pin, err = pkcs11.ReadPIN("", env("123"))
	check("short in the environment", pin, err, pkcs11.ErrPIN, "3 bytes")
}

// TestReadPINCredential: with $CREDENTIALS_DIRECTORY holding pkcs11-pin,
// the credential comes after --pin-file and before $STSKMS_PKCS11_PIN; as
// systemd makes it (0400 owned by the user, 0440 owned by root with an
// ACL) it is read, an empty one is ErrPINFile, one that others may read is
// refused, and a directory without it falls through to the environment.
func TestReadPINCredential(t *testing.T) {
	creds, other := t.TempDir(), t.TempDir()
	cred := testfile.Write(t, creds, pkcs11.PINCredential, "cred-pin-1\n", 0o400)
	file := testfile.Write(t, other, "pin", "file-pin-1\n", 0o600)
	vars := map[string]string{pkcs11.CredentialsDirEnv: creds, pkcs11.PINEnv: "env-pin-1"}
	getenv := pinEnv(vars)
	for _, tt := range []struct{ file, want string }{{file, "file-pin-1"}, {"", "cred-pin-1"}} {
		if pin, err := pkcs11.ReadPIN(tt.file, getenv); err != nil || string(pin) != tt.want {
			t.Errorf("ReadPIN(%q): %q, %v, want %q", tt.file, pin, err, tt.want)
		}
	}
	if os.Geteuid() == 0 { // root owns the file: systemd's ACL shows as 0440
		if err := os.Chmod(cred, 0o440); err != nil {
			t.Fatal(err)
		}
		if pin, err := pkcs11.ReadPIN("", getenv); err != nil || string(pin) != "cred-pin-1" {
			t.Errorf("credential of mode 0440 owned by root: %q, %v", pin, err)
		}
	}
	for _, mode := range []os.FileMode{0o444, 0o404, 0o460, 0o410} {
		if err := os.Chmod(cred, mode); err != nil {
			t.Fatal(err)
		}
		if pin, err := pkcs11.ReadPIN("", getenv); !errors.Is(err, pkcs11.ErrPINFile) || !errors.Is(err, secretfile.ErrExposed) || pin != nil {
			t.Errorf("credential of mode %04o: %q, %v", mode, pin, err)
		}
	}
	testfile.Write(t, creds, pkcs11.PINCredential, "", 0o400)
	if pin, err := pkcs11.ReadPIN("", getenv); !errors.Is(err, pkcs11.ErrPINFile) || !strings.Contains(err.Error(), "is empty") || pin != nil {
		t.Errorf("empty credential: %q, %v", pin, err)
	}
	vars[pkcs11.CredentialsDirEnv] = other // no pkcs11-pin there
	if pin, err := pkcs11.ReadPIN("", getenv); err != nil || string(pin) != "env-pin-1" {
		t.Errorf("no credential: %q, %v, want the environment's", pin, err)
	}
}

// FuzzParseConfig: any input parses to a valid configuration or fails
// with ErrConfig, never panics, and a parsed one marshals and parses back
// to itself.
func FuzzParseConfig(f *testing.F) {
	good, _ := goodConfig.Marshal()
	f.Add(good)
	f.Add([]byte(`{"format": "stskms-pkcs11/1", "pin": "1234"}`))
	f.Add([]byte(`{}`))
	f.Add([]byte(`null`))
	f.Fuzz(func(t *testing.T, data []byte) {
		c, err := pkcs11.ParseConfig(data)
		if err != nil {
			if !errors.Is(err, pkcs11.ErrConfig) {
				t.Fatalf("error %v is not ErrConfig", err)
			}
			return
		}
		if err := c.Validate(); err != nil {
			t.Fatalf("parsed an invalid configuration: %v", err)
		}
		b, err := c.Marshal()
		if err != nil {
			t.Fatal(err)
		}
		if c2, err := pkcs11.ParseConfig(b); err != nil || c2 != c {
			t.Fatalf("round trip: %+v, %v", c2, err)
		}
	})
}
