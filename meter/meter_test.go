package meter_test

import (
	"errors"
	"math/big"
	"reflect"
	"slices"
	"testing"

	"github.com/stskms/stskms/internal/stsvec"
	"github.com/stskms/stskms/meter"
	"github.com/stskms/stskms/sts"
	"github.com/stskms/stskms/sts/sta"
)

// Keys of the hand-made test meters.
var (
	testKey  = []byte{0x00, 0x11, 0x22, 0x33, 0x44, 0x55, 0x66, 0x77, 0x88, 0x99, 0xaa, 0xbb, 0xcc, 0xdd, 0xee, 0xff}
	otherKey = []byte{0xff, 0xee, 0xdd, 0xcc, 0xbb, 0xaa, 0x99, 0x88, 0x77, 0x66, 0x55, 0x44, 0x33, 0x22, 0x11, 0x00}
	desKey   = []byte{0x13, 0x34, 0x57, 0x79, 0x9b, 0xbc, 0xdf, 0xf1}
)

// testConfig is a MISTY1 meter with a unique key, manufactured at TID 100.
func testConfig() meter.Config {
	return meter.Config{
		MfrCode: 1234, EA: sts.EA11, Key: testKey, KeyType: sts.DUTK, KRN: 1, TI: 1, KEN: 255,
		SGC: 123456, BaseDate: sts.BaseDate2014, ManufacturedTID: 100,
	}
}

// fixture is a meter and the cipher of its initial key, to issue tokens.
type fixture struct {
	t *testing.T
	m *meter.Meter
	c sts.Cipher
}

// newFixture makes a meter of testConfig, edited by edit if not nil.
func newFixture(t *testing.T, edit func(*meter.Config)) *fixture {
	t.Helper()
	cfg := testConfig()
	if edit != nil {
		edit(&cfg)
	}
	return &fixture{t: t, m: newMeter(t, cfg), c: newCipher(t, cfg.EA, cfg.Key, cfg.STATables)}
}

func newMeter(t testing.TB, cfg meter.Config) *meter.Meter {
	t.Helper()
	m, err := meter.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	return m
}

func newCipher(t testing.TB, ea sts.EA, key []byte, tables *sta.Tables) sts.Cipher {
	t.Helper()
	c, err := sts.NewCipher(ea, key, tables)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// issue encodes a token under c and returns its digits.
func issue(t testing.TB, c sts.Cipher, tok sts.Token) string {
	t.Helper()
	n, err := sts.Encode(tok, c)
	if err != nil {
		t.Fatal(err)
	}
	return n.String()
}

// issue encodes a token under the fixture's initial key.
func (f *fixture) issue(tok sts.Token) string { return issue(f.t, f.c, tok) }

// enter types a token into f's meter and checks the outcome.
func (f *fixture) enter(digits string, want meter.Outcome) meter.Result {
	f.t.Helper()
	return enter(f.t, f.m, digits, want)
}

// enter types a token and checks the outcome, and that a rejection leaves
// the meter as it was.
func enter(t testing.TB, m *meter.Meter, digits string, want meter.Outcome) meter.Result {
	t.Helper()
	before := snapshot(m)
	r := m.Enter(digits)
	if r.Outcome != want {
		t.Fatalf("Enter(%q) = %v, want %v", digits, r.Outcome, want)
	}
	if r.Outcome.Rejected() {
		checkUnchanged(t, before, m)
	}
	return r
}

func credit(t testing.TB, sub sts.Subclass, tid uint32, tenths uint64) sts.Credit {
	t.Helper()
	a, err := sts.EncodeAmount(tenths)
	if err != nil {
		t.Fatal(err)
	}
	return sts.Credit{Sub: sub, TID: tid, RND: 7, Amount: a}
}

func electricity(t testing.TB, tid uint32, tenths uint64) sts.Credit {
	return credit(t, sts.Electricity, tid, tenths)
}

// currency is an electricity currency credit of a decimal amount, rounded
// towards +∞ to what the token carries (negative for a debit). Exact up to
// 0.16383, in steps of 0.0001 up to 1.80214, of 0.001 up to 18.18524, ….
func currency(t testing.TB, tid uint32, amount string) sts.CurrencyCredit {
	t.Helper()
	units, err := sts.ParseCurrency(amount)
	if err != nil {
		t.Fatal(err)
	}
	a, err := sts.EncodeCurrencyAmount(units)
	if err != nil {
		t.Fatal(err)
	}
	return sts.CurrencyCredit{Sub: sts.ElectricityCurrency, TID: tid, Amount: a}
}

// state is everything a meter shows of itself.
type state struct {
	balances          [16]uint64
	currency          [4]string // currency registers of subclasses 4..7, decimal
	tids              []uint32
	key               meter.KeyInfo
	maxPower          uint64
	maxPhaseUnbalance uint64
	tariffRate        uint16
	waterMeterFactor  uint16
	tampered          bool
}

func snapshot(m *meter.Meter) state {
	s := state{
		tids:              m.TIDs(),
		key:               m.KeyInfo(),
		maxPower:          m.MaximumPowerLimit(),
		maxPhaseUnbalance: m.MaximumPhasePowerUnbalanceLimit(),
		tariffRate:        m.TariffRate(),
		waterMeterFactor:  m.WaterMeterFactor(),
		tampered:          m.Tampered(),
	}
	for sub := range s.balances {
		s.balances[sub] = m.Balance(sts.Subclass(sub))
	}
	for i := range s.currency {
		s.currency[i] = sts.FormatCurrency(m.CurrencyBalance(sts.ElectricityCurrency + sts.Subclass(i)))
	}
	return s
}

func checkState(t testing.TB, m *meter.Meter, want state) {
	t.Helper()
	if got := snapshot(m); !reflect.DeepEqual(got, want) {
		t.Fatalf("meter state\n got %+v\nwant %+v", got, want)
	}
}

func checkUnchanged(t testing.TB, before state, m *meter.Meter) {
	t.Helper()
	if got := snapshot(m); !reflect.DeepEqual(got, before) {
		t.Fatalf("rejected token changed the meter\nbefore %+v\n after %+v", before, got)
	}
}

// Rejections.

// forge returns a token of any class and subclass, reserved ones too:
// payload (data block bits 16..63) with a valid CRC, encrypted under c.
func forge(t testing.TB, c sts.Cipher, class sts.Class, payload uint64) string {
	t.Helper()
	n, err := sts.Seal(sts.NewBlock(class, payload), c)
	if err != nil {
		t.Fatal(err)
	}
	return n.String()
}

// forged is a token func for forge.
func forged(class sts.Class, payload uint64) func(f *fixture) string {
	return func(f *fixture) string { return forge(f.t, f.c, class, payload) }
}

func TestRejections(t *testing.T) {
	tests := []struct {
		name   string
		config func(*meter.Config)
		setup  func(f *fixture) // tokens entered first, each accepted
		token  func(f *fixture) string
		want   meter.Outcome
	}{
		{name: "format: 19 digits", token: digits("1234567890123456789"), want: meter.FormatError},
		{name: "format: 21 digits", token: digits("123456789012345678901"), want: meter.FormatError},
		{name: "format: letter", token: digits("1234567890123456789a"), want: meter.FormatError},
		{name: "format: empty", token: digits(""), want: meter.FormatError},
		{name: "format: 2^66", token: digits("73786976294838206464"), want: meter.FormatError},
		{name: "CRC: another key", token: func(f *fixture) string {
			return issue(f.t, newCipher(f.t, sts.EA11, otherKey, nil), electricity(f.t, 200, 10))
		}, want: meter.CRCError},
		{name: "CRC: mistyped", token: func(f *fixture) string {
			d := []byte(f.issue(electricity(f.t, 200, 10)))
			d[5] = '0' + (d[5]-'0'+1)%10
			return string(d)
		}, want: meter.CRCError},
		{name: "old: before manufacture", token: token(electricity(t, 99, 10)), want: meter.OldError},
		{name: "used: manufacture TID", token: token(electricity(t, 100, 10)), want: meter.UsedError},
		{name: "used: replay", setup: enterToken(electricity(t, 200, 10)), token: token(electricity(t, 200, 10)), want: meter.UsedError},
		{name: "used: management TID", setup: enterToken(sts.Management{Sub: sts.TariffRate, TID: 200, Value: 5}),
			token: token(electricity(t, 200, 10)), want: meter.UsedError},
		{name: "key expired", config: func(c *meter.Config) { c.KEN = 0x10 },
			token: token(electricity(t, 0x11_0000, 10)), want: meter.KeyExpiredError},
		{name: "key expired: management", config: func(c *meter.Config) { c.KEN = 0x10 },
			token: token(sts.Management{Sub: sts.TariffRate, TID: 0x11_0000}), want: meter.KeyExpiredError},
		{name: "DDTK", config: func(c *meter.Config) { c.KeyType = sts.DDTK }, token: token(electricity(t, 200, 10)), want: meter.DDTKError},
		{name: "overflow", config: func(c *meter.Config) { c.RegisterLimit = 100 },
			token: token(electricity(t, 200, 101)), want: meter.OverflowError},
		{name: "overflow: second credit", config: func(c *meter.Config) { c.RegisterLimit = 100 },
			setup: enterToken(electricity(t, 200, 60)), token: token(electricity(t, 201, 41)), want: meter.OverflowError},
		{name: "currency: old", token: token(currency(t, 99, "1")), want: meter.OldError},
		{name: "currency: used", setup: enterToken(electricity(t, 200, 10)), token: token(currency(t, 200, "1")),
			want: meter.UsedError},
		{name: "currency: replay", setup: enterToken(currency(t, 200, "1")), token: token(currency(t, 200, "1")),
			want: meter.UsedError},
		{name: "currency: key expired", config: func(c *meter.Config) { c.KEN = 0x10 },
			token: token(currency(t, 0x11_0000, "1")), want: meter.KeyExpiredError},
		{name: "currency: DDTK", config: func(c *meter.Config) { c.KeyType = sts.DDTK },
			token: token(currency(t, 200, "1")), want: meter.DDTKError},
		{name: "currency: DDTK debit", config: func(c *meter.Config) { c.KeyType = sts.DDTK },
			token: token(currency(t, 200, "-1")), want: meter.DDTKError},
		{name: "currency: overflow", config: func(c *meter.Config) { c.CurrencyLimit = big.NewInt(10_000) },
			token: token(currency(t, 200, "0.10001")), want: meter.OverflowError},
		{name: "currency: overflow, second credit", config: func(c *meter.Config) { c.CurrencyLimit = big.NewInt(10_000) },
			setup: enterToken(currency(t, 200, "0.06")), token: token(currency(t, 201, "0.04001")), want: meter.OverflowError},
		{name: "currency: overflow by rounding", config: func(c *meter.Config) { c.CurrencyLimit = big.NewInt(100_000) },
			token: token(currency(t, 200, "1")), want: meter.OverflowError}, // 1 encodes as 1.00004
		{name: "currency: overflow at the default limit", setup: enterToken(currency(t, 200, "1820344444444444444444444444444.42624")),
			token: token(currency(t, 201, "0.00001")), want: meter.OverflowError},
		{name: "currency: debit of an empty register", token: token(currency(t, 200, "-0.00001")), want: meter.OverflowError},
		{name: "currency: debit below zero", setup: enterToken(currency(t, 200, "0.1")),
			token: token(currency(t, 201, "-0.10001")), want: meter.OverflowError},
		{name: "currency: tenths credit does not count", setup: enterToken(electricity(t, 200, 1000)),
			token: token(currency(t, 201, "-1")), want: meter.OverflowError},
		{name: "range: clear register 16", token: token(sts.Management{Sub: sts.ClearCredit, TID: 200, Value: 16}),
			want: meter.RangeError},
		{name: "range: clear register 100", token: token(sts.Management{Sub: sts.ClearCredit, TID: 200, Value: 100}),
			want: meter.RangeError},
		{name: "function: credit subclass 5", token: forged(sts.ClassCredit, 5<<44|200<<16|1), want: meter.FunctionError},
		{name: "function: water currency (subclass 5)", token: forged(sts.ClassCredit, 5<<44|1<<40|200<<16|0xFFFF), want: meter.FunctionError},
		{name: "function: time currency (subclass 7)", token: forged(sts.ClassCredit, 7<<44|200<<16|1), want: meter.FunctionError},
		{name: "function: management subclass 10", token: forged(sts.ClassManagement, 10<<44|200<<16), want: meter.FunctionError},
		{name: "function: test subclass 2", token: forged(sts.ClassTest, 2<<44|1<<16), want: meter.FunctionError},
		{name: "function: class 3", token: forged(sts.ClassReserved, 200<<16), want: meter.FunctionError},
		{name: "manufacturer code", token: token(sts.Test{Sub: sts.TestDisplay2, MfrCode: 4321, Control: 1}),
			want: meter.MfrCodeError},
		{name: "manufacturer code: 2 digits", token: token(sts.Test{Sub: sts.TestDisplay1, MfrCode: 12, Control: 1}),
			want: meter.MfrCodeError},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := newFixture(t, tt.config)
			if tt.setup != nil {
				tt.setup(f)
			}
			r := f.enter(tt.token(f), tt.want)
			if !r.Outcome.Rejected() {
				t.Errorf("%v is not a rejection", r.Outcome)
			}
		})
	}
}

func digits(s string) func(*fixture) string { return func(*fixture) string { return s } }

func token(tok sts.Token) func(*fixture) string {
	return func(f *fixture) string { return f.issue(tok) }
}

func enterToken(tok sts.Token) func(*fixture) {
	return func(f *fixture) { f.enter(f.issue(tok), meter.Accepted) }
}

// Acceptance.

func TestAccepted(t *testing.T) {
	tests := []struct {
		name   string
		config func(*meter.Config)
		token  sts.Token
		effect func(s *state) // on the state of the meter before
	}{
		{"credit", nil, credit(t, sts.Gas, 200, 250), func(s *state) {
			s.balances[sts.Gas] = 250
			s.tids = []uint32{100, 200}
		}},
		{"credit at key expiry", func(c *meter.Config) { c.KEN = 0x10 }, electricity(t, 0x10_FFFF, 10), func(s *state) {
			s.balances[sts.Electricity] = 10
			s.tids = []uint32{100, 0x10_FFFF}
		}},
		{"credit up to the register limit", func(c *meter.Config) { c.RegisterLimit = 100 }, electricity(t, 200, 100), func(s *state) {
			s.balances[sts.Electricity] = 100
			s.tids = []uint32{100, 200}
		}},
		{"currency credit", nil, currency(t, 200, "0.12345"), func(s *state) {
			s.currency[0] = "0.12345"
			s.tids = []uint32{100, 200}
		}},
		{"currency credit, rounded up", nil, currency(t, 200, "1"), func(s *state) {
			s.currency[0] = "1.00004" // Ed. 2.2 CTSA20 step 1
			s.tids = []uint32{100, 200}
		}},
		{"currency credit of zero", nil, currency(t, 200, "0"), func(s *state) {
			s.tids = []uint32{100, 200}
		}},
		{"currency debit of zero (sign bit, no magnitude)", nil,
			sts.CurrencyCredit{Sub: sts.ElectricityCurrency, TID: 200, Amount: 1 << 19}, func(s *state) {
				s.tids = []uint32{100, 200}
			}},
		{"currency credit up to the limit", func(c *meter.Config) { c.CurrencyLimit = big.NewInt(1_000_024) },
			currency(t, 200, "10.00024"), func(s *state) {
				s.currency[0] = "10.00024"
				s.tids = []uint32{100, 200}
			}},
		{"currency credit at key expiry", func(c *meter.Config) { c.KEN = 0x10 }, currency(t, 0x10_FFFF, "3.00024"), func(s *state) {
			s.currency[0] = "3.00024"
			s.tids = []uint32{100, 0x10_FFFF}
		}},
		{"maximum power limit", nil, sts.Management{Sub: sts.MaximumPowerLimit, TID: 200, Value: 0x416a}, func(s *state) {
			s.maxPower = 20_004
			s.tids = []uint32{100, 200}
		}},
		{"tariff rate", nil, sts.Management{Sub: sts.TariffRate, TID: 200, Value: 42}, func(s *state) {
			s.tariffRate = 42
			s.tids = []uint32{100, 200}
		}},
		{"phase power unbalance limit", nil, sts.Management{Sub: sts.MaximumPhasePowerUnbalanceLimit, TID: 200, Value: 0x4000},
			func(s *state) {
				s.maxPhaseUnbalance = 16_384
				s.tids = []uint32{100, 200}
			}},
		{"water meter factor", nil, sts.Management{Sub: sts.WaterMeterFactor, TID: 200, Value: 7}, func(s *state) {
			s.waterMeterFactor = 7
			s.tids = []uint32{100, 200}
		}},
		{"clear credit of an empty register", nil, sts.Management{Sub: sts.ClearCredit, TID: 200, Value: 15}, func(s *state) {
			s.tids = []uint32{100, 200}
		}},
		{"management under a DDTK", func(c *meter.Config) { c.KeyType = sts.DDTK },
			sts.Management{Sub: sts.TariffRate, TID: 200, Value: 3}, func(s *state) {
				s.tariffRate = 3
				s.tids = []uint32{100, 200}
			}},
		{"test, all manufacturers", nil, sts.Test{Sub: sts.TestDisplay1, Control: 1 << 35}, func(*state) {}},
		{"test, this manufacturer", nil, sts.Test{Sub: sts.TestDisplay2, MfrCode: 1234, Control: 3}, func(*state) {}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := newFixture(t, tt.config)
			want := snapshot(f.m)
			tt.effect(&want)
			r := f.enter(f.issue(tt.token), meter.Accepted)
			if !reflect.DeepEqual(r.Token, tt.token) {
				t.Errorf("token %+v, want %+v", r.Token, tt.token)
			}
			checkState(t, f.m, want)
		})
	}
}

func TestCreditResult(t *testing.T) {
	f := newFixture(t, nil)
	for i, want := range []uint64{250, 500, 750} {
		r := f.enter(f.issue(electricity(t, 200+uint32(i), 250)), meter.Accepted)
		if r.Credited != 250 || r.Balance != want {
			t.Errorf("credit %d: credited %d, balance %d; want 250, %d", i, r.Credited, r.Balance, want)
		}
	}
}

// TestCurrencyResult: currency credits and debits report the signed amount
// and the new balance, in 0.00001 units, and leave the tenths registers
// alone.
func TestCurrencyResult(t *testing.T) {
	f := newFixture(t, nil)
	steps := []struct {
		amount            string
		credited, balance string
	}{
		// Amounts the encoder rounds towards +∞: a credit up, a debit to a
		// smaller magnitude (Ed. 2.2 CTSA20: 1 → 1.00004, −1 → −0.99994).
		{"12.34567", "12.34624", "12.34624"},
		{"-2.5", "-2.49924", "9.84700"},
		{"1", "1.00004", "10.84704"},
		{"-1", "-0.99994", "9.84710"},
		// Exact amounts (exponent 0: up to 0.16383).
		{"-0.16383", "-0.16383", "9.68327"},
		{"-9.68", "-9.67924", "0.00403"},
		{"-0.00403", "-0.00403", "0.00000"}, // down to exactly zero
		{"0.00001", "0.00001", "0.00001"},
	}
	for i, s := range steps {
		tok := currency(t, 200+uint32(i), s.amount)
		r := f.enter(f.issue(tok), meter.Accepted)
		if r.Token != tok {
			t.Errorf("step %d: token %+v, want %+v", i, r.Token, tok)
		}
		got, bal := sts.FormatCurrency(r.CurrencyCredited), sts.FormatCurrency(r.CurrencyBalance)
		if got != s.credited || bal != s.balance || r.Credited != 0 || r.Balance != 0 {
			t.Errorf("step %d (%s): credited %s, balance %s (tenths %d, %d); want %s, %s",
				i, s.amount, got, bal, r.Credited, r.Balance, s.credited, s.balance)
		}
		if r.CurrencyCredited.Cmp(tok.Amount.Value()) != 0 {
			t.Errorf("step %d: credited %s, token value %s", i, r.CurrencyCredited, tok.Amount.Value())
		}
		if b := f.m.CurrencyBalance(sts.ElectricityCurrency); b.Cmp(r.CurrencyBalance) != 0 {
			t.Errorf("step %d: CurrencyBalance %s, result %s", i, b, r.CurrencyBalance)
		}
		// The result and the accessor are copies.
		r.CurrencyBalance.SetInt64(-7)
		f.m.CurrencyBalance(sts.ElectricityCurrency).SetInt64(-7)
		if b := sts.FormatCurrency(f.m.CurrencyBalance(sts.ElectricityCurrency)); b != s.balance {
			t.Fatalf("step %d: balance changed through a copy: %s", i, b)
		}
	}
	if f.m.Balance(sts.ElectricityCurrency) != 0 || f.m.Balance(sts.Electricity) != 0 {
		t.Error("a currency credit changed a tenths register")
	}
	for _, sub := range []sts.Subclass{sts.Electricity, sts.ConnectionTime, 5, 7, 8, 15, 16} {
		if b := f.m.CurrencyBalance(sub); b.Sign() != 0 {
			t.Errorf("CurrencyBalance(%d) = %s, want 0", sub, b)
		}
	}
	// A tenths credit reports no currency.
	r := f.enter(f.issue(electricity(t, 300, 5)), meter.Accepted)
	if r.CurrencyCredited != nil || r.CurrencyBalance != nil {
		t.Errorf("credit result: currency %v, %v; want nil", r.CurrencyCredited, r.CurrencyBalance)
	}
}

// TestClearCurrency: a clear credit token of register 4 or of all
// registers clears the electricity currency register; another register
// leaves it.
func TestClearCurrency(t *testing.T) {
	for _, tt := range []struct {
		register uint16
		want     string
	}{{4, "0.00000"}, {0xFFFF, "0.00000"}, {0, "5.00024"}, {5, "5.00024"}} {
		f := newFixture(t, nil)
		f.enter(f.issue(currency(t, 200, "5.00024")), meter.Accepted)
		f.enter(f.issue(sts.Management{Sub: sts.ClearCredit, TID: 201, Value: tt.register}), meter.Accepted)
		if got := sts.FormatCurrency(f.m.CurrencyBalance(sts.ElectricityCurrency)); got != tt.want {
			t.Errorf("clear register %d: balance %s, want %s", tt.register, got, tt.want)
		}
		debit := meter.Accepted
		if tt.want == "0.00000" {
			debit = meter.OverflowError
		}
		f.enter(f.issue(currency(t, 202, "-0.00001")), debit)
	}
}

// TestCurrencyLimitIsCopied: New copies Config.CurrencyLimit.
func TestCurrencyLimitIsCopied(t *testing.T) {
	limit := big.NewInt(100_000)
	f := newFixture(t, func(c *meter.Config) { c.CurrencyLimit = limit })
	limit.SetInt64(0)
	f.enter(f.issue(currency(t, 200, "1")), meter.OverflowError) // 1.00004 > 1
	f.enter(f.issue(currency(t, 201, "0.99994")), meter.Accepted)
	if got := meter.DefaultCurrencyLimit(); got.String() != "182034444444444444444444444444442624" {
		t.Errorf("DefaultCurrencyLimit() = %s", got)
	}
}

func TestClearTamper(t *testing.T) {
	f := newFixture(t, nil)
	f.m.Tamper()
	if !f.m.Tampered() {
		t.Fatal("no tamper condition after Tamper")
	}
	f.enter(f.issue(sts.Management{Sub: sts.ClearTamper, TID: 200}), meter.Accepted)
	if f.m.Tampered() {
		t.Error("tamper condition not cleared")
	}
}

// TID memory.

func TestTIDMemory(t *testing.T) {
	type step struct {
		tid  uint32
		want meter.Outcome
	}
	tests := []struct {
		name  string
		size  int
		steps []step
		tids  []uint32 // the memory at the end
	}{
		{"pre-filled with the manufacture TID", 0, []step{
			{99, meter.OldError}, {100, meter.UsedError}, {101, meter.Accepted},
		}, []uint32{100, 101}},
		{"out of order within the memory", 0, []step{
			{300, meter.Accepted}, {200, meter.Accepted}, {250, meter.Accepted}, {200, meter.UsedError},
		}, []uint32{100, 200, 250, 300}},
		{"full memory forgets the smallest", 3, []step{
			{120, meter.Accepted}, {130, meter.Accepted}, {140, meter.Accepted},
			{100, meter.OldError}, {115, meter.OldError}, {125, meter.Accepted}, {120, meter.OldError},
			{130, meter.UsedError}, {150, meter.Accepted},
		}, []uint32{130, 140, 150}},
		{"size 1", 1, []step{
			{200, meter.Accepted}, {150, meter.OldError}, {200, meter.UsedError}, {201, meter.Accepted},
		}, []uint32{201}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := newFixture(t, func(c *meter.Config) { c.TIDMemory = tt.size })
			for _, s := range tt.steps {
				f.enter(f.issue(electricity(t, s.tid, 1)), s.want)
			}
			if got := f.m.TIDs(); !slices.Equal(got, tt.tids) {
				t.Errorf("TIDs %v, want %v", got, tt.tids)
			}
		})
	}
}

func TestTIDMemoryDefaultSize(t *testing.T) {
	f := newFixture(t, nil)
	for tid := uint32(101); tid <= 160; tid++ {
		f.enter(f.issue(electricity(t, tid, 1)), meter.Accepted)
	}
	tids := f.m.TIDs()
	if len(tids) != meter.DefaultTIDMemory || tids[0] != 111 {
		t.Errorf("TIDs %v, want the last %d (111..160)", tids, meter.DefaultTIDMemory)
	}
	f.enter(f.issue(electricity(t, 110, 1)), meter.OldError)
}

func TestTIDsIsACopy(t *testing.T) {
	f := newFixture(t, nil)
	f.m.TIDs()[0] = 0
	f.enter(f.issue(electricity(t, 0, 1)), meter.OldError)
}

// Configuration and outcomes.

func TestNew(t *testing.T) {
	tests := []struct {
		name string
		edit func(*meter.Config)
	}{
		{"short key", func(c *meter.Config) { c.Key = testKey[:8] }},
		{"no key", func(c *meter.Config) { c.Key = nil }},
		{"unknown algorithm", func(c *meter.Config) { c.EA = 5 }},
		{"EA07 without tables", func(c *meter.Config) { c.EA, c.Key = sts.EA07, desKey }},
		{"key type", func(c *meter.Config) { c.KeyType = 4 }},
		{"KRN", func(c *meter.Config) { c.KRN = 16 }},
		{"SGC", func(c *meter.Config) { c.SGC = sts.MaxSGC + 1 }},
		{"base date", func(c *meter.Config) { c.BaseDate = 2000 }},
		{"no base date", func(c *meter.Config) { c.BaseDate = 0 }},
		{"manufacture TID", func(c *meter.Config) { c.ManufacturedTID = sts.MaxTID + 1 }},
		{"TID memory", func(c *meter.Config) { c.TIDMemory = -1 }},
		{"manufacturer code", func(c *meter.Config) { c.MfrCode = 10_000 }},
		{"currency limit", func(c *meter.Config) { c.CurrencyLimit = big.NewInt(-1) }},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cfg := testConfig()
			tt.edit(&cfg)
			if _, err := meter.New(cfg); !errors.Is(err, meter.ErrConfig) {
				t.Errorf("New: %v, want ErrConfig", err)
			}
		})
	}
}

func TestNewKeepsNoReferenceToTheKey(t *testing.T) {
	cfg := testConfig()
	cfg.Key = slices.Clone(testKey)
	m := newMeter(t, cfg)
	clear(cfg.Key)
	enter(t, m, issue(t, newCipher(t, sts.EA11, testKey, nil), electricity(t, 200, 1)), meter.Accepted)
}

func TestNewEA07(t *testing.T) {
	cfg := testConfig()
	cfg.EA, cfg.Key, cfg.STATables = sts.EA07, desKey, stsvec.Tables(t, staTestTableFile)
	f := &fixture{t: t, m: newMeter(t, cfg), c: newCipher(t, sts.EA07, desKey, cfg.STATables)}
	f.enter(f.issue(electricity(t, 200, 1)), meter.Accepted)
}

func TestOutcomes(t *testing.T) {
	tests := []struct {
		o        meter.Outcome
		code     int
		rejected bool
	}{
		{meter.Accepted, 1, false},
		{meter.KeyChanged, 1, false},
		{meter.FirstKCTEntered, 2, false},
		{meter.SecondKCTEntered, 3, false},
		{meter.ThirdKCTEntered, 3, false},
		{meter.FourthKCTEntered, 3, false},
		{meter.OverflowError, 4, true},
		{meter.KeyTypeError, 5, true},
		{meter.FormatError, 6, true},
		{meter.RangeError, 7, true},
		{meter.FunctionError, 8, true},
		{meter.OldError, 9, true},
		{meter.UsedError, 10, true},
		{meter.KeyExpiredError, 11, true},
		{meter.DDTKError, 12, true},
		{meter.CRCError, 13, true},
		{meter.MfrCodeError, 14, true},
		{0, 0, false},
	}
	names := map[string]bool{}
	for _, tt := range tests {
		if got := tt.o.Code(); got != tt.code {
			t.Errorf("%v.Code() = %d, want %d", tt.o, got, tt.code)
		}
		if got := tt.o.Rejected(); got != tt.rejected {
			t.Errorf("%v.Rejected() = %t, want %t", tt.o, got, tt.rejected)
		}
		if name := tt.o.String(); names[name] {
			t.Errorf("two outcomes named %q", name)
		} else {
			names[name] = true
		}
	}
}

// FuzzEnter types arbitrary input into a meter with a staged key change
// section: no panic, a valid outcome, and nothing changes on a rejection.
func FuzzEnter(f *testing.F) {
	c := newCipher(f, sts.EA11, testKey, nil)
	set := keyChangeTokens(f, c, sts.NewKey{Key: otherKey, KeyType: sts.DUTK, KRN: 2, KEN: 255})
	for _, seed := range []string{
		issue(f, c, electricity(f, 200, 10)),
		issue(f, c, currency(f, 201, "-12.5")),
		issue(f, c, currency(f, 202, "12.5")),
		issue(f, c, sts.Management{Sub: sts.ClearCredit, TID: 300, Value: 0xFFFF}),
		issue(f, c, sts.Test{Sub: sts.TestDisplay2, MfrCode: 1234, Control: 1}),
		set[1], set[2], set[3],
		"1234-5678-9012-3456-7890", "73786976294838206464", "", "x",
	} {
		f.Add(seed)
	}
	f.Fuzz(func(t *testing.T, input string) {
		m := newMeter(t, testConfig())
		enter(t, m, issue(t, c, electricity(t, 150, 10)), meter.Accepted)
		enter(t, m, set[0], meter.FirstKCTEntered)
		before := snapshot(m)
		r := m.Enter(input)
		if r.Outcome.Code() == 0 {
			t.Fatalf("Enter(%q): invalid outcome %v", input, r.Outcome)
		}
		if r.Outcome.Rejected() {
			checkUnchanged(t, before, m)
		}
	})
}
