package main

import (
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"math/big"
	"strings"
	"time"

	"github.com/stskms/stskms/sts"
	"github.com/stskms/stskms/sts/dkga"
	"github.com/stskms/stskms/sts/sta"
)

// hexKey is a key given in hex, canonical byte order.
type hexKey []byte

func (k *hexKey) String() string { return "" } // never print a key
func (k *hexKey) Set(s string) error {
	b, err := hex.DecodeString(strings.TrimSpace(s))
	if err != nil {
		return fmt.Errorf("not a hex key")
	}
	*k = b
	return nil
}

// cipherFlags are the flags that name a decoder key and its algorithm.
type cipherFlags struct {
	ea        string
	key       hexKey
	staTables string
}

func addCipherFlags(e *env, fs *flagSet, keyFlag, keyHelp string) *cipherFlags {
	c := &cipherFlags{}
	fs.StringVar(&c.ea, "ea", "07", "encryption algorithm: 07 (STA), 09 (DEA) or 11 (MISTY1)")
	fs.Var(&c.key, keyFlag, keyHelp)
	addTablesFlag(e, fs, &c.staTables)
	return c
}

func addTablesFlag(e *env, fs *flagSet, path *string) {
	fs.StringVar(path, "sta-tables", e.getenv("STSKMS_STA_TABLES"),
		"EA07 STA table file (default $STSKMS_STA_TABLES)")
}

// loadTables loads the STA tables if a path is given.
func loadTables(path string) (*sta.Tables, error) {
	if path == "" {
		return nil, nil
	}
	return sta.LoadTables(path)
}

func (c *cipherFlags) algorithm() (sts.EA, error) { return sts.ParseEA(c.ea) }

// cipher returns the cipher for the key flag.
func (c *cipherFlags) cipher() (sts.Cipher, error) {
	return c.cipherFor(c.key)
}

func (c *cipherFlags) cipherFor(key []byte) (sts.Cipher, error) {
	ea, err := c.algorithm()
	if err != nil {
		return nil, err
	}
	if len(key) == 0 {
		return nil, sts.ErrNoKey
	}
	var tables *sta.Tables
	if ea == sts.EA07 {
		if tables, err = loadTables(c.staTables); err != nil {
			return nil, err
		}
	}
	return sts.NewCipher(ea, key, tables)
}

func runDecoderKey(e *env, args []string) error {
	fs := newFlags("token decoder-key", "--dkga 02|04 --vk HEX --vk-type KT --sgc NNNNNN --ti NN --krn N (--pan PAN | --iin IIN --drn DRN) [--bdt Y] [--ea E]",
		"Derives a meter's decoder key from a vending key and prints it in hex (canonical byte order).")
	alg := fs.String("dkga", "02", "decoder key generation algorithm: 02 or 04")
	var vk hexKey
	fs.Var(&vk, "vk", "vending key in hex (8 bytes for DKGA02, 20 for DKGA04)")
	kt := keyTypeVar(fs, "vk-type", "2", "key type 0..3 (DITK, DDTK, DUTK, DCTK)")
	var p meterFlags
	p.add(fs)
	ea := fs.String("ea", "", "encryption algorithm the key is for: 07, 09 or 11 (default 07 for DKGA02, 11 for DKGA04)")
	if _, err := fs.parse(e, args); err != nil {
		return err
	}
	a, err := dkga.ParseAlgorithm(*alg)
	if err != nil {
		return err
	}
	if *ea == "" {
		*ea = map[dkga.Algorithm]string{dkga.DKGA02: "07", dkga.DKGA04: "11"}[a]
	}
	params, err := p.params(sts.KeyType(kt.v), *ea)
	if err != nil {
		return err
	}
	g, err := dkga.New(a, vk)
	if err != nil {
		return err
	}
	dk, err := g.DecoderKey(params)
	if err != nil {
		return err
	}
	fmt.Fprintln(e.stdout, hex.EncodeToString(dk))
	return nil
}

// meterFlags are the meter and key attributes DKGA takes.
type meterFlags struct {
	sgc, ti, krn  *digitsFlag
	pan, iin, drn string
	bdt           int
}

func (m *meterFlags) add(fs *flagSet) {
	m.sgc = sgcVar(fs, "sgc", "", "supply group code, 6 digits (required)")
	m.ti = tiVar(fs, "ti", "01", "tariff index, 2 digits")
	m.krn = krnVar(fs, "krn", "1", "key revision number, 1 digit: 1..9")
	fs.StringVar(&m.pan, "pan", "", "meter PAN, 18 digits")
	fs.StringVar(&m.iin, "iin", "", "issuer identification number (600727 or 0000), with --drn instead of --pan")
	fs.StringVar(&m.drn, "drn", "", "decoder reference number with its check digit, with --iin")
	fs.IntVar(&m.bdt, "bdt", 1993, "base date: 1993, 2014 or 2035")
}

func (m *meterFlags) params(kt sts.KeyType, eaCode string) (dkga.Params, error) {
	ea, err := sts.ParseEA(eaCode)
	if err != nil {
		return dkga.Params{}, err
	}
	pan, err := m.parsePAN()
	if err != nil {
		return dkga.Params{}, err
	}
	bd, err := sts.ParseBaseDate(m.bdt)
	if err != nil {
		return dkga.Params{}, err
	}
	sgc, err := m.sgc.need()
	if err != nil {
		return dkga.Params{}, err
	}
	return dkga.Params{KeyType: kt, SGC: uint32(sgc), TI: uint8(m.ti.v), KRN: uint8(m.krn.v),
		PAN: pan, BaseDate: bd, EA: ea}, nil
}

func (m *meterFlags) parsePAN() (sts.PAN, error) {
	switch {
	case m.pan != "" && (m.iin != "" || m.drn != ""):
		return sts.PAN{}, usageError("give --pan or --iin with --drn, not both")
	case m.pan != "":
		return sts.ParsePAN(m.pan)
	case m.iin != "" && m.drn != "":
		return sts.NewPAN(m.iin, m.drn)
	}
	return sts.PAN{}, fmt.Errorf("a meter needs --pan, or --iin and --drn")
}

// tokenFlags are the field flags of encode.
type tokenFlags struct {
	class, subclass, rnd                   int
	tid                                    int64
	issued                                 string
	bdt                                    int
	amount                                 string
	mpl, mppul                             uint64
	register, rate, pad, wmf, mfr, control uint64
}

func (t *tokenFlags) add(fs *flagSet) {
	fs.IntVar(&t.class, "class", 0, "token class: 0 credit, 1 test, 2 management")
	fs.IntVar(&t.subclass, "subclass", 0, "token subclass")
	fs.Int64Var(&t.tid, "tid", -1, "token identifier: minutes since the base date (or --time)")
	fs.StringVar(&t.issued, "time", "", "issue time, RFC 3339 (instead of --tid; with --bdt)")
	fs.IntVar(&t.bdt, "bdt", 1993, "base date of --time: 1993, 2014 or 2035")
	fs.IntVar(&t.rnd, "rnd", -1, "4-bit random number 0..15 (default: random; currency credit has none)")
	fs.StringVar(&t.amount, "amount", "", "class 0: credit in the subclass's unit, e.g. 25.6 (kWh); subclass 4: currency, signed, e.g. -12.34567; rounded up to the next encodable value (a note says so)")
	fs.Uint64Var(&t.mpl, "mpl", 0, "class 2/0: maximum power limit in watts")
	fs.Uint64Var(&t.mppul, "mppul", 0, "class 2/6: maximum phase power unbalance limit in watts")
	fs.Uint64Var(&t.register, "register", 0xFFFF, "class 2/1: register to clear (65535 = all)")
	fs.Uint64Var(&t.rate, "rate", 0, "class 2/2: tariff rate")
	fs.Uint64Var(&t.pad, "pad", 0, "class 2/5: pad value")
	fs.Uint64Var(&t.wmf, "wmf", 0, "class 2/7: water meter factor")
	fs.Uint64Var(&t.mfr, "mfr", 0, "class 1: manufacturer code (0 = all meters)")
	fs.Uint64Var(&t.control, "control", 0, "class 1: control bits (tests/displays to initiate)")
}

func runEncode(e *env, args []string) error {
	fs := newFlags("token encode", "--class C --subclass S [--ea E --dk HEX] (--tid N | --time T --bdt Y) [--rnd N] [fields]",
		"Encodes one credit (class 0; subclass 4 is currency credit), test (class 1, no key) or\n"+
			"management (class 2) token and prints its 20 digits. Key change tokens come from\n"+
			"'stskms token keychange'.")
	var t tokenFlags
	t.add(fs)
	c := addCipherFlags(e, fs, "dk", "decoder key in hex, canonical order (not for class 1)")
	if _, err := fs.parse(e, args); err != nil {
		return err
	}
	tok, note, err := t.token()
	if err != nil {
		return err
	}
	var ci sts.Cipher
	if tok.Class() != sts.ClassTest {
		if ci, err = c.cipher(); err != nil {
			return err
		}
	}
	n, err := sts.Encode(tok, ci)
	if err != nil {
		return err
	}
	fmt.Fprintln(e.stdout, n)
	if note != "" {
		fmt.Fprintf(e.stderr, "stskms token encode: note: %s\n", note)
	}
	return nil
}

// token builds the token the flags describe; note says when a value was
// rounded up to the next encodable one.
func (t *tokenFlags) token() (sts.Token, string, error) {
	sub := sts.Subclass(t.subclass)
	if t.subclass < 0 || t.subclass > 15 {
		return nil, "", fmt.Errorf("%w: --subclass %d", sts.ErrRange, t.subclass)
	}
	switch sts.Class(t.class) {
	case sts.ClassTest:
		return sts.Test{Sub: sub, MfrCode: uint16(min(t.mfr, 1<<16-1)), Control: t.control}, "", nil
	case sts.ClassCredit:
		return t.credit(sub)
	case sts.ClassManagement:
		return t.management(sub)
	}
	return nil, "", fmt.Errorf("%w: --class %d", sts.ErrReserved, t.class)
}

func (t *tokenFlags) credit(sub sts.Subclass) (sts.Token, string, error) {
	if t.amount == "" {
		return nil, "", fmt.Errorf("a credit token needs --amount")
	}
	if sub == sts.ElectricityCurrency {
		return t.currencyCredit(sub)
	}
	tenths, err := sts.ParseTenths(t.amount)
	if err != nil {
		return nil, "", err
	}
	a, err := sts.EncodeAmount(tenths)
	if err != nil {
		return nil, "", fmt.Errorf("--amount %s: %w, %s", t.amount, sts.ErrAmountTooLarge, tenthsString(sts.MaxAmount))
	}
	tid, rnd, err := t.tidRND()
	if err != nil {
		return nil, "", err
	}
	var note string
	if a.Value() != tenths || !exactTenths(t.amount) {
		note = fmt.Sprintf("amount %s is not encodable; encoded %s", t.amount, tenthsString(a.Value()))
	}
	return sts.Credit{Sub: sub, TID: tid, RND: rnd, Amount: a}, note, nil
}

// currencyCredit builds a currency credit token: --amount in currency
// units, signed, no RND.
func (t *tokenFlags) currencyCredit(sub sts.Subclass) (sts.Token, string, error) {
	if t.rnd >= 0 {
		return nil, "", fmt.Errorf("a currency credit token has no RND: drop --rnd")
	}
	units, err := sts.ParseCurrency(t.amount)
	if err != nil {
		return nil, "", err
	}
	a, err := sts.EncodeCurrencyAmount(units)
	if err != nil {
		return nil, "", err
	}
	tid, err := t.resolveTID()
	if err != nil {
		return nil, "", err
	}
	var note string
	if a.Value().Cmp(units) != 0 || !exactCurrency(t.amount) {
		note = fmt.Sprintf("amount %s is not encodable; encoded %s", t.amount, a)
	}
	return sts.CurrencyCredit{Sub: sub, TID: tid, Amount: a}, note, nil
}

func (t *tokenFlags) management(sub sts.Subclass) (sts.Token, string, error) {
	var value uint64
	var note string
	switch sub {
	case sts.MaximumPowerLimit, sts.MaximumPhasePowerUnbalanceLimit:
		watts := map[sts.Subclass]uint64{sts.MaximumPowerLimit: t.mpl, sts.MaximumPhasePowerUnbalanceLimit: t.mppul}[sub]
		a, err := sts.EncodeAmount(watts)
		if err != nil {
			return nil, "", err
		}
		if a.Value() != watts {
			note = fmt.Sprintf("%d W is not encodable; encoded %d W", watts, a.Value())
		}
		value = uint64(a)
	case sts.ClearCredit:
		value = t.register
	case sts.TariffRate:
		value = t.rate
	case sts.ClearTamper:
		value = t.pad
	case sts.WaterMeterFactor:
		value = t.wmf
	case sts.DecoderKey1, sts.DecoderKey2, sts.DecoderKey3, sts.DecoderKey4:
		return nil, "", fmt.Errorf("key change tokens come in sets: use 'stskms token keychange'")
	default:
		return nil, "", fmt.Errorf("%w: class 2 subclass %d", sts.ErrReserved, sub)
	}
	if value > 0xFFFF {
		return nil, "", fmt.Errorf("%w: value %d does not fit 16 bits", sts.ErrRange, value)
	}
	tid, rnd, err := t.tidRND()
	if err != nil {
		return nil, "", err
	}
	return sts.Management{Sub: sub, TID: tid, RND: rnd, Value: uint16(value)}, note, nil
}

// tidRND resolves the TID (from --tid or --time/--bdt) and the RND (random
// if not given).
func (t *tokenFlags) tidRND() (uint32, uint8, error) {
	tid, err := t.resolveTID()
	if err != nil {
		return 0, 0, err
	}
	if t.rnd > 15 {
		return 0, 0, fmt.Errorf("%w: --rnd %d does not fit 4 bits", sts.ErrRange, t.rnd)
	}
	if t.rnd >= 0 {
		return tid, uint8(t.rnd), nil
	}
	r, err := rand.Int(rand.Reader, big.NewInt(16))
	if err != nil {
		return 0, 0, err
	}
	return tid, uint8(r.Int64()), nil
}

func (t *tokenFlags) resolveTID() (uint32, error) {
	switch {
	case t.issued != "" && t.tid >= 0:
		return 0, usageError("give --tid or --time, not both")
	case t.tid >= 0:
		if t.tid > sts.MaxTID {
			return 0, fmt.Errorf("%w: --tid %d does not fit 24 bits", sts.ErrRange, t.tid)
		}
		return uint32(t.tid), nil
	case t.issued != "":
		at, err := time.Parse(time.RFC3339, t.issued)
		if err != nil {
			return 0, fmt.Errorf("--time: %w", err)
		}
		bd, err := sts.ParseBaseDate(t.bdt)
		if err != nil {
			return 0, err
		}
		return bd.TID(at)
	}
	return 0, fmt.Errorf("the token needs --tid or --time")
}

// exactTenths reports whether a decimal has no non-zero digit after the
// first decimal place, so ParseTenths did not round it.
func exactTenths(s string) bool {
	_, frac, _ := strings.Cut(s, ".")
	return len(frac) <= 1 || strings.Trim(frac[1:], "0") == ""
}

// exactCurrency reports whether a decimal has no non-zero digit after the
// fifth decimal place, so ParseCurrency did not round it.
func exactCurrency(s string) bool {
	_, frac, _ := strings.Cut(s, ".")
	return len(frac) <= 5 || strings.Trim(frac[5:], "0") == ""
}

func tenthsString(v uint64) string { return fmt.Sprintf("%d.%d", v/10, v%10) }

func runKeyChange(e *env, args []string) error {
	fs := newFlags("token keychange", "--ea E --dk OLDHEX --new-dk NEWHEX --new-kt N --new-krn N --new-ti NN --new-ken N --rollover 0|1 [--new-sgc NNNNNN]",
		"Prints the key change token set, one token per line in section order: 1st and 2nd\n"+
			"for a 64-bit key, then 3rd and 4th for a 128-bit (EA11) key. The tokens are\n"+
			"encrypted under the old key and carry the new one.")
	c := addCipherFlags(e, fs, "dk", "current (old) decoder key in hex")
	var newKey hexKey
	fs.Var(&newKey, "new-dk", "new decoder key in hex")
	kt := keyTypeVar(fs, "new-kt", "2", "key type of the new key 0..3")
	krn := krnVar(fs, "new-krn", "1", "key revision number of the new key, 1 digit: 1..9")
	ti := tiVar(fs, "new-ti", "01", "tariff index of the new key, 2 digits")
	ken := fs.Uint("new-ken", 255, "key expiry number of the new key (255: none)")
	rollover := fs.Uint("rollover", 0, "1 for a TID rollover key change (new base date)")
	sgc := sgcVar(fs, "new-sgc", "000000", "supply group code of the new key, 6 digits (carried by 128-bit sets)")
	if _, err := fs.parse(e, args); err != nil {
		return err
	}
	if *ken > 255 || *rollover > 1 {
		return fmt.Errorf("%w: a --new-* or --rollover value", sts.ErrRange)
	}
	ci, err := c.cipher()
	if err != nil {
		return err
	}
	set, err := sts.KeyChangeTokens(sts.NewKey{Key: newKey, KeyType: sts.KeyType(kt.v), KRN: uint8(krn.v),
		TI: uint8(ti.v), KEN: uint8(*ken), Rollover: *rollover == 1, SGC: uint32(sgc.v)})
	if err != nil {
		return err
	}
	if ea, _ := c.algorithm(); len(newKey) != ea.KeySize() {
		return fmt.Errorf("%w: EA%s needs a %d-byte new key", sts.ErrKey, ea, ea.KeySize())
	}
	for _, t := range set {
		n, err := sts.Encode(t, ci)
		if err != nil {
			return err
		}
		fmt.Fprintln(e.stdout, n)
	}
	return nil
}

func runDecode(e *env, args []string) error {
	fs := newFlags("token decode", "[--ea E --dk HEX] [--json] DIGITS",
		"Decodes a 20-digit token: class, subclass and every field. Class 1 tokens need no key.\n"+
			"With --json it prints an object (crc_ok false and exit status 1 on a CRC mismatch).")
	c := addCipherFlags(e, fs, "dk", "decoder key in hex")
	asJSON := fs.Bool("json", false, "print a JSON object")
	pos, err := fs.parse(e, args)
	if err != nil {
		return err
	}
	if len(pos) != 1 {
		fmt.Fprintln(e.stderr, "stskms token decode: give exactly one token")
		return errUsage
	}
	n, err := sts.ParseNumber(pos[0])
	if err != nil {
		return err
	}
	var ci sts.Cipher
	if len(c.key) > 0 {
		if ci, err = c.cipher(); err != nil {
			return err
		}
	}
	b, err := sts.Open(n, ci)
	if err != nil {
		return err
	}
	fields, err := describe(b)
	if *asJSON {
		printJSON(e.stdout, fields)
	} else if err == nil {
		fmt.Fprintln(e.stdout, fields.text())
	}
	return err
}
