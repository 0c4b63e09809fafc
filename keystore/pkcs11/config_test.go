package pkcs11_test

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

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

func TestReadPIN(t *testing.T) {
	dir := t.TempDir()
	file := filepath.Join(dir, "pin")
	if err := os.WriteFile(file, []byte("1234-abcd\r\nignored\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	env := func(v string) func(string) string {
		return func(k string) string {
			if k == pkcs11.PINEnv {
				return v
			}
			return ""
		}
	}
	pin, err := pkcs11.ReadPIN(file, env("from-env"))
	if err != nil || string(pin) != "1234-abcd" {
		t.Fatalf("PIN file: %q, %v", pin, err)
	}
	pin, err = pkcs11.ReadPIN("", env("from-env"))
	if err != nil || string(pin) != "from-env" {
		t.Fatalf("PIN from the environment: %q, %v", pin, err)
	}
	for name, f := range map[string]func() ([]byte, error){
		"none":         func() ([]byte, error) { return pkcs11.ReadPIN("", env("")) },
		"nil getenv":   func() ([]byte, error) { return pkcs11.ReadPIN("", nil) },
		"short":        func() ([]byte, error) { return pkcs11.ReadPIN("", env("123")) },
		"missing file": func() ([]byte, error) { return pkcs11.ReadPIN(filepath.Join(dir, "none"), nil) },
		"world-readable": func() ([]byte, error) {
			p := filepath.Join(dir, "open")
			if err := os.WriteFile(p, []byte("1234-abcd"), 0o644); err != nil {
				t.Fatal(err)
			}
			return pkcs11.ReadPIN(p, nil)
		},
		"too long": func() ([]byte, error) {
			p := filepath.Join(dir, "long")
			if err := os.WriteFile(p, []byte(strings.Repeat("9", 300)), 0o600); err != nil {
				t.Fatal(err)
			}
			return pkcs11.ReadPIN(p, nil)
		},
	} {
		pin, err := f()
		if !errors.Is(err, pkcs11.ErrPIN) || pin != nil {
			t.Errorf("%s: %q, %v, want ErrPIN", name, pin, err)
		}
		if err != nil && strings.Contains(err.Error(), "1234-abcd") {
			t.Errorf("%s: error %q holds the PIN", name, err)
		}
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
