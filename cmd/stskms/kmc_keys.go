package main

import (
	"context"
	"encoding/hex"
	"errors"
	"fmt"
	"os"
	"strconv"
	"strings"
	"time"

	"github.com/stskms/stskms/kmc"
	"github.com/stskms/stskms/records"
)

// The KMC's keys: init, its own key pairs, supply groups and vending keys.

func runKMCInit(e *env, args []string) error {
	fs := newFlags("kmc init", "--dir DIR --mode test|live [flags]",
		"Makes a new KMC in DIR (which must not exist or be empty): its key custody (DIR/keystore),\n"+
			"its database (SQLite DIR/kmc.db, or --db), its identity and a first P-384 key pair.\n"+
			"Test mode: the custody unlocks from a TEST-ONLY file beside it, so every command runs\n"+
			"without prompts; its keys protect nothing. Live mode: --vendor and --id are required,\n"+
			"and either --officers, each officer's passphrase read from standard input (one line\n"+
			"each, at least 12 bytes; asked for without echo on a terminal), every later command\n"+
			"needing them all; or --pkcs11 CONFIG.json, the KMC's keys in a PKCS#11 token\n"+
			"(module, token_label, namespace; the PIN from --pin-file or $STSKMS_PKCS11_PIN), with\n"+
			"--officers too: they are registered beside the token (passphrase verifiers), for\n"+
			"dual control (vk import, accept-rollback, downgrade).")
	f := addKMCFlags(e, fs)
	mode := fs.String("mode", "", "test or live (required)")
	vendor := fs.String("vendor", "", "KMCID vendor, an IDENT (test default TestKMC)")
	id := fs.String("id", "", "KMCID id, an IDENT (test default K0001)")
	days := fs.Int("key-days", 3*365, "validity of the key pair in days (its PK.ECDH.1 expiry)")
	db := fs.String("db", "", "database: a postgres:// URL, recorded without its password (default: SQLite DIR/kmc.db)")
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
		Actor: f.as, Release: f.release.policy()}
	if o.Database, err = withDBPassword(e, *db, f.dbPasswordFile); err != nil {
		return err
	}
	if o.PKCS11, err = loadPKCS11(*p11); err != nil {
		return err
	}
	switch {
	case o.PKCS11 != nil && m == kmc.ModeLive:
		if o.PIN, err = readPIN(e, f.pinFile, fmt.Sprintf("token %q", o.PKCS11.TokenLabel)); err != nil {
			return err
		}
		defer clear(o.PIN)
		if f.officers == "" {
			return fmt.Errorf("a live KMC on a PKCS#11 token needs --officers too (at least two) and their passphrases on standard input: they are its officers for dual control")
		}
		if o.Officers, err = readOfficers(e, f.officers); err != nil {
			return err
		}
		defer zeroOfficers(o.Officers)
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
	noteDBPassword(e, "kmc", *db)
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
		return k.RotateKey(ctx, f.as, time.Duration(*days)*24*time.Hour)
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
		return k.AddSupplyGroup(ctx, f.as, code, *name)
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
		return k.GenerateVendingKey(ctx, f.as, a)
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
			"combined key too. A live KMC: each OFFICER must be registered with its key custody,\n"+
			"and proves their part with their passphrase — given with --officers to unlock it, or\n"+
			"else asked for (no echo on a terminal; one line each from standard input, in the order\n"+
			"of --component); nothing is imported unless every one is right. The audit names them.")
	f := addKMCFlags(e, fs)
	f.dual = true
	v := addVKFlags(fs)
	var comps componentFlags
	fs.Var(&comps, "component", "OFFICER=FILE, one per registered officer (repeat)")
	kcvHex := fs.String("kcv", "", "the combined key's KCV, 6 hex digits")
	return showKMC(e, fs, f, args, func(k *kmc.KMC, ctx context.Context) (kmc.VendingKey, error) {
		a, err := v.attributes()
		if err != nil {
			return kmc.VendingKey{}, err
		}
		names, err := comps.officers()
		if err != nil {
			return kmc.VendingKey{}, err
		}
		if err := authenticateParts(e, f, k, names); err != nil {
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
		return k.ImportVendingKey(ctx, f.as, a, parts, kcv)
	}, func(vk kmc.VendingKey) { printVK(e, vk) })
}

// officers returns the officers the components name, in order.
func (c componentFlags) officers() ([]string, error) {
	names := make([]string, len(c))
	for i, s := range c {
		var ok bool
		if names[i], _, ok = strings.Cut(s, "="); !ok {
			return nil, fmt.Errorf("--component %q: want OFFICER=FILE", s)
		}
	}
	return names, nil
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
