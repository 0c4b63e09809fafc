package backup

import (
	"context"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/stskms/stskms/internal/atomicfile"
	"github.com/stskms/stskms/store"
)

// Component is a KMC or a module directory to back up or restore into.
type Component struct {
	// Kind is KindKMC or KindSM.
	Kind string
	// Identity is the KMC's id or the module's SMID; if "", IdentitySQL
	// reads it from the database.
	Identity string
	// IdentitySQL is a query of one row and one text column that gives
	// the identity.
	IdentitySQL string
	// Dir is the component's directory.
	Dir string
	// ConfigFile is its JSON file in Dir ("kmc.json", "sm.json"), whose
	// "database" member names the database.
	ConfigFile string
	// DBFile is the SQLite file a restore makes in Dir ("kmc.db",
	// "sm.db").
	DBFile string
	// DSN is the component's database (a relative SQLite path resolved
	// against Dir).
	DSN string
	// Version is the binary's version, for the manifest.
	Version string
}

// skipped are the files of a component's directory that a backup leaves
// out: the kept audit checkpoint (state, which a restore starts anew) and
// files that may hold a PIN.
var skipped = []string{"keystore/audit-checkpoint"}

// queueFile is the gateway's SQLite queue in a KMC directory: mail in
// flight, not state to restore (and a live file copied torn), so it is not
// in a backup (docs/operations.md).
const queueFile = "gateway.db"

// Create writes the backup file out of the component c: a snapshot of its
// database (VACUUM INTO for SQLite, pg_dump for PostgreSQL) and the regular
// files of its directory but the database, the kept checkpoint, hidden and
// temporary files. It returns the manifest written.
func Create(ctx context.Context, c Component, out string, now time.Time) (Manifest, error) {
	m := Manifest{Kind: c.Kind, Identity: c.Identity, Created: now.UTC(), Version: c.Version}
	if _, err := os.Lstat(out); err == nil {
		return m, fmt.Errorf("backup: %s exists: give a new file", out)
	}
	tmp, err := os.MkdirTemp(filepath.Dir(out), atomicfile.TempPrefix+"backup-*")
	if err != nil {
		return m, fmt.Errorf("backup: %w", err)
	}
	defer os.RemoveAll(tmp)
	db, err := store.OpenExisting(ctx, c.DSN)
	if err != nil {
		return m, fmt.Errorf("backup: %w", err)
	}
	defer db.Close()
	m.Dialect = db.Dialect().String()
	if m.Identity == "" && c.IdentitySQL != "" {
		if err := db.QueryRow(ctx, c.IdentitySQL).Scan(&m.Identity); err != nil {
			return m, fmt.Errorf("backup: failed to read the identity: %w", err)
		}
	}
	dbFile := filepath.Join(tmp, "database")
	if db.Dialect() == store.PostgreSQL {
		// The head first: the dump holds it or more records (restore
		// checks the restored log extends it).
		if m.AuditHead, err = readHead(ctx, db); err == nil {
			m.Schema, err = dumpPostgres(ctx, c.DSN, dbFile)
		}
	} else {
		err = snapshotSQLite(ctx, db, dbFile, &m)
	}
	if err != nil {
		return m, err
	}
	files, err := collect(c)
	if err != nil {
		return m, err
	}
	files = append([]Source{{Name: m.Database(), Path: dbFile}}, files...)
	return Write(out, m, files)
}

// snapshotSQLite snapshots db into path and reads the snapshot's head.
func snapshotSQLite(ctx context.Context, db *store.DB, path string, m *Manifest) error {
	if err := db.SnapshotSQLite(ctx, path); err != nil {
		return fmt.Errorf("backup: %w", err)
	}
	snap, err := store.OpenExisting(ctx, "sqlite:"+path)
	if err != nil {
		return fmt.Errorf("backup: %w", err)
	}
	m.AuditHead, err = readHead(ctx, snap)
	if cerr := snap.Close(); err == nil {
		err = cerr
	}
	return err
}

// readHead reads an audit log's head (audit_head, package audit).
func readHead(ctx context.Context, db *store.DB) (Head, error) {
	var h Head
	var hash []byte
	err := db.QueryRow(ctx, `SELECT seq, hash FROM audit_head WHERE one = 1`).Scan(&h.Seq, &hash)
	if err != nil {
		return h, fmt.Errorf("backup: failed to read the audit log's head: %w", err)
	}
	if h.Seq > 0 {
		h.Hash = hex.EncodeToString(hash)
	}
	return h, nil
}

// collect lists the files of c.Dir to back up.
func collect(c Component) ([]Source, error) {
	var files []Source
	err := filepath.WalkDir(c.Dir, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, err := filepath.Rel(c.Dir, path)
		if err != nil || rel == "." {
			return err
		}
		name := filepath.ToSlash(rel)
		switch {
		case strings.HasPrefix(d.Name(), "."):
			if d.IsDir() {
				return filepath.SkipDir
			}
			return nil
		case d.IsDir() || !d.Type().IsRegular():
			return nil
		case strings.HasPrefix(name, c.DBFile), isSkipped(name):
			return nil
		}
		files = append(files, Source{Name: name, Path: path})
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("backup: %w", err)
	}
	return files, nil
}

func isSkipped(name string) bool {
	for _, s := range skipped {
		if name == s {
			return true
		}
	}
	if strings.HasPrefix(name, queueFile) {
		return true
	}
	lower := strings.ToLower(name)
	return strings.Contains(lower, "pin") && !strings.HasSuffix(lower, ".json")
}

// Staged is a backup extracted beside the directory it is to become, with
// its database restored: Commit moves it into place, Abort removes it.
type Staged struct {
	Manifest Manifest
	// Dir is where the component is staged: open it there (the restore's
	// first open) before Commit.
	Dir   string
	final string
}

// Stage reads the backup file in of a component of c.Kind and makes the
// directory c.Dir from it, which must not exist or be empty: first in a
// hidden directory beside it (Staged.Dir), with every member checked and
// the database restored — the SQLite file c.DBFile, or pg_restore into the
// empty PostgreSQL database db (required for a PostgreSQL backup). The
// component's configuration file is rewritten to name the restored
// database (never with a password: the restored component's first open
// needs it as other opens do). On error nothing is left (but a PostgreSQL database that
// pg_restore began to fill: empty it before trying again).
func Stage(ctx context.Context, in string, c Component, db string) (_ *Staged, err error) {
	if err := checkNew(c.Dir); err != nil {
		return nil, err
	}
	f, err := os.Open(in)
	if err != nil {
		return nil, fmt.Errorf("backup: %w", err)
	}
	defer f.Close()
	parent := filepath.Dir(filepath.Clean(c.Dir))
	tmp, err := os.MkdirTemp(parent, atomicfile.TempPrefix+"restore-*")
	if err != nil {
		return nil, fmt.Errorf("backup: %w", err)
	}
	defer func() {
		if err != nil {
			os.RemoveAll(tmp)
		}
	}()
	m, err := Extract(f, tmp)
	if err != nil {
		return nil, err
	}
	if m.Kind != c.Kind {
		return nil, fmt.Errorf("%w: %s is a backup of kind %s, not %s", ErrKind, in, m.Kind, c.Kind)
	}
	dsn, err := restoreDatabase(ctx, m, tmp, c, db)
	if err != nil {
		return nil, err
	}
	if dsn, _, err = store.SplitPassword(dsn); err != nil {
		return nil, err
	}
	if err := setDatabase(filepath.Join(tmp, c.ConfigFile), dsn); err != nil {
		return nil, err
	}
	if err := os.RemoveAll(filepath.Join(tmp, "database")); err != nil {
		return nil, fmt.Errorf("backup: %w", err)
	}
	return &Staged{Manifest: m, Dir: tmp, final: c.Dir}, nil
}

// restoreDatabase restores the database of the backup extracted in tmp
// and returns the DSN the component's configuration is to record.
func restoreDatabase(ctx context.Context, m Manifest, tmp string, c Component, db string) (string, error) {
	from := filepath.Join(tmp, filepath.FromSlash(m.Database()))
	if m.Dialect == "postgres" {
		if !strings.HasPrefix(db, "postgres://") && !strings.HasPrefix(db, "postgresql://") {
			return "", fmt.Errorf("backup: the backup holds a PostgreSQL database: give --db postgres://… of an empty database to restore it into")
		}
		return restorePostgres(ctx, from, db, m.Schema)
	}
	if db != "" {
		return "", fmt.Errorf("backup: the backup holds an SQLite database, restored into the new directory: --db is for PostgreSQL backups (docs/operations.md says how to move to PostgreSQL)")
	}
	if err := os.Rename(from, filepath.Join(tmp, c.DBFile)); err != nil {
		return "", fmt.Errorf("backup: %w", err)
	}
	return "sqlite:" + c.DBFile, nil
}

// setDatabase rewrites the "database" member of the JSON file path,
// keeping every other member as it is.
func setDatabase(path, dsn string) error {
	b, err := os.ReadFile(path)
	if err != nil {
		return fmt.Errorf("%w: the backup holds no %s: %v", ErrMember, filepath.Base(path), err)
	}
	var doc map[string]json.RawMessage
	if err := json.Unmarshal(b, &doc); err != nil {
		return fmt.Errorf("%w: %s: %v", ErrFormat, filepath.Base(path), err)
	}
	if doc["database"], err = json.Marshal(dsn); err != nil {
		return err
	}
	out, err := json.MarshalIndent(doc, "", "  ")
	if err != nil {
		return err
	}
	return atomicfile.Write(filepath.Dir(path), filepath.Base(path), append(out, '\n'), 0o600, nil)
}

// Commit moves the staged directory into place.
func (s *Staged) Commit() error {
	if err := checkNew(s.final); err != nil {
		return err
	}
	if err := os.Rename(s.Dir, s.final); err != nil {
		return fmt.Errorf("backup: %w", err)
	}
	return atomicfile.SyncDir(filepath.Dir(filepath.Clean(s.final)))
}

// Abort removes the staged directory.
func (s *Staged) Abort() { os.RemoveAll(s.Dir) }

// ErrNotEmpty is returned for a restore into a directory that holds files.
var ErrNotEmpty = errors.New("backup: the new directory must not exist or be empty")

// checkNew accepts a directory that does not exist or is empty.
func checkNew(dir string) error {
	entries, err := os.ReadDir(dir)
	switch {
	case errors.Is(err, fs.ErrNotExist):
		return nil
	case err != nil:
		return fmt.Errorf("backup: %w", err)
	case len(entries) > 0:
		return fmt.Errorf("%w: %s holds %d entries", ErrNotEmpty, dir, len(entries))
	}
	return nil
}
