package main

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"

	"github.com/stskms/stskms/internal/secretfile"
	"github.com/stskms/stskms/kmc"
	"github.com/stskms/stskms/sm"
	"github.com/stskms/stskms/store"
)

// A PostgreSQL password is never recorded in kmc.json, sm.json or
// gateway.json: those keep the URL without it, and every command that opens
// the database reads the password, in this order, from
//
//   - --db-password-file FILE (mode 0600 or 0400; its first line);
//   - $CREDENTIALS_DIRECTORY/db-password, the systemd credential
//     (LoadCredential=db-password:…), if the service has one;
//   - libpq's own places, which pgx reads: $PGPASSWORD, $PGPASSFILE or
//     ~/.pgpass (mode 0600).
//
// A password still in the URL (a directory made before, or --db given
// with one) is used as it is.

// dbPasswordCredential is the systemd credential of the database password.
const dbPasswordCredential = "db-password"

// maxDBPassword bounds a password file.
const maxDBPassword = 4096

const dbPasswordUsage = "file holding the PostgreSQL password (mode 0600; its first line); default: the\n" +
	"                 systemd credential " + dbPasswordCredential + " ($CREDENTIALS_DIRECTORY), else $PGPASSFILE or ~/.pgpass"

// errDBPassword marks a password file that cannot be used.
var errDBPassword = errors.New("database password")

// addDBPasswordFlag adds --db-password-file to fs.
func addDBPasswordFlag(fs *flagSet) *string {
	return fs.String("db-password-file", "", dbPasswordUsage)
}

// dbPassword returns the database password of --db-password-file file or
// of the systemd credential, or "" to leave it to pgx (see above).
func dbPassword(e *env, file string) (string, error) {
	if file != "" {
		return readDBPassword(file, ownerOnly)
	}
	creds := e.getenv(secretfile.CredentialsDirEnv)
	if creds == "" {
		return "", nil
	}
	path := filepath.Join(creds, dbPasswordCredential)
	if _, err := os.Stat(path); errors.Is(err, fs.ErrNotExist) {
		return "", nil
	}
	return readDBPassword(path, secretfile.CheckCredential)
}

// ownerOnly accepts a password file readable by its owner only
// (secretfile.CheckMode).
func ownerOnly(path string, st fs.FileInfo) error { return secretfile.CheckMode(path, st.Mode()) }

// readDBPassword reads the first line of a password file that check
// accepts: a file readable by its owner only, or a systemd credential as
// systemd makes it (secretfile.CheckCredential). Its errors name the
// file, never its content.
func readDBPassword(path string, check func(string, fs.FileInfo) error) (string, error) {
	f, err := os.Open(path)
	if err != nil {
		return "", fmt.Errorf("%w: %w", errDBPassword, err)
	}
	defer f.Close()
	st, err := f.Stat()
	if err == nil {
		err = check(path, st)
	}
	if err != nil {
		return "", fmt.Errorf("%w: %w", errDBPassword, err)
	}
	data, err := io.ReadAll(io.LimitReader(f, maxDBPassword+1))
	if err != nil {
		return "", fmt.Errorf("%w: %s: %w", errDBPassword, path, err)
	}
	defer clear(data)
	line, _, _ := bytes.Cut(data, []byte{'\n'})
	line = bytes.TrimSuffix(line, []byte{'\r'})
	switch {
	case len(data) > maxDBPassword:
		return "", fmt.Errorf("%w: %s is larger than %d bytes", errDBPassword, path, maxDBPassword)
	case len(line) == 0:
		return "", fmt.Errorf("%w: %s is empty", errDBPassword, path)
	}
	return string(line), nil
}

// withDBPassword returns dsn with the password of --db-password-file file
// (or the credential) put in, for opening it (store.WithPassword).
func withDBPassword(e *env, dsn, file string) (string, error) {
	pw, err := dbPassword(e, file)
	if err != nil {
		return "", err
	}
	return store.WithPassword(dsn, pw), nil
}

// warnRecordedPassword warns that the directory's what (kmc.json, sm.json,
// gateway.json) still records the database password of dsn, and says how
// to move it out.
func warnRecordedPassword(e *env, who, what, dir, dsn string) {
	if store.HasPassword(dsn) {
		fmt.Fprintf(e.stderr, "stskms %s: warning: %s records the database password in plain text; "+
			"move it into a file with `stskms config db-password --dir %s --out FILE`, then give --db-password-file FILE "+
			"(docs/config.md)\n", who, filepath.Join(dir, what), dir)
	}
}

// dbPassword is the password of the KMC's database (dbPassword), after a
// warning if kmc.json still records one.
func (f *kmcFlags) dbPassword(e *env) (string, error) {
	if dsn, err := kmc.DirDatabase(f.dir); err == nil {
		warnRecordedPassword(e, "kmc", kmc.ConfigFile, f.dir, dsn)
	}
	return dbPassword(e, f.dbPasswordFile)
}

// dbPassword is the password of the module's database (dbPassword), after
// a warning if sm.json still records one.
func (f *smFlags) dbPassword(e *env, info sm.ModuleInfo) (string, error) {
	warnRecordedPassword(e, "sm", sm.ModuleFile, f.dir, info.Database)
	return dbPassword(e, f.dbPasswordFile)
}

// noteDBPassword tells, after an init given the database URL dsn with a
// password, that the password was not recorded and how later commands get
// it.
func noteDBPassword(e *env, who, dsn string) {
	if store.HasPassword(dsn) {
		fmt.Fprintf(e.stderr, "stskms %s init: the database password is not recorded: give it to later commands with "+
			"--db-password-file FILE (or [%s] db-password-file), the systemd credential %s, or $PGPASSFILE (docs/config.md)\n",
			who, who, dbPasswordCredential)
	}
}

// runConfigDBPassword is "config db-password": it moves the password a
// directory made by an older stskms still records into a new file.
func runConfigDBPassword(e *env, args []string) error {
	fs := newFlags("config db-password", "--dir DIR --out FILE",
		"Moves the database password that a KMC's kmc.json or a module's sm.json still records\n"+
			"(directories made before init stopped recording it) into FILE, made with mode 0600\n"+
			"(it must not exist), then rewrites the JSON without it. Give the file to every later\n"+
			"command with --db-password-file FILE (or db-password-file in [kmc] or [sm]), or load\n"+
			"it as the systemd credential "+dbPasswordCredential+".")
	dir := fs.String("dir", "", "the KMC's or the module's directory")
	out := fs.String("out", "", "the password file to make")
	if err := fs.parseNoArgs(e, args); err != nil {
		return err
	}
	if *dir == "" || *out == "" {
		return usageError("give --dir DIR and --out FILE")
	}
	keep := func(password string) error { return writePasswordFile(*out, password) }
	_, err := sm.Stat(*dir)
	switch {
	case err == nil:
		err = sm.MoveDatabasePassword(*dir, keep)
	case errors.Is(err, sm.ErrNoModule):
		err = kmc.MoveDatabasePassword(*dir, keep)
	}
	if err != nil {
		return err
	}
	fmt.Fprintf(e.stdout, "moved the database password to %s: give --db-password-file %s to the commands of %s\n", *out, *out, *dir)
	return nil
}

// writePasswordFile makes path, mode 0600, holding password: a new file
// only, so that no other secret is overwritten.
func writePasswordFile(path, password string) error {
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if err != nil {
		return fmt.Errorf("%w: %w", errDBPassword, err)
	}
	_, err = f.WriteString(password + "\n")
	if err == nil {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		os.Remove(path)
		return fmt.Errorf("%w: %w", errDBPassword, err)
	}
	return nil
}
