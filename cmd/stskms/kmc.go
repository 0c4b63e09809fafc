package main

import (
	"context"
	"fmt"
	"strings"
	"time"

	"github.com/stskms/stskms/internal/keptcheckpoint"
	"github.com/stskms/stskms/keystore"
	"github.com/stskms/stskms/kmc"
	"github.com/stskms/stskms/records"
)

// kmcCommand is "stskms kmc": the Key Management Centre's administration.
// Wire it into commands() as "kmc": kmcCommand().
func kmcCommand() *command {
	return &command{summary: "Key Management Centre: keys, supply groups, module registry, authorisations, Key Load Files", sub: map[string]*command{
		"init":      {summary: "make a new KMC in a directory (--mode test|live)", run: runKMCInit},
		"pubkey":    {summary: "print the fingerprint line and the current PK.ECDH.1 (Record-in-Email)", run: runKMCPubkey},
		"serve":     {summary: "serve the HTTP/JSON admin API (TLS, bearer tokens, roles)", run: runKMCServe},
		"downgrade": {summary: "let this older binary open the KMC, lowering its version floor (dual control, audited)", run: runKMCDowngrade},
		"key": {summary: "the KMC's own key pairs", sub: map[string]*command{
			"rotate": {summary: "make a new current key pair; older ones serve until they expire", run: runKMCKeyRotate},
			"list":   {summary: "list the KMC's key pairs", run: runKMCKeyList},
		}},
		"sgc": {summary: "supply groups", sub: map[string]*command{
			"add":  {summary: "add a supply group", run: runKMCSGCAdd},
			"list": {summary: "list supply groups", run: runKMCSGCList},
		}},
		"vk": {summary: "vending keys (only their KCVs are ever shown)", sub: map[string]*command{
			"generate": {summary: "generate a vending key inside the KMC", run: runKMCVKGenerate},
			"import":   {summary: "import a vending key from officers' components (dual control)", run: runKMCVKImport},
			"list":     {summary: "list vending keys", run: runKMCVKList},
		}},
		"sm": {summary: "security-module registry", sub: map[string]*command{
			"register": {summary: "register a module, from its VKLOAD.REQ.1 or explicit fields", run: runKMCSMRegister},
			"list":     {summary: "list registered modules", run: runKMCSMList},
			"revoke":   {summary: "revoke a module for good", run: runKMCSMRevoke},
			"email":    {summary: "set the addresses allowed to receive a module's Key Load Files", run: runKMCSMEmail},
			"update":   kmcSMUpdateCommand(),
		}},
		"kua": {summary: "key-use authorisations (module ↔ supply group)", sub: map[string]*command{
			"grant":  {summary: "authorise a module for a supply group's keys", run: runKMCKUAGrant},
			"revoke": {summary: "revoke an authorisation", run: runKMCKUARevoke},
			"list":   {summary: "list authorisations", run: runKMCKUAList},
		}},
		"stsa":  kmcSTSACommand(),
		"prune": kmcPruneCommand(),
		"klf": {summary: "Key Load Files", sub: map[string]*command{
			"issue": {summary: "answer a VKLOAD.REQ.1 with a Key Load File", run: runKMCKLFIssue},
		}},
		"testsm": {summary: "TEST ONLY: a stand-in security module with a public test key (test-mode KMC only)", sub: map[string]*command{
			"request": {summary: "make a VKLOAD.REQ.1 for the KMC's current key", run: runKMCTestSMRequest},
			"open":    {summary: "open a Key Load File and print its keys' attributes and KCVs", run: runKMCTestSMOpen},
		}},
		"accept-rollback": {summary: "go on from a restored, rolled-back or forked database (dual control, audited)", run: runKMCAcceptRollback},
		"backup":          {summary: "write a backup file of the KMC: database snapshot and directory (docs/operations.md)", run: runKMCBackup},
		"restore":         {summary: "make a new KMC directory from a backup file (dual control, audited)", run: runKMCRestore},
		"unseal":          kmcUnsealTarget.commands()["unseal"],
		"status":          kmcUnsealTarget.commands()["status"],
		"seal":            kmcUnsealTarget.commands()["seal"],
		"console":         kmcConsole.command(),
	}}
}

// kmcFlags are the flags every kmc command has.
type kmcFlags struct {
	dir      string
	actor    string
	officers string
	pinFile  string
	witness  string // --witness: a file or URL each kept checkpoint goes to
	release  *releaseFlags
	// dbPasswordFile is --db-password-file (dbpassword.go).
	dbPasswordFile string
	// acceptRollback is set by "kmc accept-rollback", not a flag.
	acceptRollback bool
	// restore is set by "kmc restore", not a flag (backup.go).
	restore *keptcheckpoint.Restore
	// unsealed are the officers' components given through the unseal
	// socket (kmc serve, gateway serve), not a flag: open uses them
	// instead of reading passphrases.
	unsealed []keystore.Component
	// authenticated are the officers whose passphrases open verified
	// (officers.go), not a flag.
	authenticated []string
	// dual is set by the commands under dual control, not a flag: open
	// then reads --officers for a PKCS#11 custody too.
	dual bool
}

func addKMCFlags(e *env, fs *flagSet) *kmcFlags {
	f := &kmcFlags{}
	fs.StringVar(&f.dir, "dir", e.getenv("STSKMS_KMC_DIR"), "the KMC's directory (default $STSKMS_KMC_DIR)")
	fs.StringVar(&f.actor, "as", cliActor(e), "your name, for the audit log")
	fs.alias("actor", "as")
	fs.StringVar(&f.officers, "officers", "", "live mode: the officers, comma-separated; their passphrases are read\n"+
		"                 from standard input, one line each, in the same order (asked for\n"+
		"                 without echo on a terminal)")
	fs.StringVar(&f.pinFile, "pin-file", "", pinFileUsage)
	fs.StringVar(&f.witness, "witness", "", "also give each audit checkpoint the KMC keeps to this witness: a file it is appended to, or an http(s) URL it is POSTed to (docs/audit.md)")
	fs.StringVar(&f.dbPasswordFile, "db-password-file", "", dbPasswordUsage)
	f.release = addReleaseFlags(fs, true)
	return f
}

// readOfficers reads one passphrase per officer of the comma-separated
// list: one line each from standard input, or asked for without echo on a
// terminal.
func readOfficers(e *env, list string) ([]keystore.Component, error) {
	if list == "" {
		return nil, nil
	}
	names := strings.Split(list, ",")
	for i := range names {
		names[i] = strings.TrimSpace(names[i])
	}
	return officerPassphrases(e, names)
}

func zeroOfficers(comps []keystore.Component) {
	for i := range comps {
		comps[i].Zero()
	}
}

// open opens the KMC of f.dir, warning on standard error if it is a test
// KMC.
func (f *kmcFlags) open(e *env) (*kmc.KMC, error) {
	if f.dir == "" {
		return nil, usageError("give the KMC directory with --dir (or $STSKMS_KMC_DIR)")
	}
	mode, err := kmc.DirMode(f.dir)
	if err != nil {
		return nil, err
	}
	custody, err := kmc.DirCustody(f.dir)
	if err != nil {
		return nil, err
	}
	o := kmc.OpenOptions{Release: f.release.policy(), AcceptRollback: f.acceptRollback, Restore: f.restore}
	if f.witness != "" {
		o.Witnesses = []string{f.witness}
	}
	switch {
	case custody == keystore.KindPKCS11:
		if o.PIN, err = readPIN(e, f.pinFile, "the KMC in "+f.dir); err != nil {
			return nil, err
		}
		defer clear(o.PIN)
		if f.dual {
			// Authenticated against the custody's officer registry: the
			// dual control of the command (officers.go).
			if o.Officers, err = readOfficers(e, f.officers); err != nil {
				return nil, err
			}
			defer zeroOfficers(o.Officers)
		}
	case mode == kmc.ModeLive && f.unsealed != nil:
		o.Officers = f.unsealed
	case mode == kmc.ModeLive:
		if f.officers == "" {
			return nil, fmt.Errorf("a live KMC unlocks with every officer's passphrase: give --officers and the passphrases on standard input")
		}
		if o.Officers, err = readOfficers(e, f.officers); err != nil {
			return nil, err
		}
		defer zeroOfficers(o.Officers)
	}
	if o.DBPassword, err = f.dbPassword(e); err != nil {
		return nil, err
	}
	k, err := kmc.OpenDir(context.Background(), f.dir, o)
	if err != nil {
		return nil, err
	}
	f.authenticated = keystore.OfficerNames(o.Officers)
	if k.Mode() == kmc.ModeTest {
		fmt.Fprintln(e.stderr, kmc.TestModeWarning)
	}
	return k, nil
}

// timeFlag is a time given as YYYYMMDDTHHMMSSZ, RFC 3339, YYYY-MM-DD
// (midnight UTC), or relative to now as a signed Go duration ("-90s",
// "+720h").
type timeFlag struct{ t time.Time }

func (f *timeFlag) String() string {
	if f.t.IsZero() {
		return ""
	}
	return f.t.Format(records.TimeLayout)
}

func (f *timeFlag) Set(s string) error {
	if strings.HasPrefix(s, "+") || strings.HasPrefix(s, "-") {
		d, err := time.ParseDuration(s)
		if err != nil {
			return fmt.Errorf("want a signed duration such as -90s or +720h")
		}
		f.t = time.Now().UTC().Add(d).Truncate(time.Second)
		return nil
	}
	for _, layout := range []string{records.TimeLayout, time.RFC3339, "2006-01-02"} {
		if t, err := time.Parse(layout, s); err == nil {
			f.t = t.UTC()
			return nil
		}
	}
	return fmt.Errorf("want YYYYMMDDTHHMMSSZ, RFC 3339, YYYY-MM-DD or a signed duration (-90s)")
}

// parseNoArgs parses the command line of a command that takes flags only,
// refusing positional arguments.
func (fs *flagSet) parseNoArgs(e *env, args []string) error {
	pos, err := fs.parse(e, args)
	if err != nil {
		return err
	}
	if len(pos) > 0 {
		fmt.Fprintf(e.stderr, "stskms %s: unexpected argument %q (see --help)\n", fs.Name(), pos[0])
		return errUsage
	}
	return nil
}

// run parses the command line of a kmc command, opens the KMC, runs op on
// it and closes it.
func (f *kmcFlags) run(e *env, fs *flagSet, args []string, op func(*kmc.KMC) error) error {
	return runKMC(e, fs, args, f.open, op)
}

// runTest is run for kmc testsm: only with a test-mode KMC (openTestKMC).
func (f *kmcFlags) runTest(e *env, fs *flagSet, args []string, op func(*kmc.KMC) error) error {
	return runKMC(e, fs, args, func(e *env) (*kmc.KMC, error) { return openTestKMC(e, f) }, op)
}

func runKMC(e *env, fs *flagSet, args []string, open func(*env) (*kmc.KMC, error), op func(*kmc.KMC) error) error {
	if err := fs.parseNoArgs(e, args); err != nil {
		return err
	}
	k, err := open(e)
	if err != nil {
		return err
	}
	defer k.Close()
	return op(k)
}

// showKMC runs op on the KMC (see run) and prints its result with show.
func showKMC[T any](e *env, fs *flagSet, f *kmcFlags, args []string, op func(*kmc.KMC, context.Context) (T, error), show func(T)) error {
	return f.run(e, fs, args, func(k *kmc.KMC) error {
		v, err := op(k, context.Background())
		if err != nil {
			return err
		}
		show(v)
		return nil
	})
}
