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

// backupFlags are the flags of the backup commands.
type backupFlags struct {
	out string
	in  string
	db  string
}

func runSMBackup(e *env, args []string) error {
	fs := newFlags("sm backup", "--dir DIR --out FILE", fmt.Sprintf(backupHelp, "module", "module", "sm.json, live-kmcs.txt", "SMID"))
	var b backupFlags
	f := &smFlags{}
	fs.StringVar(&f.dir, "dir", e.getenv("STSKMS_SM_DIR"), "module directory (default $STSKMS_SM_DIR)")
	fs.StringVar(&b.out, "out", "", "the backup file to write (required)")
	fs.StringVar(&f.dbPasswordFile, "db-password-file", "", dbPasswordUsage)
	if _, err := fs.parse(e, args); err != nil {
		return err
	}
	if f.dir == "" || b.out == "" {
		return usageError("give the module directory with --dir and the backup file with --out")
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
	return writeBackup(e, c, b.out)
}

func runKMCBackup(e *env, args []string) error {
	fs := newFlags("kmc backup", "--dir DIR --out FILE", fmt.Sprintf(backupHelp, "KMC", "KMC", "kmc.json", "KMC"))
	var b backupFlags
	f := &kmcFlags{}
	fs.StringVar(&f.dir, "dir", e.getenv("STSKMS_KMC_DIR"), "the KMC's directory (default $STSKMS_KMC_DIR)")
	fs.StringVar(&b.out, "out", "", "the backup file to write (required)")
	fs.StringVar(&f.dbPasswordFile, "db-password-file", "", dbPasswordUsage)
	if _, err := fs.parse(e, args); err != nil {
		return err
	}
	if f.dir == "" || b.out == "" {
		return usageError("give the KMC directory with --dir and the backup file with --out")
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
	return writeBackup(e, c, b.out)
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
	var b backupFlags
	fs.StringVar(&b.in, "in", "", "the backup file (required)")
	fs.StringVar(&b.db, "db", "", "PostgreSQL backups: the empty database to restore into (postgres://…)")
	if _, err := fs.parse(e, args); err != nil {
		return err
	}
	if f.dir == "" || b.in == "" {
		return usageError("give the backup file with --in and the new directory with --dir")
	}
	c := backup.Component{Kind: backup.KindSM, Dir: f.dir, ConfigFile: sm.ModuleFile, DBFile: sm.DatabaseFile}
	return restoreFrom(e, c, b, f.dbPasswordFile, &f.dir, func(r *keptcheckpoint.Restore) (string, error) {
		r.Actor = f.as
		f.restore = r
		m, err := openSM(e, f, false)
		if err != nil {
			return "", err
		}
		said := m.Restored()
		return said, m.Close()
	})
}

func runKMCRestore(e *env, args []string) error {
	fs := newFlags("kmc restore", "--in FILE --dir NEW [--db postgres://…] [--officers A,B]",
		fmt.Sprintf(restoreHelp, "KMC", "--officers and their passphrases (a live KMC; a test KMC: none)", "kmc", ""))
	f := addKMCFlags(e, fs)
	var b backupFlags
	fs.StringVar(&b.in, "in", "", "the backup file (required)")
	fs.StringVar(&b.db, "db", "", "PostgreSQL backups: the empty database to restore into (postgres://…)")
	if _, err := fs.parse(e, args); err != nil {
		return err
	}
	if f.dir == "" || b.in == "" {
		return usageError("give the backup file with --in and the new directory with --dir")
	}
	c := backup.Component{Kind: backup.KindKMC, Dir: f.dir, ConfigFile: kmc.ConfigFile, DBFile: kmc.DefaultDBFile}
	return restoreFrom(e, c, b, f.dbPasswordFile, &f.dir, func(r *keptcheckpoint.Restore) (string, error) {
		r.Actor = f.actor
		f.restore = r
		k, err := f.open(e)
		if err != nil {
			return "", err
		}
		said := k.Restored()
		return said, k.Close()
	})
}

// restoreFrom stages the backup b.in as the new directory of c, points
// *dir at the staged copy while open opens it once with the restore to
// record, and moves it into place if that succeeds.
func restoreFrom(e *env, c backup.Component, b backupFlags, pwFile string, dir *string,
	open func(*keptcheckpoint.Restore) (string, error)) error {
	if store.HasPassword(b.db) {
		return usageError("give the database password with --db-password-file, not in --db")
	}
	pw, err := dbPassword(e, pwFile)
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
	final := *dir
	*dir = st.Dir
	said, err := open(&keptcheckpoint.Restore{Instance: keptcheckpoint.NewInstance(), Created: m.Created,
		HeadSeq: m.AuditHead.Seq, HeadHash: m.AuditHead.Hash})
	*dir = final
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
