package main

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/stskms/stskms/internal/backup"
	"github.com/stskms/stskms/internal/keptcheckpoint"
	"github.com/stskms/stskms/kmc"
	"github.com/stskms/stskms/release"
	"github.com/stskms/stskms/sm"
	"github.com/stskms/stskms/store"
)

// Backup and restore of a KMC or a module (docs/operations.md): "kmc
// backup", "sm backup" write one backup file (package internal/backup);
// "kmc restore", "sm restore" make a new directory from one and open it
// once, with the officers, to record the restore as an explained fork.

const backupHelp = "Writes FILE (mode 0600, atomically; it must not exist): a snapshot of the %s's database —\n" +
	"SQLite: VACUUM INTO, consistent while the %s serves; PostgreSQL: pg_dump --format=custom, run\n" +
	"by this command (the PostgreSQL client on PATH or in /usr/lib/postgresql/*/bin) — and the\n" +
	"files of its directory: %s, the keystore with its sealed key files or PKCS#11\n" +
	"configuration. Sealed keys stay sealed; no PIN or passphrase is in it; a PKCS#11 token's\n" +
	"keys are not: back the token up with the HSM vendor's tools. A manifest names the %s,\n" +
	"the time, this binary's version, the database, the audit log's head and every member's\n" +
	"SHA-256. No officer is needed. See docs/operations.md."

const restoreHelp = "Makes the new directory NEW (it must not exist or be empty) from the backup FILE: every\n" +
	"member is checked against the manifest (a damaged or tampered file is refused and nothing\n" +
	"is written); the database is restored — SQLite into NEW, PostgreSQL with pg_restore into\n" +
	"the empty database --db (no password in it: --db-password-file). Then the %s is opened\n" +
	"once, with %s, and records the restore in its audit log (%s.restore:\n" +
	"the backup's time and head, the head it forks from, a new instance id, who restored): a\n" +
	"recorded fork, not a rolled-back database; its kept checkpoint starts anew, and is kept at\n" +
	"the --witness and the PKCS#11 token, where the original, if it ever opens again, is\n" +
	"refused. %sRetire the original. See docs/operations.md."

// restoreFlags are the flags of the restore commands besides dirFlags'.
type restoreFlags struct {
	in string // the backup file
	db string // a PostgreSQL backup's empty database to restore into
}

// restorable is what a restore opens once: a module or a KMC.
type restorable interface {
	Restored() string
	Close() error
}

func runSMBackup(e *env, args []string) error {
	fs := newFlags("sm backup", "--dir DIR --out FILE", fmt.Sprintf(backupHelp, "module", "module", "sm.json, live-kmcs.txt", "SMID"))
	f := &smFlags{}
	out, err := parseBackup(e, fs, args, &f.dirFlags, smDir)
	if err != nil {
		return err
	}
	info, err := sm.Stat(f.dir)
	if err != nil {
		return err
	}
	pw, err := f.dbPassword(e, info)
	if err != nil {
		return err
	}
	c := backup.Component{Kind: backup.KindSM, Identity: info.SMID, Dir: f.dir, ConfigFile: sm.ModuleFile,
		DBFile: sm.DatabaseFile, DSN: store.WithPassword(info.Database, pw)}
	return writeBackup(e, c, out)
}

func runKMCBackup(e *env, args []string) error {
	fs := newFlags("kmc backup", "--dir DIR --out FILE", fmt.Sprintf(backupHelp, "KMC", "KMC", "kmc.json", "KMC"))
	f := &kmcFlags{}
	out, err := parseBackup(e, fs, args, &f.dirFlags, kmcDir)
	if err != nil {
		return err
	}
	dsn, err := kmc.DirDatabase(f.dir)
	if err != nil {
		return err
	}
	pw, err := f.dbPassword(e)
	if err != nil {
		return err
	}
	c := backup.Component{Kind: backup.KindKMC, Dir: f.dir, ConfigFile: kmc.ConfigFile, DBFile: kmc.DefaultDBFile,
		DSN: store.WithPassword(dsn, pw), IdentitySQL: `SELECT vendor || '-' || kmc_id FROM kmc_identity WHERE one = 1`}
	return writeBackup(e, c, out)
}

// parseBackup defines the flags of a backup command on fs — --dir and
// --db-password-file into d, --out — parses args, and returns --out.
func parseBackup(e *env, fs *flagSet, args []string, d *dirFlags, o dirOwner) (string, error) {
	d.addStoreFlags(e, fs, o)
	out := fs.String("out", "", "the backup file to write (required)")
	if _, err := fs.parse(e, args); err != nil {
		return "", err
	}
	if d.dir == "" || *out == "" {
		return "", usageError("give the " + o.noun + " directory with --dir and the backup file with --out")
	}
	return *out, nil
}

// writeBackup writes the backup of c to out and says what it holds.
func writeBackup(e *env, c backup.Component, out string) error {
	c.Version = release.Version
	m, err := backup.Create(context.Background(), c, out, time.Now())
	if err != nil {
		return err
	}
	fmt.Fprintf(e.stdout, "%s: %s; %d members\n", out, m.Summary(), len(m.Members))
	return nil
}

func runSMRestore(e *env, args []string) error {
	fs := newFlags("sm restore", "--in FILE --dir NEW [--db postgres://…]",
		fmt.Sprintf(restoreHelp, "module", "the officers' passphrases on standard input (NAME=PASSPHRASE lines; a PKCS#11\n"+
			"module: its PIN; a test module: none)", "sm",
			"The restored module issues no TID its original may have issued: until the\n"+
				"original's clock-ahead window (one week of minutes) has passed since the restore, its\n"+
				"TIDs run above that floor, and a token that would run too far\n"+
				"ahead of the clock is refused (44) saying until when to wait. "))
	f := addSMFlags(e, fs)
	b, err := parseRestore(e, fs, args, &f.dirFlags)
	if err != nil {
		return err
	}
	c := backup.Component{Kind: backup.KindSM, Dir: f.dir, ConfigFile: sm.ModuleFile, DBFile: sm.DatabaseFile}
	return restoreFrom(e, c, b, &f.dirFlags, func(e *env) (*sm.Module, error) { return openSM(e, f, false) })
}

func runKMCRestore(e *env, args []string) error {
	fs := newFlags("kmc restore", "--in FILE --dir NEW [--db postgres://…] [--officers A,B]",
		fmt.Sprintf(restoreHelp, "KMC", "--officers and their passphrases (a live KMC; a test KMC: none)", "kmc", ""))
	f := addKMCFlags(e, fs)
	b, err := parseRestore(e, fs, args, &f.dirFlags)
	if err != nil {
		return err
	}
	c := backup.Component{Kind: backup.KindKMC, Dir: f.dir, ConfigFile: kmc.ConfigFile, DBFile: kmc.DefaultDBFile}
	return restoreFrom(e, c, b, &f.dirFlags, f.open)
}

// parseRestore defines --in and --db on fs beside d's flags, parses args
// and returns them.
func parseRestore(e *env, fs *flagSet, args []string, d *dirFlags) (restoreFlags, error) {
	var b restoreFlags
	fs.StringVar(&b.in, "in", "", "the backup file (required)")
	fs.StringVar(&b.db, "db", "", "PostgreSQL backups: the empty database to restore into (postgres://…)")
	if _, err := fs.parse(e, args); err != nil {
		return b, err
	}
	if d.dir == "" || b.in == "" {
		return b, usageError("give the backup file with --in and the new directory with --dir")
	}
	return b, nil
}

// restoreFrom stages the backup b.in as the new directory of c, points
// d.dir at the staged copy while open opens it once with the restore to
// record (d.restore, by d.as), and moves it into place if that succeeds.
func restoreFrom[T restorable](e *env, c backup.Component, b restoreFlags, d *dirFlags, open func(*env) (T, error)) error {
	if store.HasPassword(b.db) {
		return usageError("give the database password with --db-password-file, not in --db")
	}
	pw, err := dbPassword(e, d.dbPasswordFile)
	if err != nil {
		return err
	}
	ctx := context.Background()
	st, err := backup.Stage(ctx, b.in, c, store.WithPassword(b.db, pw))
	if err != nil {
		return err
	}
	defer st.Abort()
	m := st.Manifest
	final := d.dir
	d.dir = st.Dir
	d.restore = &keptcheckpoint.Restore{Instance: keptcheckpoint.NewInstance(), Created: m.Created,
		HeadSeq: m.AuditHead.Seq, HeadHash: m.AuditHead.Hash, Actor: d.as}
	said, err := openRestored(e, open)
	d.dir = final
	if err != nil {
		if m.Dialect == "postgres" {
			err = errors.Join(err, fmt.Errorf("the database %s was restored into: empty it before trying again", store.Redact(b.db)))
		}
		return fmt.Errorf("restore of %s refused, nothing made in %s: %w", b.in, final, err)
	}
	if err := st.Commit(); err != nil {
		return err
	}
	fmt.Fprintf(e.stdout, "%s: %s\n%s: %s\n", b.in, m.Summary(), final, said)
	return nil
}

// openRestored opens the restored directory once with open and returns
// what it says of the restore.
func openRestored[T restorable](e *env, open func(*env) (T, error)) (string, error) {
	x, err := open(e)
	if err != nil {
		return "", err
	}
	said := x.Restored()
	return said, x.Close()
}
