package kmc_test

import (
	"context"
	"net/url"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/stskms/stskms/audit"
	"github.com/stskms/stskms/internal/backup"
	"github.com/stskms/stskms/internal/keptcheckpoint"
	"github.com/stskms/stskms/kmc"
	"github.com/stskms/stskms/store"
	"github.com/stskms/stskms/store/storetest"
)

// kmcComponent describes the KMC directory dir to package backup.
func kmcComponent(t *testing.T, dir string) backup.Component {
	t.Helper()
	c := backup.Component{Kind: backup.KindKMC, Identity: "K0042", Dir: dir, ConfigFile: kmc.ConfigFile, DBFile: kmc.DefaultDBFile, Version: "test"}
	if _, err := kmc.DirMode(dir); err == nil {
		dsn, err := kmc.DirDatabase(dir)
		if err != nil {
			t.Fatal(err)
		}
		c.DSN = dsn
	}
	return c
}

// restoreKMC restores the backup in into the new directory dir (into the
// empty PostgreSQL database db for a PostgreSQL backup), with the live
// officers' dual control, as `stskms kmc restore` does.
func restoreKMC(t *testing.T, in, dir, db string, o kmc.OpenOptions) string {
	t.Helper()
	ctx := context.Background()
	st, err := backup.Stage(ctx, in, kmcComponent(t, dir), db)
	if err != nil {
		t.Fatal(err)
	}
	defer st.Abort()
	m := st.Manifest
	o.Restore = &keptcheckpoint.Restore{Instance: keptcheckpoint.NewInstance(), Created: m.Created,
		HeadSeq: m.AuditHead.Seq, HeadHash: m.AuditHead.Hash, Actor: "cli:tester"}
	k, err := kmc.OpenDir(ctx, st.Dir, o)
	if err != nil {
		t.Fatal(err)
	}
	said := k.Restored()
	if err := k.Close(); err != nil {
		t.Fatal(err)
	}
	if err := st.Commit(); err != nil {
		t.Fatal(err)
	}
	return said
}

// backupRestoreKMC backs up the live KMC in dir while it is open, rotates
// its key (a change the backup misses), restores the backup into a new
// directory and checks the restored KMC: it opens, its log records
// kmc.restore by the restorer and forks at the backup's head, and the
// original opened with the same witness is refused as another instance.
func backupRestoreKMC(t *testing.T, dir, witness, db string) {
	ctx := context.Background()
	open := func(dir string) (*kmc.KMC, error) {
		return kmc.OpenDir(ctx, dir, kmc.OpenOptions{Officers: liveOfficers(), Witnesses: []string{witness}})
	}
	k, err := open(dir)
	if err != nil {
		t.Fatal(err)
	}
	out := filepath.Join(t.TempDir(), "kmc.backup")
	m, err := backup.Create(ctx, kmcComponent(t, dir), out, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	if _, err := k.RotateKey(ctx, "test", 0); err != nil {
		t.Fatal(err)
	}
	k.Close()

	// Restoring needs both officers.
	newDir := filepath.Join(t.TempDir(), "restored")
	st, err := backup.Stage(ctx, out, kmcComponent(t, newDir), db)
	if err != nil {
		t.Fatal(err)
	}
	_, err = kmc.OpenDir(ctx, st.Dir, kmc.OpenOptions{Officers: liveOfficers()[:1], Restore: &keptcheckpoint.Restore{Instance: "x", Created: m.Created}})
	if err == nil {
		t.Fatal("restored with one officer")
	}
	st.Abort()
	if db != "" {
		// The database was filled: restore into another empty one.
		db = emptyDatabase(t, db)
	}
	said := restoreKMC(t, out, newDir, db, kmc.OpenOptions{Officers: liveOfficers(), Witnesses: []string{witness}})
	if !strings.Contains(said, "restored as instance") {
		t.Fatalf("restore said %q", said)
	}
	r, err := open(newDir)
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	var restore audit.Record
	r.AuditLog().Records(ctx, 1, func(rec audit.Record) error {
		if rec.Action == "kmc.restore" {
			restore = rec
		}
		return nil
	})
	if restore.Seq != m.AuditHead.Seq+1 || restore.Actor != "cli:tester" {
		t.Fatalf("restore record %+v, backup head %+v", restore, m.AuditHead)
	}
	r.Close()

	_, err = open(dir)
	if err == nil || !strings.Contains(err.Error(), "another instance") || !strings.Contains(err.Error(), witness) {
		t.Fatalf("the original beside its restored copy: %v", err)
	}
}

// TestKMCBackupRestore: a live KMC on SQLite, backed up while open and
// restored.
func TestKMCBackupRestore(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "kmc")
	initLiveKMC(t, dir)
	backupRestoreKMC(t, dir, filepath.Join(t.TempDir(), "witness"), "")
}

// TestKMCBackupRestorePostgres: the same on PostgreSQL (pg_dump, then
// pg_restore into an empty database).
func TestKMCBackupRestorePostgres(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		if db.Dialect() != store.PostgreSQL {
			return
		}
		dsn := storetest.DSN(t, db)
		dir := filepath.Join(t.TempDir(), "kmc")
		k, err := kmc.Init(context.Background(), dir, kmc.InitOptions{Mode: kmc.ModeLive, Vendor: "Utility", ID: "K0042",
			Officers: liveOfficers(), Database: dsn})
		if err != nil {
			t.Fatal(err)
		}
		k.Close()
		backupRestoreKMC(t, dir, filepath.Join(t.TempDir(), "witness"), emptyDatabase(t, dsn))
	})
}

// emptyDatabase creates a new database on the server of dsn, dropped
// after the test, and returns its DSN.
func emptyDatabase(t *testing.T, dsn string) string {
	t.Helper()
	ctx := context.Background()
	u, err := url.Parse(dsn)
	if err != nil {
		t.Fatal(err)
	}
	q := u.Query()
	q.Del("search_path")
	u.RawQuery = q.Encode()
	admin, err := store.Open(ctx, u.String())
	if err != nil {
		t.Fatal(err)
	}
	name := "restore_" + strings.ReplaceAll(keptcheckpoint.NewInstance(), "-", "")
	if _, err := admin.Exec(ctx, "CREATE DATABASE "+name); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		admin.Exec(context.Background(), "DROP DATABASE IF EXISTS "+name+" WITH (FORCE)")
		admin.Close()
	})
	u.Path = "/" + name
	return u.String()
}
