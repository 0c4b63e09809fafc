package main

import (
	"context"
	"errors"
	"fmt"
	"os"
	"strconv"
	"strings"

	"golang.org/x/mod/sumdb/note"

	"github.com/stskms/stskms/audit"
	"github.com/stskms/stskms/sm"
	"github.com/stskms/stskms/store"
)

// fileList is a repeatable flag of file names.
type fileList []string

func (l *fileList) String() string     { return strings.Join(*l, ",") }
func (l *fileList) Set(v string) error { *l = append(*l, v); return nil }

// auditDBFlags are --dir and --db of the audit commands that read the
// database only.
type auditDBFlags struct{ dir, dsn, passwordFile *string }

func addAuditDBFlags(fs *flagSet) auditDBFlags {
	return auditDBFlags{
		dir: fs.String("dir", "", "a module's or a KMC's directory"),
		dsn: fs.String("db", "", "or the database itself: sqlite:PATH or postgres://…"),
		// The directories record PostgreSQL URLs without the password.
		passwordFile: addDBPasswordFlag(fs),
	}
}

// open opens the audit log of --dir or --db, reading the database only:
// no key custody is unlocked. The caller closes the database.
func (f auditDBFlags) open(e *env, name string) (*store.DB, *audit.Log, error) {
	if (*f.dir == "") == (*f.dsn == "") {
		fmt.Fprintf(e.stderr, "stskms %s: give --dir DIR or --db DSN (see --help)\n", name)
		return nil, nil, errUsage
	}
	dsn := *f.dsn
	if *f.dir != "" {
		var err error
		if dsn, err = auditDatabase(*f.dir); err != nil {
			return nil, nil, err
		}
	}
	dsn, err := withDBPassword(e, dsn, *f.passwordFile)
	if err != nil {
		return nil, nil, err
	}
	ctx := context.Background()
	db, err := store.Open(ctx, dsn)
	if err != nil {
		return nil, nil, err
	}
	l, err := audit.Open(ctx, db)
	if err != nil {
		db.Close()
		return nil, nil, err
	}
	return db, l, nil
}

// verifierArg returns the verifier of --key: a verifier key, or a file
// holding one.
func verifierArg(arg string) (note.Verifier, error) {
	if v, err := audit.NewVerifier(arg); err == nil {
		return v, nil
	}
	data, err := os.ReadFile(arg)
	if err != nil {
		return nil, fmt.Errorf("--key: neither a verifier key nor a readable file: %w", err)
	}
	return audit.NewVerifier(string(data))
}

func runAuditKey(e *env, args []string) error {
	fs := newFlags("audit key", "(--dir DIR | --db DSN)",
		"Prints the verifier key of the audit log's checkpoints (NAME+KEYID+BASE64, an ECDSA\n"+
			"P-256 key in the note format; see docs/audit.md), reading only the database: no key\n"+
			"custody is opened. Compare it with the one `sm identify` or `kmc pubkey` showed when\n"+
			"the component was commissioned, and keep that one: the database can be rewritten.")
	f := addAuditDBFlags(fs)
	if err := fs.parseNoArgs(e, args); err != nil {
		return err
	}
	db, l, err := f.open(e, "audit key")
	if err != nil {
		return err
	}
	defer db.Close()
	vkey, _, err := l.Key(context.Background())
	if err != nil {
		return err
	}
	fmt.Fprintln(e.stdout, vkey)
	return nil
}

func runAuditCheckpoint(e *env, args []string) error {
	fs := newFlags("audit checkpoint", "--dir DIR [--pin-file FILE | --officers A,B]",
		"Checks the audit log's tree against its latest checkpoint, then signs a checkpoint of the\n"+
			"log as it stands with the audit key in the component's custody, keeps it in the\n"+
			"database and prints it (a signed note: origin, size, root hash, signature). The\n"+
			"custody is opened as for other commands: a test component from its file; a production\n"+
			"module with the officers' passphrases on standard input or its PKCS#11 PIN; a live\n"+
			"KMC with --officers or its PIN. Keep the output outside the database: `audit verify\n"+
			"--checkpoint FILE` later proves the log still extends it.")
	f := addKMCFlags(e, fs) // --dir, --as, --officers, --pin-file and the release flags
	if err := fs.parseNoArgs(e, args); err != nil {
		return err
	}
	if f.dir == "" {
		fmt.Fprintln(e.stderr, "stskms audit checkpoint: give --dir DIR (see --help)")
		return errUsage
	}
	ctx := context.Background()
	var signed []byte
	if _, err := sm.Stat(f.dir); err == nil {
		m, err := openSM(e, &smFlags{dirFlags: dirFlags{dir: f.dir, pinFile: f.pinFile, as: f.as, release: f.release,
			dbPasswordFile: f.dbPasswordFile}}, true)
		if err != nil {
			return err
		}
		defer m.Close()
		if signed, err = m.AuditCheckpoint(ctx, sm.Auditor.As(f.as)); err != nil {
			return err
		}
	} else if errors.Is(err, sm.ErrNoModule) {
		k, err := f.open(e)
		if err != nil {
			return err
		}
		defer k.Close()
		if signed, err = k.AuditCheckpoint(ctx); err != nil {
			return err
		}
	} else {
		return err
	}
	_, err := e.stdout.Write(signed)
	return err
}

func runAuditProve(e *env, args []string) error {
	fs := newFlags("audit prove", "(--dir DIR | --db DSN) --seq N",
		"Prints record N of the audit log with its inclusion proof against the latest checkpoint\n"+
			"kept in the database (make one with `audit checkpoint`), in the text format of\n"+
			"docs/audit.md: `audit check-proof` checks it offline with the verifier key alone.\n"+
			"No key custody is opened.")
	f := addAuditDBFlags(fs)
	seq := fs.Int64("seq", 0, "the record's sequence number (required)")
	if err := fs.parseNoArgs(e, args); err != nil {
		return err
	}
	if *seq < 1 {
		fmt.Fprintln(e.stderr, "stskms audit prove: give --seq N, N ≥ 1 (see --help)")
		return errUsage
	}
	db, l, err := f.open(e, "audit prove")
	if err != nil {
		return err
	}
	defer db.Close()
	p, err := l.Prove(context.Background(), *seq)
	if err != nil {
		return err
	}
	_, err = e.stdout.Write(p.Marshal())
	return err
}

func runAuditCheckProof(e *env, args []string) error {
	fs := newFlags("audit check-proof", "--proof FILE --key KEY|FILE",
		"Checks offline an inclusion proof made by `audit prove`: the record matches its hash,\n"+
			"the checkpoint's signature verifies with the verifier key (as `audit key`, `sm identify`\n"+
			"or `kmc pubkey` printed it; the key itself or a file holding it) and the audit path\n"+
			"leads from the record to the checkpoint's root. Reads no database. Exit status 1 if\n"+
			"the proof does not check.")
	proofFile := fs.String("proof", "", "the proof: a file, or - for standard input (required)")
	key := fs.String("key", "", "the verifier key, or a file holding it (required)")
	if err := fs.parseNoArgs(e, args); err != nil {
		return err
	}
	if *proofFile == "" || *key == "" {
		fmt.Fprintln(e.stderr, "stskms audit check-proof: give --proof FILE and --key KEY (see --help)")
		return errUsage
	}
	v, err := verifierArg(*key)
	if err != nil {
		return err
	}
	text, err := readFileArg(e, "proof", *proofFile)
	if err != nil {
		return err
	}
	p, err := audit.CheckProof(text, v)
	if err != nil {
		return fmt.Errorf("proof NOT verified: %w", err)
	}
	c, _ := audit.OpenCheckpoint(p.Checkpoint, v)
	fmt.Fprintf(e.stdout, "proof verified: record %d (%s %s %s) is in the log %s of %d records, root %x\n",
		p.Record.Seq, p.Record.Actor, p.Record.Action, strconv.Quote(p.Record.Subject), c.Origin, c.Size, c.Root)
	return nil
}
