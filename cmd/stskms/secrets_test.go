package main

import (
	"bytes"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stskms/stskms/internal/secretfile"
	"github.com/stskms/stskms/kmc"
	kmcapi "github.com/stskms/stskms/kmc/api"
	smapi "github.com/stskms/stskms/sm/api"
)

// writeTokenFile writes a token file of the given format with mode perm.
func writeTokenFile(t *testing.T, path, format string, testOnly bool, perm os.FileMode) {
	t.Helper()
	flag := map[bool]string{false: "false", true: "true"}[testOnly]
	body := `{"format":"` + format + `","test_only":` + flag + `,"tokens":[` +
		`{"token":"officer-0123456789abcdef","role":"officer","name":"alice"},` +
		`{"token":"operator-0123456789abcdef","role":"operator","name":"pos"}]}`
	if err := os.WriteFile(path, []byte(body), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.Chmod(path, perm); err != nil {
		t.Fatal(err)
	}
}

// TestServeTokenFileModes: a live KMC and a production module refuse a
// bearer-token file that others may read, naming it, its mode and chmod
// 600; test components warn about a TEST-ONLY one and go on.
func TestServeTokenFileModes(t *testing.T) {
	var out, errOut bytes.Buffer
	e := &env{stdin: strings.NewReader(""), stdout: &out, stderr: &errOut, getenv: func(string) string { return "" }}
	for _, perm := range []os.FileMode{0o644, 0o640, 0o604} {
		dir := t.TempDir()
		path := filepath.Join(dir, kmcapi.TokenFile)
		writeTokenFile(t, path, "stskms-kmc-api-tokens/1", false, perm)
		_, err := kmcAPITokens(e, dir, "", kmc.ModeLive)
		if !errors.Is(err, secretfile.ErrExposed) || !strings.Contains(err.Error(), path) || !strings.Contains(err.Error(), "chmod 600") {
			t.Errorf("live KMC, token file mode %04o: %v", perm, err)
		}
		if _, err := kmcAPITokens(e, t.TempDir(), path, kmc.ModeLive); !errors.Is(err, secretfile.ErrExposed) {
			t.Errorf("live KMC, --tokens file mode %04o: %v", perm, err)
		}
		smPath := filepath.Join(dir, smapi.TokenFile)
		writeTokenFile(t, smPath, "stskms-sm-api-tokens/1", false, perm)
		if _, err := smAPITokens(e, dir, false); !errors.Is(err, secretfile.ErrExposed) || !strings.Contains(err.Error(), smPath) {
			t.Errorf("production module, token file mode %04o: %v", perm, err)
		}
		if err := os.Chmod(path, 0o600); err != nil {
			t.Fatal(err)
		}
		if err := os.Chmod(smPath, 0o600); err != nil {
			t.Fatal(err)
		}
		if _, err := kmcAPITokens(e, dir, "", kmc.ModeLive); err != nil {
			t.Errorf("live KMC, token file mode 0600: %v", err)
		}
		if _, err := smAPITokens(e, dir, false); err != nil {
			t.Errorf("production module, token file mode 0600: %v", err)
		}
	}
	// Test components: a TEST-ONLY file others may read gives a warning.
	dir := t.TempDir()
	writeTokenFile(t, filepath.Join(dir, kmcapi.TokenFile), "stskms-kmc-api-tokens/1", true, 0o644)
	writeTokenFile(t, filepath.Join(dir, smapi.TokenFile), "stskms-sm-api-tokens/1", true, 0o644)
	errOut.Reset()
	if _, err := kmcAPITokens(e, dir, "", kmc.ModeTest); err != nil || !strings.Contains(errOut.String(), "warning") ||
		!strings.Contains(errOut.String(), "chmod 600") {
		t.Errorf("test KMC, TEST-ONLY token file 0644: %v, %q", err, errOut.String())
	}
	errOut.Reset()
	if _, err := smAPITokens(e, dir, true); err != nil || !strings.Contains(errOut.String(), "warning") {
		t.Errorf("test module, TEST-ONLY token file 0644: %v, %q", err, errOut.String())
	}
}

// TestConfigFileWithSecretModes: a configuration file holding a database
// password (or a setting named like a secret) is refused when others may
// read it; the same file 0600, or one without secrets, is read.
func TestConfigFileWithSecretModes(t *testing.T) {
	for _, tt := range []struct {
		text string
		perm os.FileMode
		ok   bool
	}{
		{"[audit.verify]\ndb = \"postgres://u:secret@127.0.0.1:1/x\"\n", 0o644, false},
		{"[audit]\ndb = \"postgres://u@127.0.0.1:1/x?password=secret\"\n", 0o640, false},
		{"[audit.verify]\ndb = \"postgres://u:secret@127.0.0.1:1/x\"\n", 0o600, true},
		{"[audit.verify]\ndb = \"postgres://u@127.0.0.1:1/x\"\n", 0o644, true},
		{"[audit.verify]\njson = true\n", 0o644, true},
	} {
		path := filepath.Join(t.TempDir(), "stskms.toml")
		if err := os.WriteFile(path, []byte(tt.text), 0o600); err != nil {
			t.Fatal(err)
		}
		if err := os.Chmod(path, tt.perm); err != nil {
			t.Fatal(err)
		}
		_, err := loadConfig(path)
		if tt.ok != (err == nil) || (!tt.ok && (!errors.Is(err, secretfile.ErrExposed) || strings.Contains(err.Error(), "secret@"))) {
			t.Errorf("%q mode %04o: %v", tt.text, tt.perm, err)
		}
	}
}
