package meter

import (
	"slices"

	"github.com/stskms/stskms/sts"
)

// keyChange stages a key change section (already decrypted and CRC-checked
// under the current key) and, once the set is complete, installs the new
// key. Key change tokens carry no TID and are not checked against the TID
// memory or the key expiry number.
func (m *Meter) keyChange(t sts.KeyChange) Result {
	keySize := m.key.info.EA.KeySize()
	if t.Section() > maxSections(keySize) {
		return Result{Outcome: FunctionError}
	}
	staged := stage(m.staged, t)
	set := completeSet(keySize, staged)
	if set == nil {
		m.staged = staged
		return Result{Outcome: sectionEntered[t.Section()]}
	}
	nk, err := sts.AssembleKey(keySize, set)
	if err != nil {
		return Result{Outcome: outcomeOf(err)}
	}
	defer clear(nk.Key)
	return m.install(nk)
}

// maxSections is the highest key change section a meter with keys of
// keySize bytes takes: 4 for 128 bits; 3 for 64 bits, whose three-token
// sets (1st section with sts.KeyChange.ThreeTokens) have a 3rd token
// carrying the supply group code.
func maxSections(keySize int) int {
	if keySize == 8 {
		return 3
	}
	return 4
}

// completeSet returns the sections of a complete set among the staged
// ones, or nil while the set is incomplete. A 128-bit set is complete with
// its four sections. A 64-bit set is complete with its 1st and 2nd
// sections, and also needs the 3rd when the 1st has the three-token flag;
// a 3rd section staged beside a 1st without the flag belongs to no set and
// is left out (and discarded with the staged sections when the key
// changes).
func completeSet(keySize int, staged []sts.KeyChange) []sts.KeyChange {
	var got [5]*sts.KeyChange
	for i := range staged {
		got[staged[i].Section()] = &staged[i]
	}
	want := 4
	if keySize == 8 {
		want = 2
		if got[1] != nil && got[1].ThreeTokens {
			want = 3
		}
	}
	set := make([]sts.KeyChange, 0, want)
	for _, s := range got[1 : want+1] {
		if s == nil {
			return nil
		}
		set = append(set, *s)
	}
	return set
}

// stage returns the staged sections with t added in place of an earlier
// entry of the same section. It leaves staged as it is.
func stage(staged []sts.KeyChange, t sts.KeyChange) []sts.KeyChange {
	next := slices.DeleteFunc(slices.Clone(staged), func(s sts.KeyChange) bool { return s.Sub == t.Sub })
	return append(next, t)
}

// install switches to the key of a complete key change set, or rejects the
// set without changing anything.
//
// Rollover: IEC 62055-41 says a set with the rollover bit resets the TID
// memory and goes with a change of base date, but how a meter learns the
// new base date is not public. Our rule: the meter moves to the next base
// date (1993 → 2014 → 2035); a rollover from 2035 is a RangeError.
func (m *Meter) install(nk sts.NewKey) Result {
	info := m.key.info
	if !sts.KeyChangeAllowed(info.KeyType, nk.KeyType) { // IEC 62055-41 §6.5
		return Result{Outcome: KeyTypeError}
	}
	if nk.Rollover {
		next, ok := nextBaseDate(info.BaseDate)
		if !ok {
			return Result{Outcome: RangeError}
		}
		info.BaseDate = next
	}
	c, err := sts.NewCipher(info.EA, nk.Key, m.tables)
	if err != nil {
		return Result{Outcome: outcomeOf(err)}
	}
	info.KeyType, info.KRN, info.TI, info.KEN = nk.KeyType, nk.KRN, nk.TI, nk.KEN
	if len(nk.Key) == 16 || nk.ThreeTokens { // the sets that carry the SGC
		info.SGC = nk.SGC
	}
	if nk.Rollover {
		m.tids.reset()
	}
	m.key = decoderKey{info: info, cipher: c}
	m.staged = nil
	return Result{Outcome: KeyChanged}
}

// nextBaseDate returns the base date after b, if there is one.
func nextBaseDate(b sts.BaseDate) (sts.BaseDate, bool) {
	switch b {
	case sts.BaseDate1993:
		return sts.BaseDate2014, true
	case sts.BaseDate2014:
		return sts.BaseDate2035, true
	}
	return 0, false
}
