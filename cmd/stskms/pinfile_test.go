package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stskms/stskms/keystore/pkcs11"
)

// checkPINSources runs, as subtests of TestInitPKCS11, what the user sees
// of the PIN sources with a module (smDir) and a KMC (kmcDir) whose
// custody is the token whose PIN is pin:
//
//   - PINFiles: `sm identify` and `kmc sgc list` with a missing PIN file,
//     one others may read, an empty one and a wrong PIN say four different
//     things, none of them "passphrase", and never print a PIN;
//   - Credential: the systemd credential pkcs11-pin in
//     $CREDENTIALS_DIRECTORY opens both without --pin-file, before
//     $STSKMS_PKCS11_PIN, and an empty one is refused as such (no
//     prompt, no fall-through to the environment).
func checkPINSources(t *testing.T, smDir, kmcDir string, pin []byte) {
	work := t.TempDir()
	write := func(dir, name, data string, mode os.FileMode) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, []byte(data), 0o600); err != nil {
			t.Fatal(err)
		}
		if err := os.Chmod(p, mode); err != nil {
			t.Fatal(err)
		}
		return p
	}
	commands := [][]string{{"sm", "identify", "--dir", smDir}, {"kmc", "sgc", "list", "--dir", kmcDir}}
	t.Setenv(pkcs11.PINEnv, "")
	t.Setenv(pkcs11.CredentialsDirEnv, "")

	t.Run("PINFiles", func(t *testing.T) {
		cases := []struct{ name, file, says string }{
			{"missing", filepath.Join(work, "none"), "does not exist"},
			{"readable by others", write(work, "open", string(pin)+"\n", 0o644), "chmod 600"},
			{"empty", write(work, "empty", "", 0o600), "is empty"},
			{"wrong PIN", write(work, "wrong", "wrong-pin-7319\n", 0o600), "wrong PIN"},
		}
		for _, args := range commands {
			seen := map[string]string{}
			for _, c := range cases {
				code, out, errOut := stskms("", append(args, "--pin-file", c.file)...)
				msg := strings.TrimSpace(errOut)
				if code != 1 || !strings.Contains(msg, c.says) || strings.Contains(msg, "passphrase") ||
					strings.Contains(out+errOut, string(pin)) || strings.Contains(out+errOut, "wrong-pin-7319") {
					t.Errorf("%s with a PIN file %s: exit %d, %q; want exit 1 saying %q", args[0], c.name, code, msg, c.says)
				}
				if c.name != "wrong PIN" && !strings.Contains(msg, c.file) {
					t.Errorf("%s with a PIN file %s: %q does not name the file", args[0], c.name, msg)
				}
				if other, ok := seen[msg]; ok {
					t.Errorf("%s: a PIN file %s and %s say the same: %q", args[0], c.name, other, msg)
				}
				seen[msg] = c.name
			}
		}
	})

	t.Run("Credential", func(t *testing.T) {
		creds := t.TempDir()
		cred := write(creds, pkcs11.PINCredential, string(pin)+"\n", 0o400)
		t.Setenv(pkcs11.CredentialsDirEnv, creds)
		t.Setenv(pkcs11.PINEnv, "wrong-pin-7319") // the credential comes first
		for _, args := range commands {
			if code, out, errOut := stskms("", args...); code != 0 {
				t.Errorf("%s with the PIN credential: exit %d\n%s%s", args[0], code, out, errOut)
			}
		}
		write(creds, pkcs11.PINCredential, "", 0o400)
		for _, args := range commands {
			code, _, errOut := stskms("", args...)
			if code != 1 || !strings.Contains(errOut, cred) || !strings.Contains(errOut, "is empty") {
				t.Errorf("%s with an empty PIN credential: exit %d, %s", args[0], code, errOut)
			}
		}
	})
}
