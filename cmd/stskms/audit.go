package main

import (
	"context"
	"encoding/hex"
	"errors"
	"fmt"
	"os"

	"golang.org/x/mod/sumdb/note"

	"github.com/stskms/stskms/kmc"
	"github.com/stskms/stskms/sm"
)

func auditCommand() *command {
	return &command{summary: "the audit log of a module or a KMC, a transparency log (auditor; docs/audit.md)", sub: map[string]*command{
		"verify":      {summary: "verify every record, the tree and kept checkpoints, without unlocking any key", run: runAuditVerify},
		"key":         {summary: "print the verifier key of the log's checkpoints, without unlocking any key", run: runAuditKey},
		"checkpoint":  {summary: "sign and print a checkpoint of the log with the audit key in custody", run: runAuditCheckpoint},
		"prove":       {summary: "print a record with its inclusion proof against the latest checkpoint", run: runAuditProve},
		"check-proof": {summary: "check an inclusion proof offline with the verifier key", run: runAuditCheckProof},
	}}
}

func runAuditVerify(e *env, args []string) error {
	fs := newFlags("audit verify", "(--dir DIR | --db DSN) [--checkpoint FILE]... [--key KEY|FILE] [--json]",
		"Verifies the audit log of a security module or a KMC — every record in order, none\n"+
			"edited, removed, reordered or added past the head; every hash of its Merkle tree; and\n"+
			"that the log extends each checkpoint given with --checkpoint (kept by the auditor, as\n"+
			"`audit checkpoint` printed it) and the latest one kept in the database, whose\n"+
			"signatures must verify with the audit key (--key, as `audit key` printed it when the\n"+
			"component was commissioned; default: the key in the database). It reads only the\n"+
			"database: no key custody is opened, so an auditor needs no officer. --dir finds the\n"+
			"database of a module (sm.json) or a KMC (kmc.json) directory; --db names it directly\n"+
			"(sqlite:PATH or postgres://…). Exit status 1, naming the problem, if a record or the\n"+
			"tree is wrong, a checkpoint's signature does not verify, the log is shorter than a\n"+
			"checkpoint (rolled back) or not an extension of it (forked). See docs/audit.md.")
	f := addAuditDBFlags(fs)
	var cpFiles fileList
	fs.Var(&cpFiles, "checkpoint", "a signed checkpoint the log must extend (repeatable)")
	key := fs.String("key", "", "the audit verifier key, or a file holding it (default: the database's)")
	asJSON := fs.Bool("json", false, "print JSON")
	if err := fs.parseNoArgs(e, args); err != nil {
		return err
	}
	var v note.Verifier
	if *key != "" {
		var err error
		if v, err = verifierArg(*key); err != nil {
			return err
		}
	}
	var cps [][]byte
	for _, name := range cpFiles {
		data, err := os.ReadFile(name)
		if err != nil {
			return fmt.Errorf("--checkpoint: %w", err)
		}
		cps = append(cps, data)
	}
	db, l, err := f.open(e, "audit verify")
	if err != nil {
		return err
	}
	defer db.Close()
	ctx := context.Background()
	rep, err := l.VerifyTree(ctx, v, cps...)
	if err != nil {
		return fmt.Errorf("audit log NOT verified: %w", err)
	}
	if *asJSON {
		printJSON(e.stdout, map[string]any{"records": rep.Records, "head": hex.EncodeToString(rep.Head[:]),
			"log_id": hex.EncodeToString(rep.LogID[:]), "root": hex.EncodeToString(rep.Root[:]),
			"checkpoints": len(cps)})
		return nil
	}
	fmt.Fprintf(e.stdout, "audit log verified: %d records, head %x, tree root %x\n", rep.Records, rep.Head, rep.Root)
	for _, name := range cpFiles {
		fmt.Fprintf(e.stdout, "extends checkpoint %s\n", name)
	}
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
