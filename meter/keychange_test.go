package meter_test

import (
	"fmt"
	"slices"
	"testing"

	"github.com/stskms/stskms/meter"
	"github.com/stskms/stskms/sts"
)

// keyChangeTokens issues the key change set of nk under c.
func keyChangeTokens(t testing.TB, c sts.Cipher, nk sts.NewKey) []string {
	t.Helper()
	set, err := sts.KeyChangeTokens(nk)
	if err != nil {
		t.Fatal(err)
	}
	digits := make([]string, len(set))
	for i, kc := range set {
		digits[i] = issue(t, c, kc)
	}
	return digits
}

// changeKey enters a key change set and checks its last section changes
// the key with the given outcome.
func (f *fixture) changeKey(nk sts.NewKey, want meter.Outcome) {
	f.t.Helper()
	set := keyChangeTokens(f.t, f.c, nk)
	for _, digits := range set[:len(set)-1] {
		if r := f.m.Enter(digits); r.Outcome.Rejected() {
			f.t.Fatalf("section rejected: %v", r.Outcome)
		}
	}
	f.enter(set[len(set)-1], want)
}

func TestKeyTypeChanges(t *testing.T) {
	tests := []struct {
		from, to sts.KeyType
		want     meter.Outcome
	}{
		{sts.DITK, sts.DDTK, meter.KeyChanged},
		{sts.DITK, sts.DUTK, meter.KeyChanged},
		{sts.DITK, sts.DCTK, meter.KeyChanged},
		{sts.DUTK, sts.DUTK, meter.KeyChanged},
		{sts.DUTK, sts.DDTK, meter.KeyChanged},
		{sts.DCTK, sts.DCTK, meter.KeyChanged},
		{sts.DDTK, sts.DUTK, meter.KeyChanged},
		{sts.DDTK, sts.DCTK, meter.KeyChanged},
		{sts.DDTK, sts.DDTK, meter.KeyChanged},
		{sts.DITK, sts.DITK, meter.KeyTypeError},
		{sts.DUTK, sts.DITK, meter.KeyTypeError},
		{sts.DDTK, sts.DITK, meter.KeyTypeError},
		{sts.DCTK, sts.DITK, meter.KeyTypeError},
		{sts.DUTK, sts.DCTK, meter.KeyTypeError},
		{sts.DCTK, sts.DUTK, meter.KeyTypeError},
		{sts.DCTK, sts.DDTK, meter.KeyTypeError},
	}
	for _, tt := range tests {
		t.Run(fmt.Sprintf("%v→%v", tt.from, tt.to), func(t *testing.T) {
			f := newFixture(t, func(c *meter.Config) { c.KeyType = tt.from })
			f.changeKey(sts.NewKey{Key: otherKey, KeyType: tt.to, KRN: 2, KEN: 255}, tt.want)
			if got := f.m.KeyInfo().KeyType; tt.want == meter.KeyChanged && got != tt.to {
				t.Errorf("key type %v, want %v", got, tt.to)
			}
		})
	}
}

func TestRollover(t *testing.T) {
	tests := []struct {
		from, to sts.BaseDate
		want     meter.Outcome
	}{
		{sts.BaseDate1993, sts.BaseDate2014, meter.KeyChanged},
		{sts.BaseDate2014, sts.BaseDate2035, meter.KeyChanged},
		{sts.BaseDate2035, sts.BaseDate2035, meter.RangeError},
	}
	for _, tt := range tests {
		t.Run(fmt.Sprint(tt.from), func(t *testing.T) {
			f := newFixture(t, func(c *meter.Config) { c.BaseDate = tt.from })
			f.enter(f.issue(electricity(t, 5000, 10)), meter.Accepted)
			f.changeKey(sts.NewKey{Key: otherKey, KeyType: sts.DUTK, KRN: 2, KEN: 255, Rollover: true}, tt.want)
			if got := f.m.KeyInfo().BaseDate; got != tt.to {
				t.Errorf("base date %v, want %v", got, tt.to)
			}
			if tids := f.m.TIDs(); tt.want == meter.KeyChanged && len(tids) != 0 {
				t.Errorf("TIDs %v after rollover, want none", tids)
			}
		})
	}
}

// TestKeyChange64 changes a 64-bit DES key: two sections, the supply group
// code is kept, a 4th section is a function this meter lacks, and a 3rd
// staged beside a 1st without the three-token flag is left out of the set.
func TestKeyChange64(t *testing.T) {
	f := newFixture(t, func(c *meter.Config) { c.EA, c.Key = sts.EA09, desKey })
	f.enter(f.issue(sts.KeyChange{Sub: sts.DecoderKey4}), meter.FunctionError)
	f.enter(f.issue(sts.KeyChange{Sub: sts.DecoderKey3, KeyPart: 42 << 20}), meter.ThirdKCTEntered)

	newKey := []byte{1, 2, 3, 4, 5, 6, 7, 8}
	f.changeKey(sts.NewKey{Key: newKey, KeyType: sts.DUTK, KRN: 3, TI: 7, KEN: 0x80, SGC: 999}, meter.KeyChanged)
	want := keyInfo(testConfig())
	want.EA, want.KRN, want.TI, want.KEN = sts.EA09, 3, 7, 0x80
	if got := f.m.KeyInfo(); got != want {
		t.Errorf("key %+v, want %+v", got, want)
	}
	enter(t, f.m, issue(t, newCipher(t, sts.EA09, newKey, nil), electricity(t, 200, 10)), meter.Accepted)
}

// TestKeyChange64ThreeTokens enters a 64-bit three-token set (1st section
// with the three-token flag, 3rd token carrying the SGC) in every order:
// the key changes at the last token, SGC included, and credit under the new
// key is accepted. A flagged set without its 3rd token stays staged; a 3rd
// token with bits 16..35 set is refused when it completes the set.
func TestKeyChange64ThreeTokens(t *testing.T) {
	newKey := []byte{1, 2, 3, 4, 5, 6, 7, 8}
	nk := sts.NewKey{Key: newKey, KeyType: sts.DUTK, KRN: 3, TI: 7, KEN: 0x80, SGC: 654321, ThreeTokens: true}
	des := func(c *meter.Config) { c.EA, c.Key = sts.EA09, desKey }
	for _, order := range permutations(3) {
		t.Run(fmt.Sprint(order), func(t *testing.T) {
			f := newFixture(t, des)
			set := keyChangeTokens(t, f.c, nk)
			for i, section := range order {
				want := meter.KeyChanged
				if i < len(order)-1 {
					want = sectionEntered[section]
				}
				f.enter(set[section], want)
			}
			want := keyInfo(testConfig())
			want.EA, want.KRN, want.TI, want.KEN, want.SGC = sts.EA09, 3, 7, 0x80, 654321
			if got := f.m.KeyInfo(); got != want {
				t.Errorf("key %+v, want %+v", got, want)
			}
			enter(t, f.m, issue(t, newCipher(t, sts.EA09, newKey, nil), electricity(t, 200, 10)), meter.Accepted)
		})
	}
	t.Run("without its 3rd token", func(t *testing.T) {
		f := newFixture(t, des)
		set := keyChangeTokens(t, f.c, nk)
		f.enter(set[0], meter.FirstKCTEntered)
		f.enter(set[1], meter.SecondKCTEntered)
		if got := f.m.KeyInfo().KRN; got != 1 {
			t.Errorf("KRN %d after two tokens of a three-token set, want 1", got)
		}
	})
	t.Run("3rd token with bits 16..35 set", func(t *testing.T) {
		f := newFixture(t, des)
		set := keyChangeTokens(t, f.c, nk)
		f.enter(set[0], meter.FirstKCTEntered)
		f.enter(set[1], meter.SecondKCTEntered)
		f.enter(f.issue(sts.KeyChange{Sub: sts.DecoderKey3, KeyPart: 1}), meter.RangeError)
		f.enter(set[2], meter.KeyChanged)
	})
	t.Run("flag in a 128-bit set", func(t *testing.T) {
		f := newFixture(t, nil)
		set := keyChangeTokens(t, f.c, sts.NewKey{Key: otherKey, KeyType: sts.DUTK, KRN: 2, KEN: 255})
		first := f.issue(sts.KeyChange{Sub: sts.DecoderKey1, KeyType: sts.DUTK, KRN: 2, KENHigh: 0xF,
			KeyPart: 0xffeeddcc, ThreeTokens: true})
		for _, digits := range []string{first, set[1], set[2]} {
			f.m.Enter(digits)
		}
		f.enter(set[3], meter.RangeError)
	})
}

// entry is one token entered and the outcome it must have.
type entry struct {
	digits string
	want   meter.Outcome
}

// TestKeyChangeStaging checks what happens to staged sections.
func TestKeyChangeStaging(t *testing.T) {
	setA := sts.NewKey{Key: otherKey, KeyType: sts.DUTK, KRN: 2, KEN: 255}
	setB := sts.NewKey{Key: testKey, KeyType: sts.DUTK, KRN: 3, KEN: 255}
	const (
		first, second, third, fourth = meter.FirstKCTEntered, meter.SecondKCTEntered, meter.ThirdKCTEntered, meter.FourthKCTEntered
		changed                      = meter.KeyChanged
	)
	tests := []struct {
		name    string
		entries func(f *fixture, a, b []string) []entry
		krn     uint8 // KRN of the key the meter ends with
	}{
		{"re-entered section replaces the staged one", func(_ *fixture, a, b []string) []entry {
			return []entry{{a[0], first}, {b[0], first}, {b[1], second}, {b[2], third}, {b[3], changed}}
		}, 3},
		{"repeated section stays staged", func(_ *fixture, a, _ []string) []entry {
			return []entry{{a[3], fourth}, {a[3], fourth}, {a[0], first}, {a[1], second}, {a[2], changed}}
		}, 2},
		{"accepted token discards staged sections", func(f *fixture, a, _ []string) []entry {
			return []entry{{a[0], first}, {a[1], second}, {a[2], third},
				{f.issue(electricity(f.t, 200, 10)), meter.Accepted}, {a[3], fourth}}
		}, 1},
		{"rejected token keeps staged sections", func(f *fixture, a, _ []string) []entry {
			return []entry{{a[0], first}, {a[1], second}, {f.issue(electricity(f.t, 100, 10)), meter.UsedError},
				{"1234", meter.FormatError}, {a[2], third}, {a[3], changed}}
		}, 2},
		{"rejected set stays staged", func(f *fixture, a, _ []string) []entry {
			toDITK := keyChangeTokens(f.t, f.c, sts.NewKey{Key: otherKey, KeyType: sts.DITK, KEN: 255})
			return []entry{{a[0], first}, {a[1], second}, {a[2], third}, {toDITK[0], first},
				{a[3], meter.KeyTypeError}, {a[0], first}, {a[3], changed}}
		}, 2},
		{"key change tokens are not remembered", func(f *fixture, _, _ []string) []entry {
			f.changeKey(setA, changed)
			if got := f.m.TIDs(); !slices.Equal(got, []uint32{100}) {
				f.t.Errorf("TIDs %v, want [100]", got)
			}
			return nil
		}, 2},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := newFixture(t, nil)
			for _, e := range tt.entries(f, keyChangeTokens(t, f.c, setA), keyChangeTokens(t, f.c, setB)) {
				f.enter(e.digits, e.want)
			}
			if got := f.m.KeyInfo().KRN; got != tt.krn {
				t.Errorf("KRN %d, want %d", got, tt.krn)
			}
		})
	}
}
