package main

import (
	"context"
	"encoding/hex"
	"fmt"
	"io"
	"os"
	"slices"
	"strconv"
	"strings"

	"github.com/stskms/stskms/keystore"
	"github.com/stskms/stskms/records"
	"github.com/stskms/stskms/records/armor"
	"github.com/stskms/stskms/sm"
	"github.com/stskms/stskms/sts"
	"github.com/stskms/stskms/sts/sta"
)

// smCommand is "stskms sm": the software security module (package sm).
func smCommand() *command {
	return &command{summary: "the software security module: init, KEK slots, key loading, tokens, audit", sub: smDir.withCommands(map[string]*command{
		"init":      {summary: "make a new module (--variant vending|manufacturing [--test])", run: runSMInit},
		"identify":  {summary: "print the module's SMID, variant, virtual flag, firmware ids and test mode", run: runSMIdentify},
		"selftest":  {summary: "run the known-answer tests and the integrity check of the stored state", run: runSMSelftest},
		"downgrade": {summary: "let this older binary open the module, lowering its version floor (dual control, audited)", run: runSMDowngrade},
		"registers": {summary: "list the vending key registers (never their keys)", run: runSMRegisters},
		"serve":     {summary: "serve the HTTP/JSON API (docs/sm-api.yaml) with bearer-token roles", run: runSMServe},
		"call":      {summary: "send STS6-style frames to a module's STS6 port and print the replies", run: runSMCall},
		"bench":     {summary: "credit tokens through the HTTP API on loopback: tokens/s, p50/p99", run: runSMBench},
		"slot": {summary: "KEK slots: install a KMC key, request and load a Key Load File", sub: map[string]*command{
			"install": {summary: "install a PK.ECDH.1 into a KEK slot (officer)", run: runSMSlotInstall},
			"request": {summary: "make a VKLOAD.REQ.1 from a slot, in Record-in-Email form (officer)", run: runSMSlotRequest},
			"load":    {summary: "load the Key Load File answering a slot's request, all or nothing (officer)", run: runSMSlotLoad},
			"delete":  {summary: "empty a KEK slot (officer)", run: runSMSlotDelete},
			"list":    {summary: "list the KEK slots", run: runSMSlotList},
		}},
		"mail": {summary: "the integrator's mail client: fetch the KMC key and a Key Load File from a gateway", sub: map[string]*command{
			"pubkey": {summary: "{KMS:GetPublicKey} by mail; install the key if it matches --fingerprint (officer)", run: runSMMailPubkey},
			"klf":    {summary: "{KMS:GetKlfStsEd2} by mail for a slot's request; load the Key Load File (officer)", run: runSMMailKLF},
		}},
		"vend": {summary: "issue and verify tokens (operator)", sub: map[string]*command{
			"credit":    {summary: "a class 0 credit token", run: runSMVendCredit},
			"manage":    {summary: "a class 2 management token", run: runSMVendManage},
			"keychange": {summary: "a key change token set", run: runSMVendKeyChange},
			"test":      {summary: "a class 1 test/display token", run: runSMVendTest},
			"verify":    {summary: "decode a token under a meter's key", run: runSMVendVerify},
		}},
		"audit": {summary: "the module's audit log (auditor)", sub: map[string]*command{
			"verify": {summary: "verify the hash chain of the audit log", run: runSMAuditVerify},
		}},
		"console":  smConsole.command(),
		"officers": smOfficersCommand(),
	}, runSMAcceptRollback, runSMBackup, runSMRestore)}
}

// smFlags are the flags every sm subcommand has.
type smFlags struct {
	dirFlags
	tables string
	json   bool
}

func addSMFlags(e *env, fs *flagSet) *smFlags {
	f := &smFlags{}
	f.addDirFlags(e, fs, smDir)
	fs.BoolVar(&f.json, "json", false, "print JSON")
	return f
}

func addSMTablesFlag(e *env, fs *flagSet, f *smFlags) {
	addTablesFlag(e, fs, &f.tables)
}

// smCredentials reads the officers' credentials of a production module:
// from a terminal, each officer's name and then passphrase (not echoed)
// until an empty name; otherwise from standard input, one
// "NAME=PASSPHRASE" per line. (An interim: the network API will
// authenticate officers itself.)
func smCredentials(e *env) ([]keystore.Component, error) {
	p := newPrompter(e)
	defer p.close()
	var creds []keystore.Component
	for {
		c, ok, err := p.credential()
		if err != nil || !ok {
			if err != nil {
				zeroOfficers(creds)
				creds = nil
			}
			return creds, err
		}
		creds = append(creds, c)
	}
}

// run parses the command line, then opens the module it names and runs op
// on it (see with).
func (f *smFlags) run(e *env, fs *flagSet, args []string, allowFault bool, op func(*sm.Module) error) error {
	if _, err := fs.parse(e, args); err != nil {
		return err
	}
	return f.with(e, allowFault, op)
}

// with opens the module of f (see openSM), runs op on it and closes it.
func (f *smFlags) with(e *env, allowFault bool, op func(*sm.Module) error) error {
	m, err := openSM(e, f, allowFault)
	if err != nil {
		return err
	}
	defer m.Close()
	return op(m)
}

// openSM opens the module of --dir: a test module from its file, a
// production one with the officers' credentials from standard input.
// A module in its error state is refused here with its reason, except
// where allowFault (identify, selftest, audit verify).
func openSM(e *env, f *smFlags, allowFault bool) (*sm.Module, error) {
	if f.dir == "" {
		return nil, smDir.errNoDir()
	}
	info, err := sm.Stat(f.dir)
	if err != nil {
		return nil, err
	}
	u, err := f.unlock(e, info.Custody == keystore.KindPKCS11, !info.Test, "module "+info.SMID,
		func(bool) ([]keystore.Component, error) { return smCredentials(e) })
	if err != nil {
		return nil, err
	}
	defer u.zero()
	opts := sm.Options{Release: f.release.policy(), AcceptRollback: f.acceptRollback, Restore: f.restore,
		Witnesses: f.witnesses(), PIN: u.pin, Officers: u.officers}
	if f.tables != "" {
		if opts.STATables, err = sta.LoadTables(f.tables); err != nil {
			return nil, err
		}
	}
	if opts.DBPassword, err = f.dbPassword(e, info); err != nil {
		return nil, err
	}
	m, err := sm.Open(context.Background(), f.dir, opts)
	if err != nil {
		return nil, smDir.openError(err, f.dir)
	}
	f.authenticated = keystore.OfficerNames(opts.Officers)
	if info.Test && !f.json {
		warnTestModule(e)
	}
	if fault := m.Fault(); fault != nil && !allowFault {
		m.Close()
		return nil, fault
	}
	return m, nil
}

func runSMInit(e *env, args []string) error {
	fs := newFlags("sm init", "--dir DIR --variant vending|manufacturing [--test | --pkcs11 CONFIG.json [--pin-file F]] [--dsn DSN] [--vendor V] [--id ID]",
		"Makes a new security module in DIR (which must not exist or be empty): key custody with\n"+
			"the module's P-384 key, its SMID, the database and the live-KMC list. The variant is\n"+
			"fixed for the module's life. A production module splits its storage key among the\n"+
			"officers (at least two): NAME=PASSPHRASE lines on standard input, or asked for, without\n"+
			"echo, on a terminal. --pkcs11 keeps the module's private key and storage key in a\n"+
			"PKCS#11 token instead (CONFIG.json: module, token_label, namespace; the PIN from\n"+
			"--pin-file or $STSKMS_PKCS11_PIN; see docs/sm.md), the officers then registered beside\n"+
			"it (NAME=PASSPHRASE lines as above) for dual control. --test makes a TEST-ONLY module\n"+
			"that unlocks from a file beside it and protects nothing.")
	f := addSMFlags(e, fs)
	variant := fs.String("variant", "", "vending or manufacturing (required)")
	test := fs.Bool("test", false, "a TEST-ONLY module (its unlock material in DIR)")
	dsn := fs.String("dsn", "", "database: a postgres:// URL, recorded without its password (default: SQLite in DIR)")
	fs.alias("db", "dsn")
	vendor := fs.String("vendor", sm.DefaultVendor, "SMID vendor")
	id := fs.String("id", "", "SMID id (default: 8 random digits)")
	p11 := fs.String("pkcs11", "", "keep the keys in the PKCS#11 token this configuration file names")
	if _, err := fs.parse(e, args); err != nil {
		return err
	}
	if f.dir == "" {
		return smDir.errNoDir()
	}
	v, err := sm.ParseVariant(*variant)
	if err != nil {
		return err
	}
	if *test && *p11 != "" {
		return fmt.Errorf("--test and --pkcs11 exclude each other: a test module's custody is its TEST-ONLY file")
	}
	opts := sm.Options{Vendor: *vendor, ID: *id, Release: f.release.policy(), Actor: f.as}
	if opts.DSN, err = withDBPassword(e, *dsn, f.dbPasswordFile); err != nil {
		return err
	}
	if opts.PKCS11, err = loadPKCS11(*p11); err != nil {
		return err
	}
	switch {
	case opts.PKCS11 != nil:
		if opts.PIN, err = readPIN(e, f.pinFile, fmt.Sprintf("token %q", opts.PKCS11.TokenLabel)); err != nil {
			return err
		}
		defer clear(opts.PIN)
		fallthrough // the officers, registered beside the token
	case !*test:
		if opts.Officers, err = smCredentials(e); err != nil {
			return err
		}
		defer zeroOfficers(opts.Officers)
	}
	ident, err := sm.Init(context.Background(), f.dir, v, *test, opts)
	if err != nil {
		return err
	}
	noteDBPassword(e, "sm", *dsn)
	printIdentity(e, ident, f.json)
	if ident.Test && !f.json {
		warnTestModule(e)
	}
	return nil
}

func printIdentity(e *env, id sm.Identity, asJSON bool) {
	if asJSON {
		printJSON(e.stdout, id)
		return
	}
	fmt.Fprintf(e.stdout, "SMID      %s\nvariant   %s\nmodel     %s\nfirmware  sts6=%s http=%s\nvirtual   %v\ntest      %v\npublic key %X\n",
		id.SMID, id.Variant, id.Model, id.Firmware[sm.APISTS6], id.Firmware[sm.APIHTTP], id.Virtual, id.Test, id.PublicKey.Bytes())
	if id.AuditKey != "" {
		fmt.Fprintf(e.stdout, "audit key %s\n", id.AuditKey)
	}
}

// warnTestModule says on standard error, once per command, that the
// module is a TEST-ONLY one.
func warnTestModule(e *env) { fmt.Fprintln(e.stderr, "stskms sm: "+sm.TestWarning) }

func runSMIdentify(e *env, args []string) error {
	fs := newFlags("sm identify", "--dir DIR [--json]",
		"Prints the module's identity: SMID, variant, model, firmware identifier of each API,\n"+
			"virtual (always true) and test mode; and its error state if a self-test failed.")
	f := addSMFlags(e, fs)
	return f.run(e, fs, args, true, func(m *sm.Module) error {
		printIdentity(e, m.Identify(), f.json)
		return m.Fault()
	})
}

func runSMSelftest(e *env, args []string) error {
	fs := newFlags("sm selftest", "--dir DIR [--json]",
		"Runs the known-answer tests (DES, STA, MISTY1, DKGA02/04, HMAC, AES-GCM, ECDH) and the\n"+
			"integrity check of the stored state (identity, audit chain, registers, slots), and\n"+
			"reports whether this binary is a signed release (--release-manifest, --release-key;\n"+
			"docs/release.md) or an unsigned development build.\n"+
			"Exit status 1 if any fails: the module then refuses all service.")
	f := addSMFlags(e, fs)
	return f.run(e, fs, args, true, func(m *sm.Module) error {
		rep, err := m.Selftest(context.Background(), sm.Auditor.As(f.as))
		if err != nil {
			return err
		}
		if f.json {
			printJSON(e.stdout, rep)
		} else {
			printSelftest(e, rep)
		}
		return m.Fault()
	})
}

func printSelftest(e *env, rep sm.SelftestReport) {
	for _, r := range rep.Results {
		mark := "ok  "
		if !r.OK {
			mark = "FAIL"
		}
		detail := ""
		if r.Detail != "" {
			detail = ": " + r.Detail
		}
		fmt.Fprintf(e.stdout, "%s %s%s\n", mark, r.Name, detail)
	}
	fmt.Fprintf(e.stdout, "release: %s\n", rep.Release)
}

func runSMRegisters(e *env, args []string) error {
	fs := newFlags("sm registers", "--dir DIR [--json]",
		"Lists the vending key registers: SGC, KRN, KT, BDT, DKGA, EA, KEN, ACT, IUT, credit limit\n"+
			"left and loaded, KCV. Never a key.")
	f := addSMFlags(e, fs)
	return f.run(e, fs, args, false, func(m *sm.Module) error {
		regs, err := m.Registers(context.Background(), sm.Auditor.As(f.as))
		if err != nil {
			return err
		}
		printEach(e, f.json, regs, itself, func(r sm.Register) {
			fmt.Fprintf(e.stdout, "SGC %06d KRN %d KT %d BDT %d DKGA%s EA%s KEN %d ACT %s IUT %s CLM %d/%d KCV %s\n",
				r.SGC, r.KRN, r.KT, r.BDT, r.DKGA, r.EA, r.KEN, r.ACT.Format(records.TimeLayout), r.IUT.Format(records.TimeLayout),
				r.CLM, r.CLMLoaded, r.KCV)
		})
		return nil
	})
}

// readRecord reads the one record of type typ from a file (Record-in-Email
// or one line) or standard input ("-").
func readRecord(e *env, path, typ string) (string, error) {
	var data []byte
	var err error
	if path == "-" {
		data, err = io.ReadAll(e.stdin)
	} else {
		data, err = os.ReadFile(path)
	}
	if err != nil {
		return "", err
	}
	blocks, _ := findRecords(data)
	for _, b := range blocks {
		if b.Type == typ {
			return b.Body, nil
		}
	}
	return "", fmt.Errorf("no %s record in %s", typ, path)
}

func runSMSlotInstall(e *env, args []string) error {
	fs := newFlags("sm slot install", "--dir DIR --record FILE --fingerprint HEX --test-kmc [--slot N]",
		"Installs a KMC key (a PK.ECDH.1 record, in Record-in-Email form or one line; - for\n"+
			"standard input) into a KEK slot. Type the fingerprint the KMC published out of band;\n"+
			"--test-kmc declares the KMC a test KMC, which this virtual module requires. KMCs on\n"+
			"DIR/live-kmcs.txt (the STS Association's KMC always) are refused. Dual control: a\n"+
			"production module records the officers who opened it (at least two registered\n"+
			"officers; a PKCS#11 module: their NAME=PASSPHRASE lines on standard input).")
	f := addSMFlags(e, fs)
	f.dual = true
	path := fs.String("record", "", "PK.ECDH.1 file (- for standard input)")
	fp := fs.String("fingerprint", "", "the KMC public key fingerprint, 16 hex digits")
	testKMC := fs.Bool("test-kmc", false, "declare the KMC a test KMC")
	slot := fs.Int("slot", 0, "slot number (default: the first free one)")
	if _, err := fs.parse(e, args); err != nil {
		return err
	}
	if *path == "" {
		return usageError("give the PK.ECDH.1 record with --record")
	}
	body, err := readRecord(e, *path, records.PKECDHSpec.Type())
	if err != nil {
		return err
	}
	return installSlot(e, f, sm.InstallRequest{Record: body, Fingerprint: *fp, TestKMC: *testKMC, Slot: *slot})
}

// installSlot opens the module, installs a KMC key into a slot as the
// officer and prints the slot.
func installSlot(e *env, f *smFlags, req sm.InstallRequest) error {
	return f.with(e, false, func(m *sm.Module) error {
		a, err := smDualActor(m, f)
		if err != nil {
			return err
		}
		s, err := m.InstallSlot(context.Background(), a, req)
		if err != nil {
			return err
		}
		printSlot(e, s, f.json)
		return nil
	})
}

func printSlot(e *env, s sm.Slot, asJSON bool) {
	if asJSON {
		printJSON(e.stdout, s)
		return
	}
	line := fmt.Sprintf("slot %d %s %s fingerprint %s expiry %s", s.Number, s.State, s.KMCID, s.Fingerprint,
		s.Expiry.Format(records.TimeLayout))
	if !s.RequestTime.IsZero() {
		line += " t_req " + s.RequestTime.Format(records.TimeLayout)
	}
	fmt.Fprintln(e.stdout, line)
}

func runSMSlotRequest(e *env, args []string) error {
	fs := newFlags("sm slot request", "--dir DIR [--slot N]",
		"Makes a VKLOAD.REQ.1 from a slot and prints it in Record-in-Email form, to mail to the\n"+
			"KMC with subject {KMS:GetKlfStsEd2}. The slot waits in LOADING for the Key Load File.")
	f := addSMFlags(e, fs)
	slot := fs.Int("slot", 1, "slot number")
	return f.run(e, fs, args, false, func(m *sm.Module) error {
		req, err := m.Request(context.Background(), sm.Officer.As(f.as), *slot)
		if err != nil {
			return err
		}
		body, err := req.Format()
		if err != nil {
			return err
		}
		if f.json {
			printJSON(e.stdout, map[string]string{"record": body, "t_req": req.Time.Format(records.TimeLayout)})
			return nil
		}
		out, err := armor.Wrap(body)
		if err != nil {
			return err
		}
		_, err = e.stdout.Write(out)
		return err
	})
}

func runSMSlotLoad(e *env, args []string) error {
	fs := newFlags("sm slot load", "--dir DIR --klf FILE [--slot N]",
		"Loads the Key Load File (a file of records, or a mail body holding them; - for standard\n"+
			"input) that answers the slot's pending request: all keys or none. Dual control as for\n"+
			"slot install.")
	f := addSMFlags(e, fs)
	f.dual = true
	path := fs.String("klf", "", "Key Load File (- for standard input)")
	slot := fs.Int("slot", 1, "slot number")
	if _, err := fs.parse(e, args); err != nil {
		return err
	}
	if *path == "" {
		return usageError("give the Key Load File with --klf")
	}
	data, err := readInput(e, []string{*path})
	if err != nil {
		return err
	}
	bodies, err := sm.KLFBodies(data)
	if err != nil {
		return err
	}
	return f.with(e, false, func(m *sm.Module) error {
		a, err := smDualActor(m, f)
		if err != nil {
			return err
		}
		regs, err := m.LoadKLF(context.Background(), a, *slot, bodies)
		if err != nil {
			return err
		}
		printEach(e, f.json, regs, itself, func(r sm.Register) {
			fmt.Fprintf(e.stdout, "loaded SGC %06d KRN %d KT %d KCV %s CLM %d\n", r.SGC, r.KRN, r.KT, r.KCV, r.CLMLoaded)
		})
		return nil
	})
}

func runSMSlotDelete(e *env, args []string) error {
	fs := newFlags("sm slot delete", "--dir DIR --slot N",
		"Empties a KEK slot. The registers loaded through it stay.")
	f := addSMFlags(e, fs)
	slot := fs.Int("slot", 0, "slot number")
	return f.run(e, fs, args, false, func(m *sm.Module) error {
		return m.DeleteSlot(context.Background(), sm.Officer.As(f.as), *slot)
	})
}

func runSMSlotList(e *env, args []string) error {
	fs := newFlags("sm slot list", "--dir DIR [--json]", "Lists the KEK slots that hold a KMC key.")
	f := addSMFlags(e, fs)
	return f.run(e, fs, args, false, func(m *sm.Module) error {
		slots, err := m.Slots(context.Background(), sm.Auditor.As(f.as))
		if err != nil {
			return err
		}
		if len(slots) == 0 && !f.json {
			fmt.Fprintln(e.stdout, "none")
		}
		for _, s := range slots {
			printSlot(e, s, f.json)
		}
		return nil
	})
}

// smMeterFlags name a meter and the register of its key.
type smMeterFlags struct {
	pan              string
	sgc, krn, ti, kt *digitsFlag
}

func (m *smMeterFlags) add(fs *flagSet) {
	fs.StringVar(&m.pan, "pan", "", "meter PAN, 18 digits")
	m.sgc = sgcVar(fs, "sgc", "", "supply group code of the meter's key, 6 digits (required)")
	m.krn = krnVar(fs, "krn", "1", "key revision number of the meter's key, 1 digit: 1..9")
	m.kt = keyTypeVar(fs, "kt", "2", "key type of the meter's key: 0 DITK, 1 DDTK, 2 DUTK, 3 DCTK")
	m.ti = tiVar(fs, "ti", "01", "the meter's tariff index, 2 digits")
}

func (m *smMeterFlags) meterKey() (sm.MeterKey, error) {
	if m.pan == "" {
		return sm.MeterKey{}, usageError("give the meter's --pan")
	}
	pan, err := sts.ParsePAN(m.pan)
	if err != nil {
		return sm.MeterKey{}, err
	}
	sgc, err := m.sgc.need()
	if err != nil {
		return sm.MeterKey{}, err
	}
	return sm.MeterKey{PAN: pan, TI: uint8(m.ti.v), RegisterKey: sm.RegisterKey{SGC: uint32(sgc), KRN: uint8(m.krn.v), KT: sts.KeyType(m.kt.v)}}, nil
}

// printIssued prints the tokens, one per line, or the whole answer as JSON.
func printIssued(e *env, ans sm.Issued, asJSON bool) {
	if asJSON {
		printJSON(e.stdout, ans)
		return
	}
	for _, t := range ans.Tokens {
		fmt.Fprintln(e.stdout, t)
	}
}

// parseSubclass reads a subclass by number or by one of the names.
func parseSubclass(s string, names map[string]sts.Subclass) (sts.Subclass, error) {
	if v, ok := names[s]; ok {
		return v, nil
	}
	n, err := strconv.ParseUint(s, 10, 4)
	if err != nil {
		keys := make([]string, 0, len(names))
		for k := range names {
			keys = append(keys, k)
		}
		return 0, fmt.Errorf("unknown subclass %q (a number, or one of %s)", s, strings.Join(slices.Sorted(slices.Values(keys)), ", "))
	}
	return sts.Subclass(n), nil
}

// addVendFlags adds the flags of an sm vend command that names a meter:
// those of every sm command, --sta-tables and the meter's.
func addVendFlags(e *env, fs *flagSet) (*smFlags, *smMeterFlags) {
	f := addSMFlags(e, fs)
	addSMTablesFlag(e, fs, f)
	mf := &smMeterFlags{}
	mf.add(fs)
	return f, mf
}

// parse parses the command line and returns the meter it names.
func (m *smMeterFlags) parse(e *env, fs *flagSet, args []string) (sm.MeterKey, error) {
	if _, err := fs.parse(e, args); err != nil {
		return sm.MeterKey{}, err
	}
	return m.meterKey()
}

// operate opens the module, makes the request req with op as the operator
// and shows the answer.
func operate[R, A any](e *env, f *smFlags, op func(*sm.Module, context.Context, sm.Actor, R) (A, error), req R, show func(A)) error {
	return f.with(e, false, func(m *sm.Module) error {
		ans, err := op(m, context.Background(), sm.Operator.As(f.as), req)
		if err != nil {
			return err
		}
		show(ans)
		return nil
	})
}

// issue is operate for the requests that issue tokens: it prints them.
func issue[R any](e *env, f *smFlags, op func(*sm.Module, context.Context, sm.Actor, R) (sm.Issued, error), req R) error {
	return operate(e, f, op, req, func(ans sm.Issued) { printIssued(e, ans, f.json) })
}

var creditSubclasses = map[string]sts.Subclass{
	"electricity": sts.Electricity, "water": sts.Water, "gas": sts.Gas, "time": sts.ConnectionTime,
	"currency": sts.ElectricityCurrency,
}

func runSMVendCredit(e *env, args []string) error {
	fs := newFlags("sm vend credit", "--dir DIR --pan PAN --sgc NNNNNN [--krn N --kt N --ti NN] --amount A [--subclass S] [--request-id ID]",
		"Issues a credit token and prints it. --amount is in the subclass's unit (25.6 kWh) or,\n"+
			"for --subclass currency, in currency units with up to 5 decimals (negative: a debit).\n"+
			"An amount a token cannot carry exactly is rounded up to the next encodable value (the\n"+
			"customer never gets less than paid for); a note on standard error says what was sold.\n"+
			"A --request-id given again returns the same token, never a second one.")
	f, mf := addVendFlags(e, fs)
	sub := fs.String("subclass", "electricity", "electricity, water, gas, time, currency, or a number")
	amount := fs.String("amount", "", "the credit, e.g. 25.6; rounded up to the next encodable value")
	id := fs.String("request-id", "", "request id, for a safe retry")
	mk, err := mf.parse(e, fs, args)
	if err != nil {
		return err
	}
	s, err := parseSubclass(*sub, creditSubclasses)
	if err != nil {
		return err
	}
	req := sm.CreditRequest{ID: *id, Meter: mk, Sub: s}
	switch {
	case *amount == "":
		return usageError("give the --amount")
	case s == sts.ElectricityCurrency:
		if req.Currency, err = sts.ParseCurrency(*amount); err != nil {
			return err
		}
	default:
		if req.Amount, err = sts.ParseTenths(*amount); err != nil {
			return err
		}
	}
	return operate(e, f, (*sm.Module).Credit, req, func(ans sm.Issued) {
		printIssued(e, ans, f.json)
		if sold := soldAmount(req, *amount, ans); sold != "" {
			fmt.Fprintf(e.stderr, "note: amount %s is not encodable; sold %s, the next encodable amount\n", *amount, sold)
		}
	})
}

// soldAmount returns the amount a credit token carries, in the unit it
// was asked in, when it differs from the amount asked (rounded up to the
// next encodable value), else "".
func soldAmount(req sm.CreditRequest, asked string, ans sm.Issued) string {
	if req.Sub == sts.ElectricityCurrency {
		if ans.Currency != sts.FormatCurrency(req.Currency) || !exactCurrency(asked) {
			return ans.Currency
		}
		return ""
	}
	if ans.Amount != req.Amount || !exactTenths(asked) {
		return tenthsString(ans.Amount)
	}
	return ""
}

var managementSubclasses = map[string]sts.Subclass{
	"max-power": sts.MaximumPowerLimit, "clear-credit": sts.ClearCredit, "tariff-rate": sts.TariffRate,
	"clear-tamper": sts.ClearTamper, "max-phase-unbalance": sts.MaximumPhasePowerUnbalanceLimit,
	"water-meter-factor": sts.WaterMeterFactor,
}

func runSMVendManage(e *env, args []string) error {
	fs := newFlags("sm vend manage", "--dir DIR --pan PAN --sgc NNNNNN [--krn N --kt N --ti NN] --subclass S --value N [--request-id ID]",
		"Issues a management token and prints it: max-power and max-phase-unbalance take watts,\n"+
			"clear-credit the register (65535 = all), tariff-rate the rate, water-meter-factor the\n"+
			"factor, clear-tamper 0.")
	f, mf := addVendFlags(e, fs)
	sub := fs.String("subclass", "", "max-power, clear-credit, tariff-rate, clear-tamper, max-phase-unbalance, water-meter-factor, or a number")
	value := fs.Uint64("value", 0, "the token's value")
	id := fs.String("request-id", "", "request id, for a safe retry")
	mk, err := mf.parse(e, fs, args)
	if err != nil {
		return err
	}
	s, err := parseSubclass(*sub, managementSubclasses)
	if err != nil {
		return err
	}
	return issue(e, f, (*sm.Module).Manage, sm.ManagementRequest{ID: *id, Meter: mk, Sub: s, Value: *value})
}

func runSMVendKeyChange(e *env, args []string) error {
	fs := newFlags("sm vend keychange", "--dir DIR --pan PAN --sgc NNNNNN [--krn N --kt N --ti NN] --to-krn N [--to-sgc NNNNNN --to-kt N --to-ti NN] [--three] [--request-id ID]",
		"Issues the key change token set that moves the meter to the key of register\n"+
			"(--to-sgc, --to-krn, --to-kt) with tariff index --to-ti, and prints its tokens in the\n"+
			"order to enter them. A register of the next base date makes a rollover set.")
	f, mf := addVendFlags(e, fs)
	toSGC := sgcVar(fs, "to-sgc", "", "SGC of the new key, 6 digits (default: the meter's)")
	toKRN := krnVar(fs, "to-krn", "", "KRN of the new key, 1 digit: 1..9 (required)")
	toKT := keyTypeVar(fs, "to-kt", "", "key type of the new key (default: the meter's)")
	toTI := tiVar(fs, "to-ti", "", "tariff index of the new key, 2 digits (default: the meter's)")
	three := fs.Bool("three", false, "a 64-bit set of three tokens, the 3rd carrying the SGC")
	id := fs.String("request-id", "", "request id, for a safe retry")
	mk, err := mf.parse(e, fs, args)
	if err != nil {
		return err
	}
	to := mk.RegisterKey
	krn, err := toKRN.need()
	if err != nil {
		return err
	}
	to.KRN = uint8(krn)
	to.SGC = uint32(toSGC.or(int(to.SGC)))
	to.KT = sts.KeyType(toKT.or(int(to.KT)))
	ti := uint8(toTI.or(int(mk.TI)))
	return issue(e, f, (*sm.Module).KeyChange, sm.KeyChangeRequest{ID: *id, Meter: mk, To: to, TI: ti, ThreeTokens: *three})
}

func runSMVendTest(e *env, args []string) error {
	fs := newFlags("sm vend test", "--dir DIR [--subclass 0|1] [--mfr N] [--control N] [--request-id ID]",
		"Issues a class 1 initiate test/display token (not encrypted, no register).")
	f := addSMFlags(e, fs)
	sub := fs.Uint("subclass", 0, "0 (2-digit manufacturer code, 36-bit control) or 1 (4-digit, 28-bit)")
	mfr := fs.Uint("mfr", 0, "manufacturer code (0 = all meters)")
	control := fs.Uint64("control", 1, "control bits: the tests and displays to initiate")
	id := fs.String("request-id", "", "request id, for a safe retry")
	if _, err := fs.parse(e, args); err != nil {
		return err
	}
	if *sub > 15 || *mfr > 0xFFFF {
		return fmt.Errorf("%w: --subclass or --mfr", sts.ErrRange)
	}
	return issue(e, f, (*sm.Module).Test, sm.TestRequest{ID: *id, Sub: sts.Subclass(*sub), MfrCode: uint16(*mfr), Control: *control})
}

func runSMVendVerify(e *env, args []string) error {
	fs := newFlags("sm vend verify", "--dir DIR --pan PAN --sgc NNNNNN [--krn N --kt N --ti NN] TOKEN",
		"Decodes a token under the meter's key and prints it as JSON (a key change section\n"+
			"without its key bits).")
	f, mf := addVendFlags(e, fs)
	pos, err := fs.parse(e, args)
	if err != nil {
		return err
	}
	if len(pos) != 1 {
		return usageError("give one token")
	}
	mk, err := mf.meterKey()
	if err != nil {
		return err
	}
	return operate(e, f, (*sm.Module).Verify, sm.VerifyRequest{Meter: mk, Token: pos[0]},
		func(v sm.Verified) { printJSON(e.stdout, v) })
}

func runSMAuditVerify(e *env, args []string) error {
	fs := newFlags("sm audit verify", "--dir DIR [--json]",
		"Verifies the hash chain of the module's audit log: every record in order, none edited,\n"+
			"removed, reordered or added past the head. Keep the printed count and head outside\n"+
			"the module to detect a later removal of the log's tail.")
	f := addSMFlags(e, fs)
	return f.run(e, fs, args, true, func(m *sm.Module) error {
		rep, err := m.VerifyAudit(context.Background(), sm.Auditor.As(f.as))
		if err != nil {
			return err
		}
		if f.json {
			printJSON(e.stdout, map[string]any{"records": rep.Records, "head": hex.EncodeToString(rep.Head[:]),
				"log_id": hex.EncodeToString(rep.LogID[:])})
			return nil
		}
		fmt.Fprintf(e.stdout, "audit log verified: %d records, head %x\n", rep.Records, rep.Head)
		return nil
	})
}
