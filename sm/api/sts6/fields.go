package sts6

import (
	"math/big"
	"strconv"
	"strings"

	"github.com/stskms/stskms/sm"
	"github.com/stskms/stskms/sts"
)

// reader takes the fields of a query in order. The first problem is kept
// (and later calls do nothing): a missing field is status 60, a field of
// the wrong type 61, a value out of range 63.
type reader struct {
	f   []Field
	i   int
	err *Error
}

// next returns the next field if it has type typ.
func (r *reader) next(name string, typ byte) (string, bool) {
	if r.err != nil {
		return "", false
	}
	if r.i >= len(r.f) {
		r.err = ferr(CodeFieldCount, "field %d (%s) is missing", r.i+1, name)
		return "", false
	}
	f := r.f[r.i]
	r.i++
	if f.Type != typ {
		r.err = ferr(CodeFieldType, "field %d (%s) has type %c, want %c", r.i, name, f.Type, typ)
		return "", false
	}
	return f.Value, true
}

// num reads an N field of at most max.
func (r *reader) num(name string, max uint64) uint64 {
	v, ok := r.next(name, 'N')
	if !ok {
		return 0
	}
	n, err := strconv.ParseUint(v, 10, 64)
	if err != nil || n > max {
		r.err = ferr(CodeFieldRange, "field %d (%s) is out of range 0..%d", r.i, name, max)
		return 0
	}
	return n
}

// rangeNum reads an N field in lo..hi.
func (r *reader) rangeNum(name string, lo, hi uint64) uint64 {
	n := r.num(name, hi)
	if r.err == nil && n < lo {
		r.err = ferr(CodeFieldRange, "field %d (%s) is out of range %d..%d", r.i, name, lo, hi)
	}
	return n
}

// flag reads an N field of 0 or 1.
func (r *reader) flag(name string) bool { return r.num(name, 1) == 1 }

// text reads a P field of 1 to max bytes.
func (r *reader) text(name string, max int) string {
	v, ok := r.next(name, 'P')
	if ok && (v == "" || len(v) > max) {
		r.err = ferr(CodeFieldRange, "field %d (%s) has %d characters (1 to %d)", r.i, name, len(v), max)
	}
	return v
}

// hex reads an H field of exactly n hex digits.
func (r *reader) hex(name string, n int) string {
	v, ok := r.next(name, 'H')
	if ok && len(v) != n {
		r.err = ferr(CodeFieldRange, "field %d (%s) has %d hex digits, want %d", r.i, name, len(v), n)
	}
	return v
}

// more reports whether another field follows.
func (r *reader) more() bool { return r.err == nil && r.i < len(r.f) }

// optText reads a trailing optional P field ("" if absent).
func (r *reader) optText(name string, max int) string {
	if !r.more() {
		return ""
	}
	return r.text(name, max)
}

// done checks that no field is left and returns the first problem.
func (r *reader) done() error {
	if r.err == nil && r.i < len(r.f) {
		r.err = ferr(CodeFieldCount, "%d fields, at most %d expected", len(r.f), r.i)
	}
	if r.err != nil {
		return r.err
	}
	return nil
}

// register reads the three fields naming a register: SGC, KRN, KT.
func (r *reader) register() sm.RegisterKey {
	sgc := r.num("SGC", sts.MaxSGC)
	krn := r.rangeNum("KRN", sts.MinKRN, sts.MaxKRN)
	kt := r.num("KT", uint64(sts.DCTK))
	return sm.RegisterKey{SGC: uint32(sgc), KRN: uint8(krn), KT: sts.KeyType(kt)}
}

// meter reads the meter block: register (SGC, KRN, KT), PAN, TI.
func (r *reader) meter() sm.MeterKey {
	k := r.register()
	v, ok := r.next("PAN", 'N')
	var pan sts.PAN
	if ok {
		var err error
		if pan, err = sts.ParsePAN(v); err != nil {
			r.err = ferr(CodeFieldRange, "field %d (PAN): %v", r.i, err)
		}
	}
	ti := r.num("TI", sts.MaxTI)
	return sm.MeterKey{PAN: pan, TI: uint8(ti), RegisterKey: k}
}

// currency reads the amount of a currency credit: a P field holding a
// signed decimal integer of units of 0.00001 of the currency.
func (r *reader) currency(name string) *big.Int {
	v := r.text(name, 40)
	if r.err != nil {
		return nil
	}
	n, ok := new(big.Int).SetString(v, 10)
	if !ok || strings.HasPrefix(v, "+") {
		r.err = ferr(CodeFieldRange, "field %d (%s) %q is not a signed decimal integer", r.i, name, v)
		return nil
	}
	return n
}
