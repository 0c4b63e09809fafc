package main

import (
	"context"
	"encoding/hex"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/stskms/stskms/keyagree"
	"github.com/stskms/stskms/keyload"
	"github.com/stskms/stskms/keystore"
	"github.com/stskms/stskms/kmc"
	"github.com/stskms/stskms/records"
	"github.com/stskms/stskms/records/armor"
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
	// acceptRollback is set by "kmc accept-rollback", not a flag.
	acceptRollback bool
}

func addKMCFlags(e *env, fs *flagSet) *kmcFlags {
	f := &kmcFlags{}
	fs.StringVar(&f.dir, "dir", e.getenv("STSKMS_KMC_DIR"), "the KMC's directory (default $STSKMS_KMC_DIR)")
	actor := "cli"
	if u := e.getenv("USER"); u != "" {
		actor = "cli:" + u
	}
	fs.StringVar(&f.actor, "as", actor, "your name, for the audit log")
	fs.alias("actor", "as")
	fs.StringVar(&f.officers, "officers", "", "live mode: the officers, comma-separated; their passphrases are read\n"+
		"                 from standard input, one line each, in the same order (asked for\n"+
		"                 without echo on a terminal)")
	fs.StringVar(&f.pinFile, "pin-file", "", pinFileUsage)
	fs.StringVar(&f.witness, "witness", "", "also give each audit checkpoint the KMC keeps to this witness: a file it is appended to, or an http(s) URL it is POSTed to (docs/audit.md)")
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
	o := kmc.OpenOptions{Release: f.release.policy(), AcceptRollback: f.acceptRollback}
	if f.witness != "" {
		o.Witnesses = []string{f.witness}
	}
	switch {
	case custody == keystore.KindPKCS11:
		if o.PIN, err = readPIN(e, f.pinFile, "the KMC in "+f.dir); err != nil {
			return nil, err
		}
		defer clear(o.PIN)
	case mode == kmc.ModeLive:
		if f.officers == "" {
			return nil, fmt.Errorf("a live KMC unlocks with every officer's passphrase: give --officers and the passphrases on standard input")
		}
		if o.Officers, err = readOfficers(e, f.officers); err != nil {
			return nil, err
		}
		defer zeroOfficers(o.Officers)
	}
	k, err := kmc.OpenDir(context.Background(), f.dir, o)
	if err != nil {
		return nil, err
	}
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

func runKMCInit(e *env, args []string) error {
	fs := newFlags("kmc init", "--dir DIR --mode test|live [flags]",
		"Makes a new KMC in DIR (which must not exist or be empty): its key custody (DIR/keystore),\n"+
			"its database (SQLite DIR/kmc.db, or --db), its identity and a first P-384 key pair.\n"+
			"Test mode: the custody unlocks from a TEST-ONLY file beside it, so every command runs\n"+
			"without prompts; its keys protect nothing. Live mode: --vendor and --id are required,\n"+
			"and either --officers, each officer's passphrase read from standard input (one line\n"+
			"each, at least 12 bytes; asked for without echo on a terminal), every later command\n"+
			"needing them all; or --pkcs11 CONFIG.json, the KMC's keys in a PKCS#11 token\n"+
			"(module, token_label, namespace; the PIN from --pin-file or $STSKMS_PKCS11_PIN).")
	f := addKMCFlags(e, fs)
	mode := fs.String("mode", "", "test or live (required)")
	vendor := fs.String("vendor", "", "KMCID vendor, an IDENT (test default TestKMC)")
	id := fs.String("id", "", "KMCID id, an IDENT (test default K0001)")
	days := fs.Int("key-days", 3*365, "validity of the key pair in days (its PK.ECDH.1 expiry)")
	db := fs.String("db", "", "database: a postgres:// URL (default: SQLite DIR/kmc.db)")
	fs.alias("dsn", "db")
	p11 := fs.String("pkcs11", "", "live mode: keep the keys in the PKCS#11 token this configuration file names")
	if err := fs.parseNoArgs(e, args); err != nil {
		return err
	}
	if f.dir == "" || *mode == "" {
		fmt.Fprintln(e.stderr, "stskms kmc init: --dir and --mode are required (see --help)")
		return errUsage
	}
	m, err := kmc.ParseMode(*mode)
	if err != nil {
		return err
	}
	o := kmc.InitOptions{Mode: m, Vendor: *vendor, ID: *id, KeyLifetime: time.Duration(*days) * 24 * time.Hour,
		Database: *db, Actor: f.actor, Release: f.release.policy()}
	if o.PKCS11, err = loadPKCS11(*p11); err != nil {
		return err
	}
	switch {
	case o.PKCS11 != nil && m == kmc.ModeLive:
		if o.PIN, err = readPIN(e, f.pinFile, fmt.Sprintf("token %q", o.PKCS11.TokenLabel)); err != nil {
			return err
		}
		defer clear(o.PIN)
	case o.PKCS11 != nil:
		return fmt.Errorf("--pkcs11 is for a live KMC: a test KMC's custody is its TEST-ONLY file")
	case m == kmc.ModeLive:
		if f.officers == "" {
			return fmt.Errorf("a live KMC needs --officers (at least two) and their passphrases on standard input, or --pkcs11")
		}
		if o.Officers, err = readOfficers(e, f.officers); err != nil {
			return err
		}
		defer zeroOfficers(o.Officers)
	}
	k, err := kmc.Init(context.Background(), f.dir, o)
	if err != nil {
		return err
	}
	defer k.Close()
	key, err := k.CurrentKey(context.Background())
	if err != nil {
		return err
	}
	if m == kmc.ModeTest {
		fmt.Fprintln(e.stderr, kmc.TestModeWarning)
	}
	fmt.Fprintf(e.stdout, "KMC initialised in %s, mode %s\n", f.dir, strings.ToUpper(string(m)))
	fmt.Fprintf(e.stdout, "KMCID: %s\n", key.KMCID)
	fmt.Fprintf(e.stdout, "KMC Public Key Fingerprint: %s\n", key.Fingerprint)
	fmt.Fprintf(e.stdout, "Key expires: %s\n", key.Expiry().Format(records.TimeLayout))
	return nil
}

func runKMCPubkey(e *env, args []string) error {
	fs := newFlags("kmc pubkey", "--dir DIR",
		"Prints what {KMS:GetPublicKey} sends: the line \"KMC Public Key Fingerprint: XXXXXXXXXXXXXXXX\"\n"+
			"and the current PK.ECDH.1 in Record-in-Email form (CRLF line ends). Publish the\n"+
			"fingerprint out of band. The verifier key of the audit log's checkpoints goes to\n"+
			"standard error (\"audit key NAME+KEYID+BASE64\"): give it to the auditors.")
	f := addKMCFlags(e, fs)
	return f.run(e, fs, args, func(k *kmc.KMC) error {
		key, err := k.CurrentKey(context.Background())
		if err != nil {
			return err
		}
		out, err := kmc.FormatPublicKey(key)
		if err != nil {
			return err
		}
		fmt.Fprintf(e.stderr, "audit key %s\n", k.AuditKey())
		_, err = e.stdout.Write(out)
		return err
	})
}

func runKMCKeyRotate(e *env, args []string) error {
	fs := newFlags("kmc key rotate", "--dir DIR [--key-days N]",
		"Makes a new KMC key pair, which becomes the current (published) key. Requests made for\n"+
			"an older key are still answered until that key expires.")
	f := addKMCFlags(e, fs)
	days := fs.Int("key-days", 3*365, "validity of the new key pair in days")
	return showKMC(e, fs, f, args, func(k *kmc.KMC, ctx context.Context) (kmc.Key, error) {
		return k.RotateKey(ctx, f.actor, time.Duration(*days)*24*time.Hour)
	}, func(key kmc.Key) {
		fmt.Fprintf(e.stdout, "KMCID: %s\nKMC Public Key Fingerprint: %s\nKey expires: %s\n",
			key.KMCID, key.Fingerprint, key.Expiry().Format(records.TimeLayout))
	})
}

func runKMCKeyList(e *env, args []string) error {
	fs := newFlags("kmc key list", "--dir DIR [--json]", "Lists the KMC's key pairs, oldest first, and which is current.")
	f := addKMCFlags(e, fs)
	asJSON := fs.Bool("json", false, "one JSON object per key")
	return f.run(e, fs, args, func(k *kmc.KMC) error {
		ctx := context.Background()
		keys, err := k.Keys(ctx)
		if err != nil {
			return err
		}
		cur, _ := k.CurrentKey(ctx)
		now := time.Now()
		state := func(key kmc.Key) string {
			switch {
			case key.Expired(now):
				return "expired"
			case key.Seq == cur.Seq:
				return "current"
			}
			return "valid"
		}
		printEach(e, *asJSON, keys, func(key kmc.Key) any {
			return fields{{"seq", key.Seq}, {"kmcid", key.KMCID.String()}, {"fingerprint", key.Fingerprint.String()},
				{"expiry", key.Expiry().Format(records.TimeLayout)}, {"state", state(key)}}
		}, func(key kmc.Key) {
			fmt.Fprintf(e.stdout, "%d  %-8s %s  expires %s  fingerprint %s\n", key.Seq, state(key), key.KMCID,
				key.Expiry().Format(records.TimeLayout), key.Fingerprint)
		})
		return nil
	})
}

func runKMCSGCAdd(e *env, args []string) error {
	fs := newFlags("kmc sgc add", "--dir DIR --sgc NNNNNN [--name TEXT]", "Adds a supply group.")
	f := addKMCFlags(e, fs)
	sgc := sgcVar(fs, "sgc", "", "supply group code, 6 digits (required)")
	name := fs.String("name", "", "a name for operators")
	return showKMC(e, fs, f, args, func(k *kmc.KMC, ctx context.Context) (kmc.SupplyGroup, error) {
		code, err := sgc.need()
		if err != nil {
			return kmc.SupplyGroup{}, err
		}
		return k.AddSupplyGroup(ctx, f.actor, code, *name)
	}, func(sg kmc.SupplyGroup) { fmt.Fprintf(e.stdout, "supply group %06d added\n", sg.SGC) })
}

func runKMCSGCList(e *env, args []string) error {
	fs := newFlags("kmc sgc list", "--dir DIR", "Lists the supply groups.")
	f := addKMCFlags(e, fs)
	return showKMC(e, fs, f, args, (*kmc.KMC).SupplyGroups, func(sgs []kmc.SupplyGroup) {
		printEach(e, false, sgs, nil, func(sg kmc.SupplyGroup) {
			fmt.Fprintf(e.stdout, "%06d  %s  added %s by %s\n", sg.SGC, sg.Name, sg.CreatedAt.Format(records.TimeLayout), sg.CreatedBy)
		})
	})
}

// vkFlags are the attributes of a new vending key.
type vkFlags struct {
	sgc, krn           *digitsFlag
	bdt, ken           int
	typ, dkga, ea, clm string
	act, exp, iut      timeFlag
}

func addVKFlags(fs *flagSet) *vkFlags {
	v := &vkFlags{}
	v.sgc = sgcVar(fs, "sgc", "", "supply group code, 6 digits (required)")
	fs.StringVar(&v.typ, "type", "", "key type: VDDK, VUDK, VCDK or INIT (required)")
	v.krn = krnVar(fs, "krn", "", "key revision number, 1 digit: 1..9 (default: the next in the cycle)")
	fs.IntVar(&v.bdt, "bdt", 2014, "base date: 1993, 2014 or 2035")
	fs.StringVar(&v.dkga, "dkga", "04", "decoder key generation algorithm: 02 (8-byte key) or 04 (20-byte key)")
	fs.StringVar(&v.ea, "ea", "11", "encryption algorithm: 07, 09 or 11")
	fs.IntVar(&v.ken, "ken", 255, "key expiry number 0-255")
	fs.Var(&v.act, "act", "activation time (default now)")
	fs.Var(&v.exp, "exp", "when the KMC stops issuing the key (default ACT + 10 years)")
	fs.Var(&v.iut, "iut", "when modules stop using the key (default EXP)")
	fs.StringVar(&v.clm, "clm", "FFFFFFFF", "credit limit, 8 hex digits")
	return v
}

func (v *vkFlags) attributes() (kmc.VKAttributes, error) {
	kt, err := kmc.ParseKeyType(v.typ)
	if err != nil {
		return kmc.VKAttributes{}, err
	}
	dkga, err1 := strconv.Atoi(v.dkga)
	ea, err2 := strconv.Atoi(v.ea)
	clm, err3 := strconv.ParseUint(v.clm, 16, 32)
	if err := errors.Join(err1, err2, err3); err != nil {
		return kmc.VKAttributes{}, fmt.Errorf("--dkga, --ea or --clm: %w", err)
	}
	sgc, err := v.sgc.need()
	if err != nil {
		return kmc.VKAttributes{}, err
	}
	a := kmc.VKAttributes{SGC: sgc, KRN: v.krn.or(0), Type: kt, BDT: v.bdt, DKGA: dkga, EA: ea, KEN: v.ken,
		ACT: v.act.t, EXP: v.exp.t, IUT: v.iut.t, CLM: uint32(clm)}
	if a.ACT.IsZero() {
		a.ACT = time.Now().UTC().Truncate(time.Second)
	}
	if a.EXP.IsZero() {
		a.EXP = a.ACT.AddDate(10, 0, 0)
	}
	if a.IUT.IsZero() {
		a.IUT = a.EXP
	}
	return a, nil
}

func printVK(e *env, v kmc.VendingKey) {
	fmt.Fprintf(e.stdout, "%s  SGC %06d  %s  KRN %d  BDT %d  DKGA%02d  EA%02d  KEN %d  KCV %s  %s  EXP %s\n",
		v.ID, v.SGC, v.Type, v.KRN, v.BDT, v.DKGA, v.EA, v.KEN, v.KCV, v.State, v.EXP.Format(records.TimeLayout))
}

func runKMCVKGenerate(e *env, args []string) error {
	fs := newFlags("kmc vk generate", "--dir DIR --sgc NNNNNN --type VUDK [flags]",
		"Generates a vending key from the system's CSPRNG inside the KMC; it is stored sealed by\n"+
			"the key custody and only its KCV is shown. DKGA02 keys get odd parity.")
	f := addKMCFlags(e, fs)
	v := addVKFlags(fs)
	return showKMC(e, fs, f, args, func(k *kmc.KMC, ctx context.Context) (kmc.VendingKey, error) {
		a, err := v.attributes()
		if err != nil {
			return kmc.VendingKey{}, err
		}
		return k.GenerateVendingKey(ctx, f.actor, a)
	}, func(vk kmc.VendingKey) { printVK(e, vk) })
}

// componentFlags collects --component OFFICER=FILE.
type componentFlags []string

func (c *componentFlags) String() string     { return "" }
func (c *componentFlags) Set(s string) error { *c = append(*c, s); return nil }

func runKMCVKImport(e *env, args []string) error {
	fs := newFlags("kmc vk import", "--dir DIR --sgc NNNNNN --type VUDK --component OFFICER=FILE --component OFFICER=FILE [flags]",
		"Imports an existing vending key as the XOR of two or more components, each entered by a\n"+
			"different officer (dual control). Each FILE holds the component in hex and its KCV in\n"+
			"hex, separated by white space; each component's KCV is checked. --kcv checks the\n"+
			"combined key too.")
	f := addKMCFlags(e, fs)
	v := addVKFlags(fs)
	var comps componentFlags
	fs.Var(&comps, "component", "OFFICER=FILE, one per officer (repeat)")
	kcvHex := fs.String("kcv", "", "the combined key's KCV, 6 hex digits")
	return showKMC(e, fs, f, args, func(k *kmc.KMC, ctx context.Context) (kmc.VendingKey, error) {
		a, err := v.attributes()
		if err != nil {
			return kmc.VendingKey{}, err
		}
		var parts []kmc.KeyComponent
		defer func() {
			for _, p := range parts {
				clear(p.Value)
			}
		}()
		if parts, err = comps.read(); err != nil {
			return kmc.VendingKey{}, err
		}
		var kcv []byte
		if *kcvHex != "" {
			if kcv, err = hex.DecodeString(*kcvHex); err != nil {
				return kmc.VendingKey{}, fmt.Errorf("--kcv: not hex")
			}
		}
		return k.ImportVendingKey(ctx, f.actor, a, parts, kcv)
	}, func(vk kmc.VendingKey) { printVK(e, vk) })
}

// read reads the component files; what it returns holds key material, to
// clear after use (also when it fails: what it read so far).
func (c componentFlags) read() ([]kmc.KeyComponent, error) {
	var parts []kmc.KeyComponent
	for _, c := range c {
		officer, file, ok := strings.Cut(c, "=")
		if !ok {
			return parts, fmt.Errorf("--component %q: want OFFICER=FILE", c)
		}
		data, err := os.ReadFile(file)
		if err != nil {
			return parts, err
		}
		words := strings.Fields(string(data))
		clear(data)
		if len(words) != 2 {
			return parts, fmt.Errorf("component file of %s: want the component and its KCV in hex", officer)
		}
		value, err1 := hex.DecodeString(words[0])
		kcv, err2 := hex.DecodeString(words[1])
		if err1 != nil || err2 != nil {
			return parts, fmt.Errorf("component file of %s: not hex", officer)
		}
		parts = append(parts, kmc.KeyComponent{Officer: officer, Value: value, KCV: kcv})
	}
	return parts, nil
}

func runKMCVKList(e *env, args []string) error {
	fs := newFlags("kmc vk list", "--dir DIR [--sgc NNNNNN] [--json]", "Lists vending keys with their attributes and KCVs.")
	f := addKMCFlags(e, fs)
	sgc := sgcVar(fs, "sgc", "", "only this supply group, 6 digits")
	asJSON := fs.Bool("json", false, "one JSON object per key")
	return f.run(e, fs, args, func(k *kmc.KMC) error {
		var sgcs []int
		if sgc.given() {
			sgcs = []int{sgc.v}
		}
		keys, err := k.VendingKeys(context.Background(), sgcs...)
		if err != nil {
			return err
		}
		printEach(e, *asJSON, keys, vkFields, func(v kmc.VendingKey) { printVK(e, v) })
		return nil
	})
}

// vkFields is a vending key as kmc vk list --json prints it.
func vkFields(v kmc.VendingKey) any {
	return fields{{"id", v.ID}, {"sgc", fmt.Sprintf("%06d", v.SGC)}, {"type", v.Type.String()},
		{"krn", v.KRN}, {"bdt", v.BDT}, {"dkga", fmt.Sprintf("%02d", v.DKGA)}, {"ea", fmt.Sprintf("%02d", v.EA)},
		{"ken", v.KEN}, {"act", v.ACT.Format(records.TimeLayout)}, {"exp", v.EXP.Format(records.TimeLayout)},
		{"iut", v.IUT.Format(records.TimeLayout)}, {"clm", fmt.Sprintf("%08X", v.CLM)}, {"kcv", v.KCV},
		{"origin", v.Origin}, {"state", v.State}}
}

func runKMCSMRegister(e *env, args []string) error {
	fs := newFlags("kmc sm register", "--dir DIR (--request FILE | --smid SMID --public-key HEX --model M --firmware F) --variant V [flags]",
		"Registers a security module. From --request, the module's own VKLOAD.REQ.1 (mail body,\n"+
			"file of records or one-line record) made for this KMC: its tag must verify, proving the\n"+
			"module holds its key. A live KMC registers no virtual module.")
	f := addKMCFlags(e, fs)
	reqFile := fs.String("request", "", "the module's VKLOAD.REQ.1")
	smid := fs.String("smid", "", "SMID.1 of the module (without --request)")
	pub := fs.String("public-key", "", "its P-384 public key, 194 hex digits (without --request)")
	model := fs.String("model", "", "model (without --request)")
	firmware := fs.String("firmware", "", "firmware, 8 characters (without --request)")
	variant := fs.String("variant", "", "vending or manufacturing (required)")
	virtual := fs.Bool("virtual", true, "a virtual (software) module; --virtual=false for hardware")
	certified := fs.Bool("certified", false, "certified hardware module (STS Association)")
	emails := fs.String("email", "", "addresses allowed to receive its Key Load Files, comma-separated")
	return f.run(e, fs, args, func(k *kmc.KMC) error {
		v, err := kmc.ParseVariant(*variant)
		if err != nil {
			return err
		}
		reg := kmc.Registration{Variant: v, Virtual: *virtual, Certified: *certified, Emails: splitList(*emails)}
		ctx := context.Background()
		var sm kmc.SM
		if *reqFile != "" {
			text, err := os.ReadFile(*reqFile)
			if err != nil {
				return err
			}
			req, err := kmc.ParseRequest(text)
			if err != nil {
				return err
			}
			sm, err = k.RegisterSMFromRequest(ctx, f.actor, req, reg)
			if err != nil {
				return err
			}
		} else {
			id, err := records.ParsePKID(*smid)
			if err != nil {
				return fmt.Errorf("--smid: %w", err)
			}
			point, err := hex.DecodeString(*pub)
			if err != nil {
				return fmt.Errorf("--public-key: not hex")
			}
			key, err := keyagree.ParsePublicKey(point)
			if err != nil {
				return fmt.Errorf("--public-key: %w", err)
			}
			sm, err = k.RegisterSM(ctx, f.actor, kmc.SM{SMID: id, PublicKey: key, Model: *model, Firmware: *firmware,
				Variant: reg.Variant, Virtual: reg.Virtual, Certified: reg.Certified, Emails: reg.Emails})
			if err != nil {
				return err
			}
		}
		fmt.Fprintf(e.stdout, "registered %s (%s, %s)\n", sm.SMID, sm.Variant, smKind(sm))
		return nil
	})
}

func splitList(s string) []string {
	var out []string
	for _, f := range strings.Split(s, ",") {
		if f = strings.TrimSpace(f); f != "" {
			out = append(out, f)
		}
	}
	return out
}

func smKind(sm kmc.SM) string {
	switch {
	case sm.Virtual:
		return "virtual"
	case sm.Certified:
		return "certified hardware"
	}
	return "hardware, not certified"
}

func runKMCSMList(e *env, args []string) error {
	fs := newFlags("kmc sm list", "--dir DIR [--json]", "Lists the registered security modules.")
	f := addKMCFlags(e, fs)
	asJSON := fs.Bool("json", false, "one JSON object per module")
	return showKMC(e, fs, f, args, (*kmc.KMC).SMs, func(sms []kmc.SM) {
		printEach(e, *asJSON, sms, func(sm kmc.SM) any {
			return fields{{"smid", sm.SMID.String()}, {"model", sm.Model}, {"firmware", sm.Firmware},
				{"variant", string(sm.Variant)}, {"virtual", sm.Virtual}, {"certified", sm.Certified},
				{"revoked", sm.Revoked}, {"emails", sm.Emails}}
		}, func(sm kmc.SM) {
			state := "active"
			if sm.Revoked {
				state = "REVOKED " + sm.RevokedAt.Format(records.TimeLayout)
			}
			fmt.Fprintf(e.stdout, "%s  %s %s  %s, %s  %s  %s\n", sm.SMID, sm.Model, sm.Firmware, sm.Variant, smKind(sm),
				strings.Join(sm.Emails, ","), state)
		})
	})
}

func runKMCSMRevoke(e *env, args []string) error {
	fs := newFlags("kmc sm revoke", "--dir DIR --sm REF --reason TEXT",
		"Revokes a module's registration for good: it gets no Key Load File from then on.\n"+
			"REF is its SMID, vendor:id, or its id alone if that names one module.")
	f := addKMCFlags(e, fs)
	ref := fs.String("sm", "", "the module (required)")
	reason := fs.String("reason", "", "why (for the audit log)")
	return showKMC(e, fs, f, args, func(k *kmc.KMC, ctx context.Context) (kmc.SM, error) {
		return k.RevokeSM(ctx, f.actor, *ref, *reason)
	}, func(sm kmc.SM) { fmt.Fprintf(e.stdout, "revoked %s\n", sm.SMID) })
}

func runKMCSMEmail(e *env, args []string) error {
	fs := newFlags("kmc sm email", "--dir DIR --sm REF --email ADDR[,ADDR…]",
		"Sets the addresses allowed to receive a module's Key Load Files by mail, replacing the\n"+
			"old ones (--email '' removes them all): for a module the STS Association's registry\n"+
			"update added, which comes without any, or when its operators change. Audited.")
	f := addKMCFlags(e, fs)
	ref := fs.String("sm", "", "the module (required)")
	emails := fs.String("email", "", "the addresses, comma-separated")
	return showKMC(e, fs, f, args, func(k *kmc.KMC, ctx context.Context) (kmc.SM, error) {
		return k.SetSMEmails(ctx, f.actor, *ref, splitList(*emails))
	}, func(sm kmc.SM) { fmt.Fprintf(e.stdout, "%s: %s\n", sm.SMID, strings.Join(sm.Emails, ",")) })
}

func runKMCKUAGrant(e *env, args []string) error {
	fs := newFlags("kmc kua grant", "--dir DIR --sm REF --sgc NNNNNN [--types VUDK,VCDK] [--from T] [--until T]",
		"Authorises a module to receive a supply group's vending keys of the given types in its\n"+
			"Key Load Files, from --from (default now) until --until. A vending module cannot be\n"+
			"authorised for INIT keys. A grant an unrevoked authorisation is in force for at its\n"+
			"start is refused and names it (repeating a grant makes no second one; renew --from its end).")
	f := addKMCFlags(e, fs)
	ref := fs.String("sm", "", "the module: SMID, vendor:id or id (required)")
	sgc := sgcVar(fs, "sgc", "", "supply group code, 6 digits (required)")
	types := fs.String("types", "VDDK,VUDK,VCDK", "key types, comma-separated")
	var from, until timeFlag
	fs.Var(&from, "from", "start (default now)")
	fs.Var(&until, "until", "end (default from + 1 year)")
	return showKMC(e, fs, f, args, func(k *kmc.KMC, ctx context.Context) (kmc.KUA, error) {
		kt, err := kmc.ParseKeyTypes(*types)
		if err != nil {
			return kmc.KUA{}, err
		}
		if until.t.IsZero() {
			start := from.t
			if start.IsZero() {
				start = time.Now()
			}
			until.t = start.AddDate(1, 0, 0)
		}
		code, err := sgc.need()
		if err != nil {
			return kmc.KUA{}, err
		}
		return k.Grant(ctx, f.actor, *ref, kmc.KUA{SGC: code, Types: kt, From: from.t, Until: until.t})
	}, func(a kmc.KUA) {
		fmt.Fprintf(e.stdout, "authorisation %d: %s for %06d %s from %s until %s\n", a.ID, a.SMID, a.SGC, a.Types,
			a.From.Format(records.TimeLayout), a.Until.Format(records.TimeLayout))
	})
}

func runKMCKUARevoke(e *env, args []string) error {
	fs := newFlags("kmc kua revoke", "--dir DIR --id N", "Revokes an authorisation.")
	f := addKMCFlags(e, fs)
	id := fs.Int64("id", 0, "the authorisation's number (required)")
	return showKMC(e, fs, f, args, func(k *kmc.KMC, ctx context.Context) (kmc.KUA, error) {
		return k.RevokeKUA(ctx, f.actor, *id)
	}, func(a kmc.KUA) { fmt.Fprintf(e.stdout, "authorisation %d revoked\n", a.ID) })
}

func runKMCKUAList(e *env, args []string) error {
	fs := newFlags("kmc kua list", "--dir DIR [--sm REF] [--json]", "Lists authorisations, revoked ones included.")
	f := addKMCFlags(e, fs)
	ref := fs.String("sm", "", "only this module's")
	asJSON := fs.Bool("json", false, "one JSON object per authorisation")
	return f.run(e, fs, args, func(k *kmc.KMC) error {
		list, err := k.KUAs(context.Background(), *ref)
		if err != nil {
			return err
		}
		now := time.Now()
		state := func(a kmc.KUA) string {
			switch {
			case !a.RevokedAt.IsZero():
				return "revoked"
			case !a.Valid(now):
				return "not valid now"
			}
			return "valid"
		}
		printEach(e, *asJSON, list, func(a kmc.KUA) any {
			return fields{{"id", a.ID}, {"smid", a.SMID}, {"sgc", fmt.Sprintf("%06d", a.SGC)},
				{"types", a.Types.String()}, {"from", a.From.Format(records.TimeLayout)},
				{"until", a.Until.Format(records.TimeLayout)}, {"state", state(a)}}
		}, func(a kmc.KUA) {
			fmt.Fprintf(e.stdout, "%d  %s  %06d  %s  %s..%s  %s\n", a.ID, a.SMID, a.SGC, a.Types,
				a.From.Format(records.TimeLayout), a.Until.Format(records.TimeLayout), state(a))
		})
		return nil
	})
}

func runKMCKLFIssue(e *env, args []string) error {
	fs := newFlags("kmc klf issue", "--dir DIR --request FILE [--out FILE | --out-dir DIR]",
		"Answers a VKLOAD.REQ.1 (a mail body, a file of records or the one-line record) with a Key\n"+
			"Load File, written as a file of records to --out, or to --out-dir under its attachment\n"+
			"name (<SMID id>_<time>.klf; default: the current directory). A refusal prints its code\n"+
			"(as the gateway sends it) and exits with status 1.")
	f := addKMCFlags(e, fs)
	reqFile := fs.String("request", "", "the VKLOAD.REQ.1 (required; - for standard input)")
	out := fs.String("out", "", "write the Key Load File here")
	outDir := fs.String("out-dir", ".", "or into this directory, under its attachment name")
	return f.run(e, fs, args, func(k *kmc.KMC) error {
		text, err := readFileArg(e, "request", *reqFile)
		if err != nil {
			return err
		}
		klf, err := k.IssueKLFText(context.Background(), f.actor, text)
		if err != nil {
			return printRefusal(e, err)
		}
		path := *out
		if path == "" {
			path = filepath.Join(*outDir, klf.FileName)
		}
		if err := os.WriteFile(path, klf.File, 0o644); err != nil {
			return err
		}
		fmt.Fprintf(e.stdout, "Key Load File for %s: %s, written to %s\n", klf.SMID, count(len(klf.Keys), "vending key", "vending keys"), path)
		for _, ik := range klf.Keys {
			fmt.Fprintf(e.stdout, "  SGC %06d  %s  KRN %d  KCV %s\n", ik.SGC, ik.Type, ik.KRN, ik.KCV)
		}
		if len(klf.Emails) > 0 {
			fmt.Fprintf(e.stdout, "may be sent to: %s\n", strings.Join(klf.Emails, ", "))
		}
		return nil
	})
}

// testSMFlags name the stand-in module of kmc testsm.
type testSMFlags struct {
	label, vendor, id, model, firmware string
}

func addTestSMFlags(fs *flagSet) *testSMFlags {
	s := &testSMFlags{}
	fs.StringVar(&s.label, "label", "sts-test-sm", "label of the public TEST key (keyagree.TestKey)")
	fs.StringVar(&s.vendor, "vendor", "TestVendor", "SMID vendor")
	fs.StringVar(&s.id, "id", "94000001", "SMID id")
	fs.StringVar(&s.model, "model", "Test-SSM-1", "model")
	fs.StringVar(&s.firmware, "firmware", "SSM1V100", "firmware, 8 characters")
	return s
}

// testSMKeyTime is the key time of every stand-in module's SMID, that of
// the kms-records.md §3.7 vectors.
var testSMKeyTime = time.Date(2025, 1, 2, 0, 0, 0, 0, time.UTC)

func (s *testSMFlags) module() (keyload.Module, error) {
	key, err := keyagree.TestKey(s.label)
	if err != nil {
		return keyload.Module{}, err
	}
	pkid, err := records.NewPKID(records.SMID, s.vendor, s.id, testSMKeyTime, key.PublicKey())
	if err != nil {
		return keyload.Module{}, err
	}
	return keyload.Module{Key: key, PKID: pkid}, nil
}

// openTestKMC opens a KMC for kmc testsm: only a test-mode one.
func openTestKMC(e *env, f *kmcFlags) (*kmc.KMC, error) {
	if f.dir == "" {
		return nil, usageError("give the KMC directory with --dir (or $STSKMS_KMC_DIR)")
	}
	if m, err := kmc.DirMode(f.dir); err != nil {
		return nil, err
	} else if m != kmc.ModeTest {
		return nil, fmt.Errorf("kmc testsm works with a test-mode KMC only; its keys are public")
	}
	k, err := kmc.OpenDir(context.Background(), f.dir, kmc.OpenOptions{Release: f.release.policy()})
	if err != nil {
		return nil, err
	}
	fmt.Fprintln(e.stderr, kmc.TestModeWarning)
	fmt.Fprintln(e.stderr, "TEST ONLY: a stand-in security module whose private key is public (keyagree.TestKey)")
	return k, nil
}

func runKMCTestSMRequest(e *env, args []string) error {
	fs := newFlags("kmc testsm request", "--dir DIR [--label L] [--id ID] [--out FILE]",
		"TEST ONLY. Makes the VKLOAD.REQ.1 of a stand-in security module for the current key of\n"+
			"the test-mode KMC in DIR, in Record-in-Email form. The module's key is the public test\n"+
			"key of --label: anyone can compute it. Refuses a live KMC.")
	f := addKMCFlags(e, fs)
	s := addTestSMFlags(fs)
	out := fs.String("out", "", "write the request here (default: standard output)")
	var at timeFlag
	fs.Var(&at, "at", "request time (default now)")
	return f.runTest(e, fs, args, func(k *kmc.KMC) error {
		key, err := k.CurrentKey(context.Background())
		if err != nil {
			return err
		}
		mod, err := s.module()
		if err != nil {
			return err
		}
		t := at.t
		if t.IsZero() {
			t = time.Now()
		}
		req, err := keyload.NewRequest(mod, key.Record, t, s.model, s.firmware)
		if err != nil {
			return err
		}
		block, err := wrapRecord(req)
		if err != nil {
			return err
		}
		return writeOut(e, *out, block)
	})
}

func runKMCTestSMOpen(e *env, args []string) error {
	fs := newFlags("kmc testsm open", "--dir DIR --request FILE --klf FILE [--label L] [--id ID]",
		"TEST ONLY. Opens a Key Load File as the stand-in module that made --request would\n"+
			"(keyload.Open: header, MAC, every key unwrapped and checked against its KCV) and prints\n"+
			"each key's attributes and KCV, never the key.")
	f := addKMCFlags(e, fs)
	s := addTestSMFlags(fs)
	reqFile := fs.String("request", "", "the request the file answers (required)")
	klfFile := fs.String("klf", "", "the Key Load File (required)")
	return f.runTest(e, fs, args, func(k *kmc.KMC) error {
		pending, err := testSMPending(k, *reqFile)
		if err != nil {
			return err
		}
		data, err := os.ReadFile(*klfFile)
		if err != nil {
			return err
		}
		blocks, err := armor.ParseFile(data)
		if err != nil {
			return err
		}
		bodies := make([]string, len(blocks))
		for i, b := range blocks {
			bodies[i] = b.Body
		}
		mod, err := s.module()
		if err != nil {
			return err
		}
		vks, err := keyload.Open(mod, pending, bodies)
		if err != nil {
			return err
		}
		for i := range vks {
			kcv, _ := keyagree.KCV(vks[i].Key)
			fmt.Fprintf(e.stdout, "SGC %06d  %s  KRN %d  BDT %d  DKGA%02d  EA%02d  KEN %d  KCV %X\n", vks[i].SGC,
				kmc.KeyType(vks[i].KT), vks[i].KRN, vks[i].BDT, vks[i].DKGA, vks[i].EA, vks[i].KEN, kcv)
			vks[i].Zero()
		}
		fmt.Fprintf(e.stdout, "%s loaded\n", count(len(vks), "vending key", "vending keys"))
		return nil
	})
}

// testSMPending is what the stand-in module that made the request in
// reqFile awaits: the KMC key it named and the request's time.
func testSMPending(k *kmc.KMC, reqFile string) (keyload.Pending, error) {
	text, err := os.ReadFile(reqFile)
	if err != nil {
		return keyload.Pending{}, err
	}
	req, err := kmc.ParseRequest(text)
	if err != nil {
		return keyload.Pending{}, err
	}
	keys, err := k.Keys(context.Background())
	if err != nil {
		return keyload.Pending{}, err
	}
	var pk *records.PKECDH
	for _, key := range keys {
		if key.KMCID.String() == req.KMCID.String() {
			pk = key.Record
		}
	}
	if pk == nil {
		return keyload.Pending{}, fmt.Errorf("the request names no key of this KMC")
	}
	return keyload.Pending{KMC: pk, RequestTime: req.Time}, nil
}

// writeOut writes data to the file path, or to standard output if path is
// empty.
func writeOut(e *env, path string, data []byte) error {
	if path == "" {
		_, err := e.stdout.Write(data)
		return err
	}
	return os.WriteFile(path, data, 0o644)
}

// wrapRecord formats a record and wraps it in Record-in-Email form.
func wrapRecord(r interface{ Format() (string, error) }) ([]byte, error) {
	body, err := r.Format()
	if err != nil {
		return nil, err
	}
	return armor.Wrap(body)
}
