// Package meter simulates an STS prepayment meter, the decoder side of
// IEC 62055-41: tokens are typed on a keypad (Meter.Enter), decrypted under
// the meter's decoder key, validated against its TID memory and key expiry
// number, and applied to its credit registers and settings; key change token
// sets install a new decoder key. Every token gets an Outcome with the
// numeric status code a meter displays.
//
// The rules follow the public excerpts of IEC 62055-41 collected in the
// project notes (meter-and-key-rules.md, part B); where the standard is not
// public the choice made here is documented where it applies.
//
// The package imports only the standard library, sts and sts/sta.
package meter

import (
	"cmp"
	"errors"
	"fmt"
	"math/big"
	"slices"

	"github.com/stskms/stskms/sts"
	"github.com/stskms/stskms/sts/sta"
)

// Defaults for the zero values of Config.
const (
	// DefaultTIDMemory is the number of TIDs a meter remembers. IEC
	// 62055-41 sets a minimum that no public source states; 50 is the
	// figure usually quoted.
	DefaultTIDMemory = 50
	// DefaultRegisterLimit is the capacity of a credit register in tenths
	// of its unit: 99 999 999.9 kWh, m³, ….
	DefaultRegisterLimit = 999_999_999
)

// ErrConfig is returned by New for an unusable configuration; the error
// wraps it with the offending field.
var ErrConfig = errors.New("meter: invalid configuration")

// Config describes a meter as it leaves the factory.
type Config struct {
	PAN     sts.PAN // the meter's primary account number
	MfrCode uint16  // manufacturer code that class 1 tokens must carry (or 0), up to 9999

	// The decoder key and what the meter knows about it.
	EA        sts.EA       // encryption algorithm
	Key       []byte       // decoder key in canonical order: 8 bytes for EA07 and EA09, 16 for EA11
	KeyType   sts.KeyType  // DITK, DDTK, DUTK or DCTK
	KRN       uint8        // key revision number, 0..15
	TI        uint8        // tariff index
	KEN       uint8        // key expiry number; 255 never expires
	SGC       uint32       // supply group code, up to sts.MaxSGC
	BaseDate  sts.BaseDate // base date the TIDs count from
	STATables *sta.Tables  // the operator's STA tables; required for EA07

	// ManufacturedTID is the TID of the meter's manufacture: the TID
	// memory starts with it, so tokens issued before manufacture are
	// rejected as old.
	ManufacturedTID uint32
	// TIDMemory is the number of TIDs the meter remembers; 0 means
	// DefaultTIDMemory. See Meter for the rule.
	TIDMemory int
	// RegisterLimit is the capacity of each credit register in tenths; 0
	// means DefaultRegisterLimit.
	RegisterLimit uint64
	// CurrencyLimit is the capacity of each currency register in units of
	// 0.00001 of the currency; nil means DefaultCurrencyLimit. New copies
	// it.
	CurrencyLimit *big.Int
}

// DefaultCurrencyLimit returns the default capacity of a currency register
// in units of 0.00001 of the currency: the largest magnitude a currency
// credit token carries (sts.CurrencyAmount field 0x7FFFF, about 1.8·10^30
// currency units), so that an empty register takes any token.
func DefaultCurrencyLimit() *big.Int { return sts.CurrencyAmount(0x7FFFF).Value() }

// check reports the first field of c that is out of range. The key, its
// algorithm and the tables are checked by sts.NewCipher.
func (c *Config) check() error {
	switch {
	case c.MfrCode > 9999:
		return invalid("manufacturer code %d", c.MfrCode)
	case c.KeyType > sts.DCTK:
		return invalid("key type %d", c.KeyType)
	case c.KRN > 0xF:
		return invalid("key revision number %d", c.KRN)
	case c.SGC > sts.MaxSGC:
		return invalid("supply group code %d", c.SGC)
	case !c.BaseDate.Valid():
		return invalid("base date %d", c.BaseDate)
	case c.ManufacturedTID > sts.MaxTID:
		return invalid("manufacture TID %d", c.ManufacturedTID)
	case c.TIDMemory < 0:
		return invalid("TID memory size %d", c.TIDMemory)
	case c.CurrencyLimit != nil && c.CurrencyLimit.Sign() < 0:
		return invalid("currency register limit %s", c.CurrencyLimit)
	}
	return nil
}

func invalid(format string, args ...any) error {
	return fmt.Errorf("%w: "+format, append([]any{ErrConfig}, args...)...)
}

// KeyInfo describes the meter's decoder key, never its value.
type KeyInfo struct {
	EA       sts.EA
	KeyType  sts.KeyType
	KRN      uint8
	TI       uint8
	KEN      uint8
	SGC      uint32 // changed only by the sets that carry it: 128-bit and 64-bit three-token sets
	BaseDate sts.BaseDate
}

// decoderKey is the installed key: its description and its cipher. The key
// bytes themselves are not kept.
type decoderKey struct {
	info   KeyInfo
	cipher sts.Cipher
}

// Meter is a simulated STS prepayment meter.
//
// TID memory: the meter remembers the TIDs of the class 0 and class 2
// tokens it accepted, up to its TID memory size (Config.TIDMemory, default
// 50), starting with the manufacture TID. A token whose TID is smaller than
// the smallest remembered TID is old (OldError), one whose TID is
// remembered is used (UsedError). When the memory is full, accepting a
// token forgets the smallest TID. Key change and class 1 tokens carry no TID
// and are not remembered. A key change with the rollover bit set empties
// the memory.
//
// Validation: every token must decode under the current key (format, CRC,
// reserved class or subclass). A class 0 or class 2 token is then checked
// for old, used and key expiry (sts.KeyExpired against the KEN), in that
// order; a credit token (sts.Credit or sts.CurrencyCredit) also for the
// DDTK rule (no credit while the meter holds a default key) and the
// register limit, a management token for the range of its value. A class
// 1 token needs manufacturer code 0 or the meter's. Key change sections
// carry no TID and are staged until their set is complete; the set is then
// checked for the key type change and the rollover. A set is two
// sections for a 64-bit key, three when its 1st section has the
// three-token flag (the 3rd carrying the supply group code), and four for
// a 128-bit key.
//
// Registers: a credit register per subclass in tenths of its unit
// (Balance), credited by sts.Credit tokens (subclasses 0..3), and a
// currency register per currency subclass 4..7 in units of 0.00001 of the
// currency (CurrencyBalance), credited by sts.CurrencyCredit tokens (only
// subclass 4 decodes; 5..7 are reserved). A currency credit adds its
// signed amount: a negative amount is a debit. A currency register holds 0
// up to Config.CurrencyLimit; a credit that would take it above the limit
// or a debit that would take it below zero is an OverflowError, never a
// wrap or a clamp. Below zero is an overflow, not a range error, because
// the token itself is well-formed: only the register cannot take it, as
// with a credit above the limit. A clear credit token of register 4..7
// clears the currency register of that subclass (of all registers: every
// one).
//
// A rejected token changes nothing in the meter: registers, settings, TID
// memory, key and staged key change sections are as before.
//
// A Meter is not safe for concurrent use: like the device it simulates, it
// serves one keypad, so use it from one goroutine (or guard it).
type Meter struct {
	pan           sts.PAN
	mfrCode       uint16
	tables        *sta.Tables
	key           decoderKey
	staged        []sts.KeyChange // key change sections awaiting the rest of their set
	tids          tidMemory
	registers     [16]uint64 // credit registers in tenths, one per subclass as clear credit addresses them
	registerLimit uint64
	currency      [numCurrency]*big.Int // currency registers of subclasses 4..7, in 0.00001 units; replaced, never mutated
	currencyLimit *big.Int

	maxPower          uint64 // watts
	maxPhaseUnbalance uint64 // watts
	tariffRate        uint16
	waterMeterFactor  uint16
	tampered          bool
}

// New returns a meter in its factory state: the given key, empty credit
// registers and the manufacture TID in its TID memory.
func New(cfg Config) (*Meter, error) {
	if err := cfg.check(); err != nil {
		return nil, err
	}
	c, err := sts.NewCipher(cfg.EA, cfg.Key, cfg.STATables)
	if err != nil {
		return nil, fmt.Errorf("%w: %w", ErrConfig, err)
	}
	limit := DefaultCurrencyLimit()
	if cfg.CurrencyLimit != nil {
		limit = new(big.Int).Set(cfg.CurrencyLimit)
	}
	m := &Meter{
		pan:     cfg.PAN,
		mfrCode: cfg.MfrCode,
		tables:  cfg.STATables,
		key: decoderKey{cipher: c, info: KeyInfo{
			EA: cfg.EA, KeyType: cfg.KeyType, KRN: cfg.KRN, TI: cfg.TI, KEN: cfg.KEN,
			SGC: cfg.SGC, BaseDate: cfg.BaseDate,
		}},
		tids:          newTIDMemory(cmp.Or(cfg.TIDMemory, DefaultTIDMemory), cfg.ManufacturedTID),
		registerLimit: cmp.Or(cfg.RegisterLimit, DefaultRegisterLimit),
		currencyLimit: limit,
	}
	m.clearCurrency()
	return m, nil
}

// Enter processes a token typed on the keypad: 20 decimal digits, spaces
// and hyphens ignored. The Result says what the meter made of it.
func (m *Meter) Enter(digits string) Result {
	tok, err := sts.DecodeString(digits, m.key.cipher)
	if err != nil {
		return Result{Outcome: outcomeOf(err)}
	}
	r := m.apply(tok)
	r.Token = tok
	return r
}

// outcomeOf maps an error of the token engine to the meter's outcome.
func outcomeOf(err error) Outcome {
	switch {
	case errors.Is(err, sts.ErrCRC):
		return CRCError
	case errors.Is(err, sts.ErrReserved):
		return FunctionError
	case errors.Is(err, sts.ErrRange):
		return RangeError
	}
	return FormatError
}

// apply acts on a decoded token. An accepted token other than a key change
// section discards the staged sections.
func (m *Meter) apply(tok sts.Token) Result {
	var r Result
	switch t := tok.(type) {
	case sts.KeyChange:
		return m.keyChange(t)
	case sts.Credit:
		r = m.credit(t)
	case sts.CurrencyCredit:
		r = m.currencyCredit(t)
	case sts.Management:
		r = m.manage(t)
	case sts.Test:
		r = m.test(t)
	default:
		return Result{Outcome: FunctionError}
	}
	if !r.Outcome.Rejected() {
		m.staged = nil
	}
	return r
}

// checkTID validates the TID of a class 0 or class 2 token: Accepted, or
// the rejection.
func (m *Meter) checkTID(tid uint32) Outcome {
	if o := m.tids.check(tid); o != Accepted {
		return o
	}
	if sts.KeyExpired(tid, m.key.info.KEN) {
		return KeyExpiredError
	}
	return Accepted
}

// credit applies a class 0 transfer credit token.
func (m *Meter) credit(t sts.Credit) Result {
	if o := m.checkTID(t.TID); o != Accepted {
		return Result{Outcome: o}
	}
	if m.key.info.KeyType == sts.DDTK {
		return Result{Outcome: DDTKError}
	}
	amount, balance := t.Amount.Value(), m.registers[t.Sub]
	if amount > m.registerLimit-balance {
		return Result{Outcome: OverflowError}
	}
	m.tids.insert(t.TID)
	m.registers[t.Sub] = balance + amount
	return Result{Outcome: Accepted, Credited: amount, Balance: balance + amount}
}

// firstCurrency is the first currency subclass and numCurrency the number
// of currency registers (subclasses 4..7).
const (
	firstCurrency = sts.ElectricityCurrency
	numCurrency   = 4
)

// currencyCredit applies a class 0 currency credit token: the same TID,
// key expiry and DDTK checks as credit, then the signed amount into the
// currency register, which must stay within 0..currencyLimit.
func (m *Meter) currencyCredit(t sts.CurrencyCredit) Result {
	if o := m.checkTID(t.TID); o != Accepted {
		return Result{Outcome: o}
	}
	if m.key.info.KeyType == sts.DDTK {
		return Result{Outcome: DDTKError}
	}
	i := int(t.Sub) - int(firstCurrency)
	if i < 0 || i >= numCurrency { // Decode gives subclass 4 only
		return Result{Outcome: FunctionError}
	}
	amount := t.Amount.Value()
	balance := new(big.Int).Add(m.currency[i], amount)
	if balance.Sign() < 0 || balance.Cmp(m.currencyLimit) > 0 {
		return Result{Outcome: OverflowError}
	}
	m.tids.insert(t.TID)
	m.currency[i] = balance
	return Result{Outcome: Accepted, CurrencyCredited: amount, CurrencyBalance: new(big.Int).Set(balance)}
}

// allRegisters is the ClearCredit register value that clears every
// register.
const allRegisters = 0xFFFF

// manage applies a class 2 register-type management token.
func (m *Meter) manage(t sts.Management) Result {
	if o := m.checkTID(t.TID); o != Accepted {
		return Result{Outcome: o}
	}
	if t.Sub == sts.ClearCredit && t.Value != allRegisters && int(t.Value) >= len(m.registers) {
		return Result{Outcome: RangeError}
	}
	m.tids.insert(t.TID)
	switch t.Sub {
	case sts.MaximumPowerLimit:
		m.maxPower = sts.Amount(t.Value).Value()
	case sts.ClearCredit:
		m.clearCredit(t.Value)
	case sts.TariffRate:
		m.tariffRate = t.Value
	case sts.ClearTamper:
		m.tampered = false
	case sts.MaximumPhasePowerUnbalanceLimit:
		m.maxPhaseUnbalance = sts.Amount(t.Value).Value()
	case sts.WaterMeterFactor:
		m.waterMeterFactor = t.Value
	}
	return Result{Outcome: Accepted}
}

func (m *Meter) clearCredit(register uint16) {
	if register == allRegisters {
		m.registers = [16]uint64{}
		m.clearCurrency()
		return
	}
	m.registers[register] = 0
	if i := int(register) - int(firstCurrency); i >= 0 && i < numCurrency {
		m.currency[i] = new(big.Int)
	}
}

func (m *Meter) clearCurrency() {
	for i := range m.currency {
		m.currency[i] = new(big.Int)
	}
}

// test accepts a class 1 test/display token addressed to every meter
// (manufacturer code 0) or to this meter's manufacturer.
func (m *Meter) test(t sts.Test) Result {
	if t.MfrCode != 0 && t.MfrCode != m.mfrCode {
		return Result{Outcome: MfrCodeError}
	}
	return Result{Outcome: Accepted}
}

// Balance returns the credit register of a subclass, in tenths of its
// unit. The meter has a register for each of the 16 subclasses that a
// clear credit token addresses; sts.Credit tokens credit subclasses 0..3.
// Balance is 0 for a subclass above 15, and for the currency subclasses
// 4..7, whose credit is in CurrencyBalance.
func (m *Meter) Balance(sub sts.Subclass) uint64 {
	if int(sub) >= len(m.registers) {
		return 0
	}
	return m.registers[sub]
}

// CurrencyBalance returns the currency register of a currency subclass
// (4..7), in units of 0.00001 of the currency: never negative, at most
// Config.CurrencyLimit. It is a new big.Int on every call; 0 for any other
// subclass.
func (m *Meter) CurrencyBalance(sub sts.Subclass) *big.Int {
	if i := int(sub) - int(firstCurrency); i >= 0 && i < numCurrency {
		return new(big.Int).Set(m.currency[i])
	}
	return new(big.Int)
}

// MaximumPowerLimit returns the maximum power limit in watts; 0 if none was
// set.
func (m *Meter) MaximumPowerLimit() uint64 { return m.maxPower }

// MaximumPhasePowerUnbalanceLimit returns the maximum phase power
// unbalance limit in watts; 0 if none was set.
func (m *Meter) MaximumPhasePowerUnbalanceLimit() uint64 { return m.maxPhaseUnbalance }

// TariffRate returns the tariff rate last set by a management token.
func (m *Meter) TariffRate() uint16 { return m.tariffRate }

// WaterMeterFactor returns the water meter factor last set by a
// management token.
func (m *Meter) WaterMeterFactor() uint16 { return m.waterMeterFactor }

// Tamper records a tamper condition, as the meter's tamper detection
// would; a clear tamper condition token clears it.
func (m *Meter) Tamper() { m.tampered = true }

// Tampered reports whether a tamper condition is pending.
func (m *Meter) Tampered() bool { return m.tampered }

// PAN returns the meter's primary account number.
func (m *Meter) PAN() sts.PAN { return m.pan }

// KeyInfo describes the installed decoder key.
func (m *Meter) KeyInfo() KeyInfo { return m.key.info }

// TIDs returns a copy of the TID memory in ascending order.
func (m *Meter) TIDs() []uint32 { return slices.Clone(m.tids.tids) }
