package main

import (
	"context"
	"encoding/hex"
	"errors"
	"fmt"

	"github.com/stskms/stskms/audit"
	"github.com/stskms/stskms/kmc"
	"github.com/stskms/stskms/sm"
	"github.com/stskms/stskms/store"
)

func auditCommand() *command {
	return &command{summary: "the hash-chained audit log of a module or a KMC (auditor)", sub: map[string]*command{
		"verify": {summary: "verify the hash chain, without unlocking any key", run: runAuditVerify},
	}}
}

func runAuditVerify(e *env, args []string) error {
	fs := newFlags("audit verify", "(--dir DIR | --db DSN) [--json]",
		"Verifies the hash chain of the audit log of a security module or a KMC — every record\n"+
			"in order, none edited, removed, reordered or added past the head — reading only its\n"+
			"database: no key custody is opened, so an auditor needs no officer. --dir finds the\n"+
			"database of a module (sm.json) or a KMC (kmc.json) directory; --db names it directly\n"+
			"(sqlite:PATH or postgres://…). Keep the printed count and head elsewhere to detect a\n"+
			"later removal of the log's tail. Exit status 1 if the chain is broken.")
	dir := fs.String("dir", "", "a module's or a KMC's directory")
	dsn := fs.String("db", "", "or the database itself: sqlite:PATH or postgres://…")
	asJSON := fs.Bool("json", false, "print JSON")
	if err := fs.parseNoArgs(e, args); err != nil {
		return err
	}
	if (*dir == "") == (*dsn == "") {
		fmt.Fprintln(e.stderr, "stskms audit verify: give --dir DIR or --db DSN (see --help)")
		return errUsage
	}
	if *dir != "" {
		var err error
		if *dsn, err = auditDatabase(*dir); err != nil {
			return err
		}
	}
	ctx := context.Background()
	db, err := store.Open(ctx, *dsn)
	if err != nil {
		return err
	}
	defer db.Close()
	l, err := audit.Open(ctx, db)
	if err != nil {
		return err
	}
	rep, err := l.Verify(ctx)
	if err != nil {
		return fmt.Errorf("audit log NOT verified: %w", err)
	}
	if *asJSON {
		printJSON(e.stdout, map[string]any{"records": rep.Records, "head": hex.EncodeToString(rep.Head[:]),
			"log_id": hex.EncodeToString(rep.LogID[:])})
		return nil
	}
	fmt.Fprintf(e.stdout, "audit log verified: %d records, head %x\n", rep.Records, rep.Head)
	return nil
}

// auditDatabase returns the database of a module or KMC directory.
func auditDatabase(dir string) (string, error) {
	info, err := sm.Stat(dir)
	switch {
	case err == nil && info.Database == "external":
		return "", errors.New("the module's database was given when it was made: name it with --db")
	case err == nil:
		return info.Database, nil
	case !errors.Is(err, sm.ErrNoModule):
		return "", err
	}
	dsn, err := kmc.DirDatabase(dir)
	if errors.Is(err, kmc.ErrNoIdentity) {
		return "", fmt.Errorf("%s holds neither a module (%s) nor a KMC (%s)", dir, sm.ModuleFile, kmc.ConfigFile)
	}
	return dsn, err
}
