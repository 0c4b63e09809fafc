package main

import (
	"context"
	"fmt"
	"strings"
	"time"

	"github.com/stskms/stskms/keystore"
	"github.com/stskms/stskms/kmc"
	"github.com/stskms/stskms/records"
)

// kmcCommand is "stskms kmc": the Key Management Centre's administration.
// Wire it into commands() as "kmc": kmcCommand().
func kmcCommand() *command {
	return &command{summary: "Key Management Centre: keys, supply groups, module registry, authorisations, Key Load Files", sub: kmcDir.withCommands(map[string]*command{
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
		"stsa":     kmcSTSACommand(),
		"prune":    kmcPruneCommand(),
		"officers": kmcOfficersCommand(),
		"klf": {summary: "Key Load Files", sub: map[string]*command{
			"issue": {summary: "answer a VKLOAD.REQ.1 with a Key Load File", run: runKMCKLFIssue},
		}},
		"testsm": {summary: "TEST ONLY: a stand-in security module with a public test key (test-mode KMC only)", sub: map[string]*command{
			"request": {summary: "make a VKLOAD.REQ.1 for the KMC's current key", run: runKMCTestSMRequest},
			"open":    {summary: "open a Key Load File and print its keys' attributes and KCVs", run: runKMCTestSMOpen},
		}},
		"console": kmcConsole.command(),
	}, runKMCAcceptRollback, runKMCBackup, runKMCRestore)}
}

// kmcFlags are the flags every kmc command has.
type kmcFlags struct {
	dirFlags
	officers string
}

func addKMCFlags(e *env, fs *flagSet) *kmcFlags {
	f := &kmcFlags{}
	f.addDirFlags(e, fs, kmcDir)
	fs.StringVar(&f.officers, "officers", "", "live mode: the officers, comma-separated; their passphrases are read\n"+
		"                 from standard input, one line each, in the same order (asked for\n"+
		"                 without echo on a terminal)")
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

// readOfficers returns how f.unlock reads the passphrases of --officers:
// required by a live KMC, which unlocks with every officer's.
func (f *kmcFlags) readOfficers(e *env) func(required bool) ([]keystore.Component, error) {
	return func(required bool) ([]keystore.Component, error) {
		if required && f.officers == "" {
			return nil, fmt.Errorf("a live KMC unlocks with every officer's passphrase: give --officers and the passphrases on standard input")
		}
		return readOfficers(e, f.officers)
	}
}

// open opens the KMC of f.dir, warning on standard error if it is a test
// KMC.
func (f *kmcFlags) open(e *env) (*kmc.KMC, error) {
	if f.dir == "" {
		return nil, kmcDir.errNoDir()
	}
	mode, err := kmc.DirMode(f.dir)
	if err != nil {
		return nil, err
	}
	custody, err := kmc.DirCustody(f.dir)
	if err != nil {
		return nil, err
	}
	u, err := f.unlock(e, custody == keystore.KindPKCS11, mode == kmc.ModeLive, "the KMC in "+f.dir, f.readOfficers(e))
	if err != nil {
		return nil, err
	}
	defer u.zero()
	o := kmc.OpenOptions{Release: f.release.policy(), AcceptRollback: f.acceptRollback, Restore: f.restore,
		Witnesses: f.witnesses(), PIN: u.pin, Officers: u.officers}
	if o.DBPassword, err = f.dbPassword(e); err != nil {
		return nil, err
	}
	k, err := kmc.OpenDir(context.Background(), f.dir, o)
	if err != nil {
		return nil, kmcDir.openError(err, f.dir)
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
