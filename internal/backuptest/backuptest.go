// Package backuptest copies a component's database files and restores a
// backup, for tests of a restored component.
package backuptest

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"testing"

	"github.com/stskms/stskms/internal/backup"
	"github.com/stskms/stskms/internal/keptcheckpoint"
)

// Copy copies the files in directory from that match pattern (a database
// and its journal, e.g. "sm.db*") to directory to, replacing those there
// that match it: a backup, or its restore. It fails t if from has none.
func Copy(t testing.TB, from, to, pattern string) {
	t.Helper()
	old, _ := filepath.Glob(filepath.Join(to, pattern))
	for _, p := range old {
		if err := os.Remove(p); err != nil {
			t.Fatal(err)
		}
	}
	files, err := filepath.Glob(filepath.Join(from, pattern))
	if err != nil || len(files) == 0 {
		t.Fatalf("no database in %s: %v", from, err)
	}
	for _, p := range files {
		b, err := os.ReadFile(p)
		if err == nil {
			err = os.WriteFile(filepath.Join(to, filepath.Base(p)), b, 0o600)
		}
		if err != nil {
			t.Fatal(err)
		}
	}
}

// Restore restores the backup file in as component c (into the empty
// PostgreSQL database db for a PostgreSQL backup, "" otherwise) as
// `stskms … restore` does: it stages the backup, has open open the staged
// directory once with the restore to record (RestoreOf), and commits. It
// returns what open said, and fails t if any step fails.
func Restore(t testing.TB, in string, c backup.Component, db string, open func(dir string, r *keptcheckpoint.Restore) (string, error)) string {
	t.Helper()
	st, err := backup.Stage(context.Background(), in, c, db)
	if err != nil {
		t.Fatal(err)
	}
	defer st.Abort()
	said, err := open(st.Dir, RestoreOf(st.Manifest))
	if err != nil {
		t.Fatalf("restored %s: %v", c.Kind, err)
	}
	if err := st.Commit(); err != nil {
		t.Fatal(err)
	}
	return said
}

// RestoreOf returns the restore of a backup with manifest m that a test
// records: a new instance, from the backup's time and audit head, by
// "cli:tester".
func RestoreOf(m backup.Manifest) *keptcheckpoint.Restore {
	return &keptcheckpoint.Restore{Instance: keptcheckpoint.NewInstance(), Created: m.Created,
		HeadSeq: m.AuditHead.Seq, HeadHash: m.AuditHead.Hash, Actor: "cli:tester"}
}

// Tampered writes a copy of the backup file in with one bit flipped inside
// its SQLite database member, at offset bytes past the database's header
// string, and returns the copy's path (in a temporary directory of t): a
// backup whose database no longer matches its manifest's hash.
func Tampered(t testing.TB, in string, offset int) string {
	t.Helper()
	b, err := os.ReadFile(in)
	if err != nil {
		t.Fatal(err)
	}
	i := bytes.Index(b, []byte("SQLite format 3"))
	if i < 0 {
		t.Fatal("no SQLite snapshot in the backup")
	}
	b[i+offset] ^= 1
	tampered := filepath.Join(t.TempDir(), "tampered")
	if err := os.WriteFile(tampered, b, 0o600); err != nil {
		t.Fatal(err)
	}
	return tampered
}
