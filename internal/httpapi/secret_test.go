package httpapi_test

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stskms/stskms/internal/httpapi"
	"github.com/stskms/stskms/internal/secretfile"
	"github.com/stskms/stskms/internal/testfile"
)

// TestTokenFileModes: a token file of live tokens that others may read is
// refused, naming the file, its mode and chmod 600; the same file 0600
// loads; a TEST-ONLY file is not refused for its mode (its reader warns).
func TestTokenFileModes(t *testing.T) {
	dir := t.TempDir()
	write := func(name string, testOnly bool, mode os.FileMode) string {
		flag := "false"
		if testOnly {
			flag = "true"
		}
		body := `{"format":"f/1","test_only":` + flag + `,"tokens":[{"token":"0123456789abcdefghij","role":"r","name":"n"}]}`
		return testfile.Write(t, dir, name, body, mode)
	}
	for _, mode := range []os.FileMode{0o644, 0o640, 0o604, 0o660, 0o666} {
		path := write("live", false, mode)
		_, err := httpapi.LoadTokenFile(path, "f/1")
		if !errors.Is(err, secretfile.ErrExposed) || !strings.Contains(err.Error(), path) || !strings.Contains(err.Error(), "chmod 600") {
			t.Errorf("live token file mode %04o: %v; want it refused naming the file and chmod 600", mode, err)
		}
		if _, err := httpapi.LoadTokenFile(write("test", true, mode), "f/1"); err != nil {
			t.Errorf("TEST-ONLY token file mode %04o: %v", mode, err)
		}
	}
	for _, mode := range []os.FileMode{0o600, 0o400} {
		if f, err := httpapi.LoadTokenFile(write("live", false, mode), "f/1"); err != nil || len(f.Tokens) != 1 {
			t.Errorf("live token file mode %04o: %+v, %v", mode, f, err)
		}
	}
}

// TestTokenFileStrict: a token file with a duplicate, misnamed or unknown
// member is refused naming the member, and the error never shows a token.
func TestTokenFileStrict(t *testing.T) {
	const secret = "s3cr3t-token-0123456789abcdef"
	for name, body := range map[string]string{
		"duplicate": `{"format":"test-tokens/1","tokens":[{"token":"` + secret + `","token":"` + secret + `x","role":"reader","name":"a"}]}`,
		"case":      `{"format":"test-tokens/1","Tokens":[{"token":"` + secret + `","role":"reader","name":"a"}]}`,
		"unknown":   `{"format":"test-tokens/1","tokens":[{"token":"` + secret + `","role":"reader","name":"a","admin":true}]}`,
		"trailing":  `{"format":"test-tokens/1","tokens":[{"token":"` + secret + `","role":"reader","name":"a"}]} {}`,
	} {
		path := filepath.Join(t.TempDir(), "tokens.json")
		if err := os.WriteFile(path, []byte(body), 0o600); err != nil {
			t.Fatal(err)
		}
		_, err := httpapi.LoadTokenFile(path, format)
		if err == nil {
			t.Errorf("%s: accepted", name)
			continue
		}
		if strings.Contains(err.Error(), secret) {
			t.Errorf("%s: the error shows the token: %v", name, err)
		}
		t.Logf("%s: %v", name, err)
	}
}
