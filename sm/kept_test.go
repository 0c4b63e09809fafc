package sm_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"net/url"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/stskms/stskms/audit"
	"github.com/stskms/stskms/internal/backuptest"
	"github.com/stskms/stskms/internal/keptcheckpoint"
	"github.com/stskms/stskms/keystore"
	"github.com/stskms/stskms/keystore/pkcs11/softhsmtest"
	"github.com/stskms/stskms/sm"
	"github.com/stskms/stskms/store"
	"github.com/stskms/stskms/store/storetest"
	"github.com/stskms/stskms/sts"
)

// TestRestoredDatabaseRefused is the test: copy the database,
// issue tokens, restore the copy — the module opens in its error state
// and refuses to issue, naming the sizes, until the officers accept the
// rollback (audited); a witness file got every checkpoint kept.
func TestRestoredDatabaseRefused(t *testing.T) {
	witness := filepath.Join(t.TempDir(), "witness")
	f := newFixture(t, nil, sm.Vending, func(o *sm.Options) { o.Witnesses = []string{witness} })
	mk := f.rollBack()

	m, err := sm.Open(f.ctx, f.dir, f.opts)
	if err != nil {
		t.Fatal(err)
	}
	fault := m.Fault()
	if !errors.Is(fault, sm.ErrSelfTest) || !errors.Is(fault, audit.ErrRolledBack) ||
		!strings.Contains(fault.Error(), "rolled back") || !strings.Contains(fault.Error(), "accept-rollback") {
		t.Fatalf("restored database: fault %v, want rolled back", fault)
	}
	_, err = m.Credit(f.ctx, operator, sm.CreditRequest{Meter: mk, Sub: sts.Water, Amount: 600})
	if !errors.Is(err, sm.ErrSelfTest) || !errors.Is(err, audit.ErrRolledBack) {
		t.Fatalf("a restored module issued: %v", err)
	}
	m.Close()
	// Closing a refused module keeps nothing: it still refuses.
	m, err = sm.Open(f.ctx, f.dir, f.opts)
	if err != nil {
		t.Fatal(err)
	}
	if m.Fault() == nil {
		t.Fatal("a restored database opened without error the second time")
	}
	m.Close()

	accept := f.opts
	accept.AcceptRollback = true
	m, err = sm.Open(f.ctx, f.dir, accept)
	if err != nil {
		t.Fatal(err)
	}
	if m.Fault() != nil || !strings.Contains(m.AcceptedRollback(), "kept checkpoint had") {
		t.Fatalf("accept-rollback: fault %v, accepted %q", m.Fault(), m.AcceptedRollback())
	}
	if actions, _ := auditActions(t, m); !slices.Contains(actions, "sm.rollback.accept") {
		t.Fatalf("the acceptance is not in the audit log: %v", actions)
	}
	m.Close()
	f.reopen()
	if a := f.m.AcceptedRollback(); a != "" {
		t.Fatalf("nothing to accept, yet: %q", a)
	}
	w, err := os.ReadFile(witness)
	if err != nil || bytes.Count(w, []byte("\n— ")) < 4 {
		t.Fatalf("witness file: %v\n%s", err, w)
	}
}

// TestForgedKeptCheckpoint: a kept checkpoint altered (here its size) does
// not verify, and the module refuses to serve rather than trust the
// database unchecked.
func TestForgedKeptCheckpoint(t *testing.T) {
	f := newFixture(t, nil, sm.Vending)
	f.m.Close()
	path := filepath.Join(f.dir, sm.KeystoreDir, keptcheckpoint.FileName)
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	lines := strings.SplitN(string(b), "\n", 3)
	lines[1] = "1"
	if err := os.WriteFile(path, []byte(strings.Join(lines, "\n")), 0o600); err != nil {
		t.Fatal(err)
	}
	m, err := sm.Open(context.Background(), f.dir, f.opts)
	if err != nil {
		t.Fatal(err)
	}
	defer m.Close()
	if fault := m.Fault(); !errors.Is(fault, audit.ErrBadCheckpoint) || !strings.Contains(fault.Error(), "forged") {
		t.Fatalf("forged kept checkpoint: fault %v", fault)
	}
}

// TestKeepCheckpointsCadence: a serving module keeps a checkpoint once its
// log has grown by the given number of records, and stops when told.
func TestKeepCheckpointsCadence(t *testing.T) {
	f := newFixture(t, nil, sm.Vending)
	path := filepath.Join(f.dir, sm.KeystoreDir, keptcheckpoint.FileName)
	keptSize := func() int64 {
		b, err := os.ReadFile(path)
		if err != nil {
			t.Fatal(err)
		}
		n, err := keptcheckpoint.Size(b)
		if err != nil {
			t.Fatal(err)
		}
		return n
	}
	before := keptSize()
	ctx, cancel := context.WithCancel(f.ctx)
	done := make(chan error, 1)
	go func() { done <- f.m.KeepCheckpoints(ctx, time.Hour, 2) }()
	for range 2 {
		if _, err := f.m.Selftest(f.ctx, auditor); err != nil {
			t.Fatal(err)
		}
	}
	log, _ := f.m.Audit(auditor)
	size, err := log.Size(f.ctx)
	if err != nil || size < before+2 {
		t.Fatalf("log size %d, %v; want at least %d", size, err, before+2)
	}
	// The guard may keep as soon as the log is 2 records ahead, so the
	// checkpoint it keeps covers at least before+2 records, perhaps not all.
	deadline := time.Now().Add(30 * time.Second)
	for keptSize() < before+2 {
		if time.Now().After(deadline) {
			t.Fatalf("kept checkpoint of %d records, the log has %d (%d kept before): none kept after 2 records", keptSize(), size, before)
		}
		time.Sleep(10 * time.Millisecond)
	}
	kept := keptSize()
	if now, err := log.Size(f.ctx); err != nil || kept > now {
		t.Fatalf("kept checkpoint of %d records, the log has %d (%v)", kept, now, err)
	}
	cancel()
	if err := <-done; !errors.Is(err, context.Canceled) {
		t.Fatalf("KeepCheckpoints stopped with %v, want context.Canceled", err)
	}
}

// TestRestoredPKCS11Module: a production module whose custody is a
// SoftHSM2 token (the checkpoint kept in the token, as a data object)
// refuses to issue from a restored database until accept-rollback, which
// the token's PIN and two officers registered with it authorise — the PIN
// alone, or an officer's wrong passphrase, does not.
func TestRestoredPKCS11Module(t *testing.T) {
	ctx := context.Background()
	cfg, pin := softhsmtest.New(t).Token("sm-token")
	cfg.Namespace = "sm"
	dir := filepath.Join(t.TempDir(), "sm")
	if _, err := sm.Init(ctx, dir, sm.Vending, false, sm.Options{PKCS11: &cfg, PIN: pin, Officers: releaseOfficers()}); err != nil {
		t.Fatal(err)
	}
	open := func(accept bool) *sm.Module {
		t.Helper()
		var o []keystore.Component
		if accept {
			o = releaseOfficers()
		}
		m, err := sm.Open(ctx, dir, sm.Options{PIN: pin, AcceptRollback: accept, Officers: o})
		if err != nil {
			t.Fatal(err)
		}
		return m
	}
	open(false).Close()
	backup := t.TempDir()
	backuptest.Copy(t, dir, backup, "sm.db*")
	m := open(false)
	if _, err := m.Selftest(ctx, auditor); err != nil {
		t.Fatal(err)
	}
	m.Close()
	backuptest.Copy(t, backup, dir, "sm.db*")

	m = open(false)
	_, err := m.Credit(ctx, operator, sm.CreditRequest{Amount: 1})
	if !errors.Is(err, sm.ErrSelfTest) || !errors.Is(err, audit.ErrRolledBack) || !strings.Contains(err.Error(), "PKCS#11 token") {
		t.Fatalf("a restored PKCS#11 module would issue: %v", err)
	}
	if _, err := os.Stat(filepath.Join(dir, sm.KeystoreDir, keptcheckpoint.FileName)); !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("the checkpoint of a PKCS#11 module is kept in a file: %v", err)
	}
	m.Close()
	if _, err := sm.Open(ctx, dir, sm.Options{PIN: pin, AcceptRollback: true}); !errors.Is(err, sm.ErrInvalidRequest) {
		t.Errorf("accepted with the PIN alone: %v", err)
	}
	wrong := releaseOfficers()
	wrong[1].Passphrase = []byte("not this officer's passphrase")
	if _, err := sm.Open(ctx, dir, sm.Options{PIN: pin, AcceptRollback: true, Officers: wrong}); !errors.Is(err, keystore.ErrBadPassphrase) {
		t.Errorf("accepted with a wrong passphrase: %v", err)
	}
	m = open(true)
	if m.Fault() != nil || !strings.Contains(m.AcceptedRollback(), "the officers "+releaseOfficers()[0].Officer) {
		t.Fatalf("accept-rollback: fault %v, accepted %q", m.Fault(), m.AcceptedRollback())
	}
	m.Close()
	if m = open(false); m.Fault() != nil {
		t.Fatalf("after the acceptance: %v", m.Fault())
	}
	m.Close()
}

// TestRestoredPostgresRefused is TestRestoredDatabaseRefused on
// PostgreSQL: the backup is a copy of every table of the module's schema
// into another schema, and the restore opens the module on the copy.
func TestRestoredPostgresRefused(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		if db.Dialect() != store.PostgreSQL {
			t.Skip("SQLite: TestRestoredDatabaseRefused copies the file")
		}
		f := newFixture(t, db, sm.Vending)
		k := f.loadLimited(1000)
		mk := meterKey(t, 1, k)
		f.m.Close()
		backup := snapshotSchema(t, db)

		f.reopen()
		f.credit(sm.CreditRequest{Meter: mk, Sub: sts.Water, Amount: 600})
		f.m.Close()
		restored := f.opts
		restored.DB = backup
		m, err := sm.Open(f.ctx, f.dir, restored)
		if err != nil {
			t.Fatal(err)
		}
		defer m.Close()
		_, err = m.Credit(f.ctx, operator, sm.CreditRequest{Meter: mk, Sub: sts.Water, Amount: 600})
		if !errors.Is(err, sm.ErrSelfTest) || !errors.Is(err, audit.ErrRolledBack) {
			t.Fatalf("a module on a restored PostgreSQL database issued: %v", err)
		}
	})
}

// snapshotSchema copies every table of db's schema (its search_path) into
// a new schema and returns a database handle on the copy.
func snapshotSchema(t *testing.T, db *store.DB) *store.DB {
	t.Helper()
	ctx := context.Background()
	u, err := url.Parse(storetest.DSN(t, db))
	if err != nil {
		t.Fatal(err)
	}
	q := u.Query()
	from, to := q.Get("search_path"), q.Get("search_path")+"_backup"
	if _, err := db.Exec(ctx, "CREATE SCHEMA "+to); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Exec(context.Background(), "DROP SCHEMA "+to+" CASCADE") })
	rows, err := db.Query(ctx, `SELECT table_name FROM information_schema.tables WHERE table_schema = $1 AND table_type = 'BASE TABLE'`, from)
	if err != nil {
		t.Fatal(err)
	}
	var tables []string
	for rows.Next() {
		var name string
		if err := rows.Scan(&name); err != nil {
			t.Fatal(err)
		}
		tables = append(tables, name)
	}
	rows.Close()
	if len(tables) == 0 {
		t.Fatalf("no tables in schema %s", from)
	}
	for _, name := range tables {
		for _, stmt := range []string{
			fmt.Sprintf("CREATE TABLE %s.%s (LIKE %s.%s INCLUDING ALL)", to, name, from, name),
			fmt.Sprintf("INSERT INTO %s.%s SELECT * FROM %s.%s", to, name, from, name),
		} {
			if _, err := db.Exec(ctx, stmt); err != nil {
				t.Fatalf("%s: %v", stmt, err)
			}
		}
	}
	q.Set("search_path", to)
	u.RawQuery = q.Encode()
	copyDB, err := store.Open(ctx, u.String())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { copyDB.Close() })
	return copyDB
}
