package main

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stskms/stskms/kmc"
	"github.com/stskms/stskms/sm"
	"github.com/stskms/stskms/store"
	"github.com/stskms/stskms/store/storetest"
)

// TestDBPasswordSources: --db-password-file, then the systemd credential,
// then nothing (pgx's PGPASSFILE); a file others may read, an empty one
// or one too large is refused, naming the file and never its content.
func TestDBPasswordSources(t *testing.T) {
	dir := t.TempDir()
	write := func(name, text string, mode os.FileMode) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, []byte(text), mode); err != nil {
			t.Fatal(err)
		}
		return p
	}
	file := write("pw", "hunter2\nsecond line\n", 0o600)
	creds := filepath.Join(dir, "creds")
	if err := os.Mkdir(creds, 0o700); err != nil {
		t.Fatal(err)
	}
	vars := map[string]string{}
	e := &env{getenv: func(k string) string { return vars[k] }}
	for _, tc := range []struct {
		name, file, creds, want string
	}{
		{"none", "", "", ""},
		{"file", file, "", "hunter2"},
		{"credential directory without one", "", creds, ""},
	} {
		vars["CREDENTIALS_DIRECTORY"] = tc.creds
		if got, err := dbPassword(e, tc.file); err != nil || got != tc.want {
			t.Errorf("%s: %q, %v; want %q", tc.name, got, err, tc.want)
		}
	}
	if err := os.WriteFile(filepath.Join(creds, dbPasswordCredential), []byte("from-systemd\r\n"), 0o400); err != nil {
		t.Fatal(err)
	}
	vars["CREDENTIALS_DIRECTORY"] = creds
	if got, err := dbPassword(e, ""); err != nil || got != "from-systemd" {
		t.Errorf("credential: %q, %v", got, err)
	}
	if got, err := dbPassword(e, file); err != nil || got != "hunter2" {
		t.Errorf("the flag beats the credential: %q, %v", got, err)
	}
	// A credential others may read is not one systemd made: refused, not
	// skipped for pgx's places.
	if err := os.Chmod(filepath.Join(creds, dbPasswordCredential), 0o404); err != nil {
		t.Fatal(err)
	}
	if _, err := dbPassword(e, ""); !errors.Is(err, errDBPassword) || strings.Contains(err.Error(), "from-systemd") {
		t.Errorf("credential of mode 0404: %v", err)
	}
	for _, tc := range []struct{ name, path, want string }{
		{"too open", write("open", "hunter2\n", 0o644), "chmod"},
		{"empty", write("empty", "\n", 0o600), "empty"},
		{"too large", write("large", strings.Repeat("x", maxDBPassword+1), 0o600), "larger"},
		{"missing", filepath.Join(dir, "missing"), "missing"},
	} {
		_, err := dbPassword(e, tc.path)
		if !errors.Is(err, errDBPassword) || !strings.Contains(err.Error(), tc.want) || strings.Contains(err.Error(), "hunter2") {
			t.Errorf("%s: %v", tc.name, err)
		}
	}
}

// TestInitKeepsDBPasswordOut: kmc init and sm init given a PostgreSQL URL
// with a password record it without (and say how later commands get it);
// a KMC directory whose kmc.json still holds one (made by an older
// stskms) opens with a warning until config db-password moves it into a
// file of mode 0600, which --db-password-file then reads.
func TestInitKeepsDBPasswordOut(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		if db.Dialect() != store.PostgreSQL {
			return // SQLite has no password
		}
		dsn := store.WithPassword(storetest.DSN(t, db), "hunter2") // the test server ignores it
		dir := filepath.Join(t.TempDir(), "kmc")
		rc, _, errOut := runCLI("kmc", "init", "--dir", dir, "--mode", "test", "--db", dsn)
		if rc != 0 || !strings.Contains(errOut, "password is not recorded") {
			t.Fatalf("kmc init: exit %d, %s", rc, errOut)
		}
		cfgPath := filepath.Join(dir, kmc.ConfigFile)
		cfg, err := os.ReadFile(cfgPath)
		if err != nil || strings.Contains(string(cfg), "hunter2") || !strings.Contains(string(cfg), "postgres") {
			t.Fatalf("%s: %s %v", kmc.ConfigFile, cfg, err)
		}
		if rc, _, errOut := runCLI("kmc", "sgc", "list", "--dir", dir); rc != 0 || strings.Contains(errOut, "warning: ") {
			t.Errorf("kmc sgc list: exit %d, %s", rc, errOut)
		}

		// An older KMC: the password in kmc.json.
		bare, _, _ := store.SplitPassword(dsn)
		old := strings.Replace(string(cfg), strings.ReplaceAll(bare, "&", `\u0026`), strings.ReplaceAll(dsn, "&", `\u0026`), 1)
		if old == string(cfg) {
			t.Fatalf("cannot put the password back into %s", cfg)
		}
		if err := os.WriteFile(cfgPath, []byte(old), 0o600); err != nil {
			t.Fatal(err)
		}
		rc, _, errOut = runCLI("kmc", "sgc", "list", "--dir", dir)
		if rc != 0 || !strings.Contains(errOut, "records the database password") || !strings.Contains(errOut, "config db-password") ||
			strings.Contains(errOut, "hunter2") {
			t.Errorf("kmc sgc list on an older KMC: exit %d, %s", rc, errOut)
		}
		pwFile := filepath.Join(t.TempDir(), "db-password")
		if rc, out, errOut := runCLI("config", "db-password", "--dir", dir, "--out", pwFile); rc != 0 {
			t.Fatalf("config db-password: exit %d, %s %s", rc, out, errOut)
		}
		if data, err := os.ReadFile(pwFile); err != nil || string(data) != "hunter2\n" {
			t.Errorf("%s: %q, %v", pwFile, data, err)
		}
		if fi, err := os.Stat(pwFile); err != nil || fi.Mode().Perm() != 0o600 {
			t.Errorf("%s: %v, %v", pwFile, fi.Mode(), err)
		}
		if cfg, _ := os.ReadFile(cfgPath); strings.Contains(string(cfg), "hunter2") {
			t.Errorf("%s after config db-password: %s", kmc.ConfigFile, cfg)
		}
		if rc, _, errOut := runCLI("kmc", "sgc", "list", "--dir", dir, "--db-password-file", pwFile); rc != 0 || strings.Contains(errOut, "warning: ") {
			t.Errorf("kmc sgc list --db-password-file: exit %d, %s", rc, errOut)
		}
		if rc, _, errOut := runCLI("config", "db-password", "--dir", dir, "--out", pwFile+"2"); rc != 1 || !strings.Contains(errOut, "records no database password") {
			t.Errorf("config db-password again: exit %d, %s", rc, errOut)
		}
	})
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		if db.Dialect() != store.PostgreSQL {
			return
		}
		dsn := store.WithPassword(storetest.DSN(t, db), "hunter2")
		dir := filepath.Join(t.TempDir(), "sm")
		rc, _, errOut := runCLI("sm", "init", "--dir", dir, "--variant", "vending", "--test", "--dsn", dsn)
		if rc != 0 || !strings.Contains(errOut, "password is not recorded") {
			t.Fatalf("sm init: exit %d, %s", rc, errOut)
		}
		if data, err := os.ReadFile(filepath.Join(dir, sm.ModuleFile)); err != nil || strings.Contains(string(data), "hunter2") {
			t.Errorf("%s: %s %v", sm.ModuleFile, data, err)
		}
		if rc, _, errOut := runCLI("sm", "identify", "--dir", dir); rc != 0 {
			t.Errorf("sm identify: exit %d, %s", rc, errOut)
		}
	})
}
