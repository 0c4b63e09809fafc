package main

import (
	"errors"
	"fmt"
	"maps"

	"github.com/stskms/stskms/internal/keptcheckpoint"
	"github.com/stskms/stskms/keystore"
)

// dirFlags are what the sm and kmc commands that open a directory share:
// the flags naming the directory, the audit actor, the PKCS#11 PIN file,
// the witness, the database password file and the release policy, and the
// settings the commands make that are not flags. smFlags and kmcFlags
// embed it.
type dirFlags struct {
	dir            string
	as             string // --as (alias --actor): the audit actor
	pinFile        string
	witness        string // --witness: a file or URL each kept checkpoint goes to
	dbPasswordFile string // --db-password-file (dbpassword.go)
	release        *releaseFlags
	// acceptRollback is set by "accept-rollback", not a flag.
	acceptRollback bool
	// restore is set by "restore", not a flag (backup.go).
	restore *keptcheckpoint.Restore
	// unsealed are the officers' credentials a server has, read or given
	// through the unseal socket, not a flag: opening uses them instead of
	// reading standard input.
	unsealed []keystore.Component
	// authenticated are the officers whose credentials opening verified
	// (officers.go), not a flag.
	authenticated []string
	// dual is set by the commands under dual control, not a flag: a
	// PKCS#11 custody's officers are then read too and authenticated
	// against its registry (officers.go).
	dual bool
}

// dirOwner is whose directory a dirFlags opens, the module's or the
// KMC's: its names in help and usage errors, and its unseal target.
type dirOwner struct {
	cmd      string // the command group: "sm", "kmc"
	noun     string // what the directory is of: "module", "KMC"
	env      string // the environment variable --dir defaults to
	dirUsage string // --dir's help, before its default
	keeper   string // who keeps the audit checkpoints, in --witness's help
	unseal   unsealTarget
}

var (
	smDir = dirOwner{cmd: "sm", noun: "module", env: "STSKMS_SM_DIR", dirUsage: "module directory", keeper: "the module",
		unseal: smUnsealTarget}
	kmcDir = dirOwner{cmd: "kmc", noun: "KMC", env: "STSKMS_KMC_DIR", dirUsage: "the KMC's directory", keeper: "the KMC",
		unseal: kmcUnsealTarget}
)

// addDirFlags defines on fs the flags of dirFlags: --dir and
// --db-password-file (addStoreFlags), --as with its alias --actor,
// --pin-file, --witness and the release flags.
func (f *dirFlags) addDirFlags(e *env, fs *flagSet, o dirOwner) {
	f.addStoreFlags(e, fs, o)
	fs.StringVar(&f.as, "as", cliActor(e), "your name, for the audit log")
	fs.alias("actor", "as")
	fs.StringVar(&f.pinFile, "pin-file", "", pinFileUsage)
	fs.StringVar(&f.witness, "witness", "", "also give each audit checkpoint "+o.keeper+" keeps to this witness: "+
		"a file it is appended to, or an http(s) URL it is POSTed to (docs/audit.md)")
	f.release = addReleaseFlags(fs, true)
}

// addStoreFlags defines --dir and --db-password-file only: what a command
// that reads the directory and its database without opening it needs.
func (f *dirFlags) addStoreFlags(e *env, fs *flagSet, o dirOwner) {
	fs.StringVar(&f.dir, "dir", e.getenv(o.env), o.dirUsage+" (default $"+o.env+")")
	fs.StringVar(&f.dbPasswordFile, "db-password-file", "", dbPasswordUsage)
}

// witnesses are the witnesses each kept checkpoint goes to: --witness, if
// given.
func (f *dirFlags) witnesses() []string {
	if f.witness == "" {
		return nil
	}
	return []string{f.witness}
}

// openError is err, the refusal to open dir, with the command that
// registers the officers added when its custody has none (a PKCS#11
// custody made before officer registries).
func (o dirOwner) openError(err error, dir string) error {
	if errors.Is(err, keystore.ErrNoOfficers) {
		return fmt.Errorf("%w; register them: stskms %s officers register --dir %s", err, o.cmd, dir)
	}
	return err
}

// errNoDir is the usage error of a command not given the directory.
func (o dirOwner) errNoDir() error {
	return usageError("give the " + o.noun + " directory with --dir (or $" + o.env + ")")
}

// withCommands returns sub with the commands sm and kmc both have over
// their directory: accept-rollback, backup and restore, run by the
// functions given, and the unseal target's unseal, status and seal.
func (o dirOwner) withCommands(sub map[string]*command, acceptRollback, backup, restore func(*env, []string) error) map[string]*command {
	sub["accept-rollback"] = &command{summary: "go on from a restored, rolled-back or forked database (dual control, audited)", run: acceptRollback}
	sub["backup"] = &command{summary: "write a backup file of the " + o.noun + ": database snapshot and directory (docs/operations.md)", run: backup}
	sub["restore"] = &command{summary: "make a new " + o.noun + " directory from a backup file (dual control, audited)", run: restore}
	maps.Copy(sub, o.unseal.commands())
	return sub
}

// custodyUnlock is what opening a directory's custody takes: a PKCS#11
// token's PIN, the officers' credentials.
type custodyUnlock struct {
	pin      []byte
	officers []keystore.Component
	owned    bool // the officers' credentials were read here: zero clears them
}

// unlock reads what opening the custody of f.dir takes (who names it when
// the PIN is asked for): a PKCS#11 token's PIN and, under dual control,
// the officers' credentials, authenticated against its officer registry;
// a sealed custody's officers' credentials, those a server was given
// through the unseal socket or else read. read reads the officers'
// credentials, required where the custody cannot open without them.
func (f *dirFlags) unlock(e *env, pkcs11, sealed bool, who string, read func(required bool) ([]keystore.Component, error)) (custodyUnlock, error) {
	var u custodyUnlock
	var err error
	switch {
	case pkcs11:
		u.pin, err = readPIN(e, f.pinFile, who)
		if err == nil && f.dual {
			u.officers, err = read(false)
		}
	case sealed && f.unsealed != nil:
		return custodyUnlock{officers: f.unsealed}, nil
	case sealed:
		u.officers, err = read(true)
	}
	u.owned = true
	if err != nil {
		u.zero()
		return custodyUnlock{}, err
	}
	return u, nil
}

// zero clears the PIN and the officers' credentials unlock read.
func (u custodyUnlock) zero() {
	clear(u.pin)
	if u.owned {
		zeroOfficers(u.officers)
	}
}

// zeroOfficers clears the officers' credentials comps.
func zeroOfficers(comps []keystore.Component) {
	for i := range comps {
		comps[i].Zero()
	}
}
