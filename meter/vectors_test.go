package meter_test

import (
	"fmt"
	"math/big"
	"reflect"
	"slices"
	"strconv"
	"testing"

	"github.com/stskms/stskms/internal/stsvec"
	"github.com/stskms/stskms/meter"
	"github.com/stskms/stskms/sts"
	"github.com/stskms/stskms/sts/sta"
)

// Vector files of the token engine (see ../sts/testdata/VECTORS.md).
const (
	vectorFile        = "../sts/testdata/tokens.json"
	staTestVectorFile = "../sts/testdata/tokens-sta-test.json"
	staTestTableFile  = "../sts/sta/testdata/sta-test-tables.json"
	ed22File          = "../sts/testdata/extra/tokens-ed22.json"
)

// suite is one vector file with the STA tables its EA07 vectors need (nil
// when they are not available).
type suite struct {
	name    string
	vectors []stsvec.Vector
	tables  *sta.Tables
}

// suites returns the token vectors a meter can be driven with: the public
// vectors (their EA07 ones only with the production tables named by
// STSKMS_STA_TABLES) and the EA07 vectors recomputed under the test tables.
func suites(t *testing.T) []suite {
	production := stsvec.ProductionTables(t)
	testTables := stsvec.Tables(t, staTestTableFile)
	return []suite{
		{"public", tokenVectors(t, vectorFile, production), production},
		{"STA test tables", tokenVectors(t, staTestVectorFile, testTables), testTables},
	}
}

// tokenVectors loads the token vectors of a file, leaving out the EA07 ones
// unless the tables to run them are given.
func tokenVectors(t *testing.T, path string, tables *sta.Tables) []stsvec.Vector {
	t.Helper()
	return slices.DeleteFunc(stsvec.Load(t, path), func(v stsvec.Vector) bool {
		return v.Kind != "token20" || v.Keyed() && v.EA() == sts.EA07 && tables == nil
	})
}

func num(t testing.TB, s string) int {
	t.Helper()
	n, err := strconv.Atoi(s)
	if err != nil {
		t.Fatal(err)
	}
	return n
}

// vectorConfig is a meter holding the vector's current decoder key,
// manufactured at TID 0.
func vectorConfig(t testing.TB, v *stsvec.Vector, tables *sta.Tables) meter.Config {
	t.Helper()
	in := &v.Inputs
	key, err := v.DecoderKey()
	if err != nil {
		t.Fatal(err)
	}
	pan, err := sts.NewPAN(in.IIN, in.DRN)
	if err != nil {
		t.Fatal(err)
	}
	bd, err := sts.ParseBaseDate(in.BaseDate)
	if err != nil {
		t.Fatal(err)
	}
	return meter.Config{
		PAN: pan, EA: v.EA(), Key: key, KeyType: in.KeyType, KRN: in.KRN, TI: uint8(num(t, in.TI)),
		KEN: in.KEN, SGC: uint32(num(t, in.SGC)), BaseDate: bd, STATables: tables,
	}
}

func vectorToken(t testing.TB, v *stsvec.Vector) sts.Token {
	t.Helper()
	tok, err := v.Token()
	if err != nil {
		t.Fatal(err)
	}
	return tok
}

func vectorCipher(t testing.TB, v *stsvec.Vector, tables *sta.Tables) sts.Cipher {
	t.Helper()
	c, err := v.Cipher(tables)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// TestVectors enters every class 0, class 1 and class 2 register-type
// vector token into a fresh meter: accepted with the vector's effect, and
// a replay is used. Key change vectors are in TestKeyChangeVectors.
func TestVectors(t *testing.T) {
	for _, s := range suites(t) {
		t.Run(s.name, func(t *testing.T) {
			for _, v := range s.vectors {
				switch {
				case !v.Keyed():
					t.Run(v.ID, func(t *testing.T) { checkTestVector(t, &v) })
				case v.Inputs.Section == 0:
					t.Run(v.ID, func(t *testing.T) { checkRegisterVector(t, &v, s.tables) })
				}
			}
		})
	}
}

// checkTestVector enters a class 1 vector (manufacturer code 0): accepted
// by any meter, any number of times, without changing it.
func checkTestVector(t *testing.T, v *stsvec.Vector) {
	t.Parallel()
	f := newFixture(t, nil)
	before := snapshot(f.m)
	for range 2 {
		r := f.enter(v.Expected.Token20, meter.Accepted)
		if want := vectorToken(t, v); !reflect.DeepEqual(r.Token, want) {
			t.Errorf("token %+v, want %+v", r.Token, want)
		}
		checkState(t, f.m, before)
	}
}

// checkRegisterVector enters a class 0 or class 2 vector into a meter that
// has credit in registers 0..3, currency in register 4 and a tamper
// condition, so that every effect shows.
func checkRegisterVector(t *testing.T, v *stsvec.Vector, tables *sta.Tables) {
	t.Parallel()
	m := newMeter(t, vectorConfig(t, v, tables))
	c := vectorCipher(t, v, tables)
	for sub := range sts.ConnectionTime + 1 {
		tid := v.Inputs.TID - 5 + uint32(sub)
		enter(t, m, issue(t, c, credit(t, sub, tid, 10*uint64(sub+1))), meter.Accepted)
	}
	enter(t, m, issue(t, c, currency(t, v.Inputs.TID-1, "0.00005")), meter.Accepted)
	m.Tamper()
	want := vectorEffect(t, snapshot(m), v)

	r := enter(t, m, v.Expected.Token20, meter.Accepted)
	if tok := vectorToken(t, v); !reflect.DeepEqual(r.Token, tok) {
		t.Errorf("token %+v, want %+v", r.Token, tok)
	}
	if in := &v.Inputs; in.Class == sts.ClassCredit {
		credited := credit(t, in.Subclass, in.TID, in.AmountTenths).Amount.Value()
		if r.Credited != credited || r.Balance != want.balances[in.Subclass] {
			t.Errorf("credited %d, balance %d; want %d, %d", r.Credited, r.Balance, credited, want.balances[in.Subclass])
		}
	}
	checkState(t, m, want)
	enter(t, m, v.Expected.Token20, meter.UsedError)
}

// vectorEffect returns the state a meter in state s reaches by accepting
// the vector's token, from the vector's inputs.
func vectorEffect(t *testing.T, s state, v *stsvec.Vector) state {
	in := &v.Inputs
	s.tids = withTID(s.tids, in.TID)
	switch {
	case in.Class == sts.ClassCredit:
		s.balances[in.Subclass] += credit(t, in.Subclass, in.TID, in.AmountTenths).Amount.Value()
	case in.Subclass == sts.MaximumPowerLimit:
		s.maxPower = fieldWatts(t, in.MPLFieldHex)
	case in.Subclass == sts.MaximumPhasePowerUnbalanceLimit:
		s.maxPhaseUnbalance = fieldWatts(t, in.MPPULFieldHex)
	case in.Subclass == sts.ClearCredit && in.Register == 0xFFFF:
		s.balances = [16]uint64{}
		s.currency = [4]string{"0.00000", "0.00000", "0.00000", "0.00000"}
	case in.Subclass == sts.ClearCredit:
		s.balances[in.Register] = 0
		if in.Register >= 4 && in.Register <= 7 {
			s.currency[in.Register-4] = "0.00000"
		}
	case in.Subclass == sts.ClearTamper:
		s.tampered = false
	default:
		t.Fatalf("no expected effect for class %d subclass %d", in.Class, in.Subclass)
	}
	return s
}

// TestCurrencyVectors enters the currency credit tokens of STS 531-1-07/-11
// Ed. 2.2 (../sts/testdata/extra/tokens-ed22.json, CTSA20–23; EA07 ones
// only with the production tables named by STSKMS_STA_TABLES) into a
// meter holding their key. Subclass 4: a credit is accepted with the
// decoded amount as the new balance and is used when entered again; a
// debit is an overflow on the empty register (nothing changes), and
// accepted after a credit that covers it. Subclasses 5..7 are reserved:
// a function error.
func TestCurrencyVectors(t *testing.T) {
	production := stsvec.ProductionTables(t)
	vs := stsvec.Load(t, ed22File)
	ran, skipped := 0, 0
	for _, v := range vs {
		if v.Kind != "currency20" {
			continue
		}
		if v.EA() == sts.EA07 && production == nil {
			skipped++
			continue
		}
		ran++
		t.Run(v.ID, func(t *testing.T) { checkCurrencyVector(t, &v, production) })
	}
	if ran == 0 {
		t.Fatal("no currency vectors")
	}
	if skipped > 0 {
		t.Run("EA07-production-tables", func(t *testing.T) {
			t.Skipf("%d EA07 currency vectors skipped: they need the production STA tables (set STSKMS_STA_TABLES)", skipped)
		})
	}
}

func checkCurrencyVector(t *testing.T, v *stsvec.Vector, tables *sta.Tables) {
	t.Parallel()
	in := &v.Inputs
	m := newMeter(t, vectorConfig(t, v, tables))
	if in.Subclass != sts.ElectricityCurrency {
		enter(t, m, v.Expected.Token20, meter.FunctionError)
		return
	}
	tok := vectorToken(t, v).(sts.CurrencyCredit)
	amount := tok.Amount.Value()
	units, _ := new(big.Int).SetString(in.CurrencyUnits, 10)
	if units.Sign() != amount.Sign() {
		t.Fatalf("decoded amount %s, vector %s", amount, units)
	}
	balance := new(big.Int)
	if amount.Sign() < 0 {
		enter(t, m, v.Expected.Token20, meter.OverflowError)
		// Cover the debit, then some: a credit of the same magnitude
		// plus one unit, rounded up by the encoder.
		cover, err := sts.EncodeCurrencyAmount(new(big.Int).Sub(big.NewInt(1), amount))
		if err != nil {
			t.Fatal(err)
		}
		enter(t, m, issue(t, vectorCipher(t, v, tables), sts.CurrencyCredit{Sub: in.Subclass, TID: in.TID - 1, Amount: cover}), meter.Accepted)
		balance = cover.Value()
	}
	balance.Add(balance, amount)
	want := snapshot(m)
	want.currency[0] = sts.FormatCurrency(balance)
	want.tids = withTID(want.tids, in.TID)

	r := enter(t, m, v.Expected.Token20, meter.Accepted)
	if r.Token != tok {
		t.Errorf("token %+v, want %+v", r.Token, tok)
	}
	if r.CurrencyCredited.Cmp(amount) != 0 || r.CurrencyBalance.Cmp(balance) != 0 {
		t.Errorf("credited %s, balance %s; want %s, %s", r.CurrencyCredited, r.CurrencyBalance, amount, balance)
	}
	if got := m.CurrencyBalance(sts.ElectricityCurrency); got.Cmp(balance) != 0 {
		t.Errorf("CurrencyBalance %s, want %s", got, balance)
	}
	checkState(t, m, want)
	enter(t, m, v.Expected.Token20, meter.UsedError)
}

// fieldWatts decodes a vector's 16-bit power field.
func fieldWatts(t *testing.T, fieldHex string) uint64 {
	field, err := strconv.ParseUint(fieldHex, 16, 16)
	if err != nil {
		t.Fatal(err)
	}
	return sts.Amount(field).Value()
}

// withTID returns tids with tid inserted in order, leaving tids as it is.
func withTID(tids []uint32, tid uint32) []uint32 {
	i, _ := slices.BinarySearch(tids, tid)
	return slices.Insert(slices.Clone(tids), i, tid)
}

// keyChangeSet is a complete key change token set built around key change
// vectors with the same inputs.
type keyChangeSet struct {
	vector stsvec.Vector // a member of the set; its section is irrelevant
	tokens []string      // digits of sections 1..N
}

// keyChangeSets groups the key change vectors of a suite by their inputs
// and completes each group: a section without a vector is generated from
// the group's inputs.
func keyChangeSets(t *testing.T, s suite) []keyChangeSet {
	groups := map[stsvec.Inputs][]stsvec.Vector{}
	var order []stsvec.Inputs
	for _, v := range s.vectors {
		if v.Inputs.Section == 0 {
			continue
		}
		in := v.Inputs
		in.Section, in.Subclass = 0, 0
		if groups[in] == nil {
			order = append(order, in)
		}
		groups[in] = append(groups[in], v)
	}
	var sets []keyChangeSet
	for _, in := range order {
		sets = append(sets, completeSet(t, groups[in], s.tables))
	}
	return sets
}

func completeSet(t *testing.T, group []stsvec.Vector, tables *sta.Tables) keyChangeSet {
	set := keyChangeSet{vector: group[0], tokens: make([]string, group[0].EA().KeySize()/4)}
	for _, v := range group {
		set.tokens[v.Inputs.Section-1] = v.Expected.Token20
	}
	c := vectorCipher(t, &set.vector, tables)
	for i, digits := range set.tokens {
		if digits == "" {
			v := set.vector
			v.Inputs.Section = i + 1
			set.tokens[i] = issue(t, c, vectorToken(t, &v))
		}
	}
	return set
}

// TestKeyChangeVectors enters the sections of each key change set in every
// order: the new key is installed with the vector's new key attributes, a
// rollover clears the TID memory and moves to the new base date, and the
// set cannot be entered again.
func TestKeyChangeVectors(t *testing.T) {
	for _, s := range suites(t) {
		t.Run(s.name, func(t *testing.T) {
			for _, set := range keyChangeSets(t, s) {
				t.Run(set.vector.ID, func(t *testing.T) {
					t.Parallel()
					for _, order := range permutations(len(set.tokens)) {
						t.Run(fmt.Sprint(order), func(t *testing.T) { checkKeyChangeSet(t, &set, order, s.tables) })
					}
				})
			}
		})
	}
}

// TestThreeTokenKeyChangeVector enters the one public 64-bit three-token
// key change set (STS 531-1-07 Ed. 2.2 CTSA05 step 4,
// ../sts/testdata/extra/tokens-ed22.json; EA07, so only with the production
// tables named by STSKMS_STA_TABLES) in every order, as
// TestKeyChangeVectors does with the other sets.
func TestThreeTokenKeyChangeVector(t *testing.T) {
	vs := slices.DeleteFunc(stsvec.Load(t, ed22File), func(v stsvec.Vector) bool { return v.Kind != "keychange_set20" })
	if len(vs) == 0 {
		t.Fatal("no three-token key change set")
	}
	tables := stsvec.ProductionTables(t)
	if tables == nil {
		t.Skipf("%d EA07 three-token set skipped: it needs the production STA tables (set STSKMS_STA_TABLES)", len(vs))
	}
	for _, v := range vs {
		if !v.Inputs.ThreeTokens || len(v.Expected.Tokens20) != 3 {
			t.Fatalf("%s: not a three-token set", v.ID)
		}
		set := keyChangeSet{vector: v, tokens: v.Expected.Tokens20}
		for _, order := range permutations(3) {
			t.Run(v.ID+fmt.Sprint(order), func(t *testing.T) { checkKeyChangeSet(t, &set, order, tables) })
		}
	}
}

// sectionEntered is the outcome of staging the section at index 0..3.
var sectionEntered = []meter.Outcome{meter.FirstKCTEntered, meter.SecondKCTEntered, meter.ThirdKCTEntered, meter.FourthKCTEntered}

// checkKeyChangeSet enters a credit under the old key, then the set in the
// given order of its sections (0-based).
func checkKeyChangeSet(t *testing.T, set *keyChangeSet, order []int, tables *sta.Tables) {
	v := &set.vector
	in := &v.Inputs
	m := newMeter(t, vectorConfig(t, v, tables))
	oldCipher := vectorCipher(t, v, tables)
	enter(t, m, issue(t, oldCipher, electricity(t, 1000, 10)), meter.Accepted)
	tids := m.TIDs()

	for i, section := range order {
		want := meter.KeyChanged
		if i < len(order)-1 {
			want = sectionEntered[section]
		}
		enter(t, m, set.tokens[section], want)
	}

	wantKey := vectorConfig(t, v, tables)
	wantKey.KeyType, wantKey.KRN, wantKey.TI, wantKey.KEN = in.NewKeyType, in.NewKRN, uint8(num(t, in.NewTI)), in.NewKEN
	if len(set.tokens) == 4 || in.ThreeTokens {
		wantKey.SGC = uint32(num(t, in.NewSGC))
	}
	wantKey.BaseDate = sts.BaseDate(in.NewBaseDate)
	if in.Rollover == 1 {
		tids = nil
	}
	if got, want := m.KeyInfo(), keyInfo(wantKey); got != want {
		t.Errorf("key %+v, want %+v", got, want)
	}
	if got := m.TIDs(); !slices.Equal(got, tids) {
		t.Errorf("TIDs %v, want %v", got, tids)
	}

	newKey, err := v.NewDecoderKey()
	if err != nil {
		t.Fatal(err)
	}
	enter(t, m, issue(t, newCipher(t, v.EA(), newKey, tables), electricity(t, 2000, 10)), meter.Accepted)
	enter(t, m, issue(t, oldCipher, electricity(t, 3000, 10)), meter.CRCError)
	for _, digits := range set.tokens {
		enter(t, m, digits, meter.CRCError)
	}
}

// keyInfo is the KeyInfo of a meter made with cfg.
func keyInfo(cfg meter.Config) meter.KeyInfo {
	return meter.KeyInfo{
		EA: cfg.EA, KeyType: cfg.KeyType, KRN: cfg.KRN, TI: cfg.TI, KEN: cfg.KEN, SGC: cfg.SGC, BaseDate: cfg.BaseDate,
	}
}

// permutations returns every order of 0..n-1.
func permutations(n int) [][]int {
	if n == 0 {
		return [][]int{{}}
	}
	var all [][]int
	for _, p := range permutations(n - 1) {
		for i := range len(p) + 1 {
			all = append(all, slices.Insert(slices.Clone(p), i, n-1))
		}
	}
	return all
}
