package main

import (
	"errors"
	"fmt"
	"strconv"

	"github.com/stskms/stskms/sts"
)

// digitsFlag is a flag whose value is a digit string of the standard's
// width — a supply group code, tariff index or key revision number — read
// by the sts parser of its field, never by strconv with base prefixes:
// "--sgc 012345" is supply group 012345, "--ti 08" tariff index 8, and
// "--sgc 60012" is refused (5 digits). The same parser reads the flag's
// environment variable and configuration setting (a TOML string "012345";
// a TOML integer cannot have a leading zero).
type digitsFlag struct {
	name  string
	parse func(string) (int, error)
	text  string // the digits given (or the default); "" if none
	v     int
}

// Set parses s with the field's parser.
func (f *digitsFlag) Set(s string) error {
	v, err := f.parse(s)
	if err != nil {
		return err
	}
	f.text, f.v = s, v
	return nil
}

// String returns the digits, "" when the flag has no value.
func (f *digitsFlag) String() string {
	if f == nil {
		return ""
	}
	return f.text
}

// given reports whether the flag has a value (given, or a default).
func (f *digitsFlag) given() bool { return f.text != "" }

// need returns the flag's value, or an error naming the flag if it has
// none.
func (f *digitsFlag) need() (int, error) {
	if !f.given() {
		return 0, usageError(fmt.Sprintf("give --%s", f.name))
	}
	return f.v, nil
}

// or returns the flag's value, or def if it has none.
func (f *digitsFlag) or(def int) int {
	if !f.given() {
		return def
	}
	return f.v
}

// digitsVar defines a digit flag on fs. def is its default digits ("" for
// none), which must satisfy parse.
func digitsVar(fs *flagSet, parse func(string) (int, error), name, def, usage string) *digitsFlag {
	f := &digitsFlag{name: name, parse: parse}
	if def != "" {
		if err := f.Set(def); err != nil {
			panic(fmt.Sprintf("flag --%s: default %q: %v", name, def, err))
		}
	}
	fs.Var(f, name, usage)
	return f
}

// sgcVar defines a supply group code flag: 6 decimal digits.
func sgcVar(fs *flagSet, name, def, usage string) *digitsFlag {
	return digitsVar(fs, func(s string) (int, error) { v, err := sts.ParseSGC(s); return int(v), err }, name, def, usage)
}

// tiVar defines a tariff index flag: 2 decimal digits.
func tiVar(fs *flagSet, name, def, usage string) *digitsFlag {
	return digitsVar(fs, func(s string) (int, error) { v, err := sts.ParseTI(s); return int(v), err }, name, def, usage)
}

// krnVar defines a key revision number flag: one decimal digit, 1 to 9.
func krnVar(fs *flagSet, name, def, usage string) *digitsFlag {
	return digitsVar(fs, func(s string) (int, error) { v, err := sts.ParseKRN(s); return int(v), err }, name, def, usage)
}

// keyTypeVar defines a key type flag: one decimal digit, 0 to 3.
func keyTypeVar(fs *flagSet, name, def, usage string) *digitsFlag {
	return digitsVar(fs, func(s string) (int, error) {
		if len(s) != 1 || s[0] < '0' || s[0] > '3' {
			return 0, &sts.DigitsError{Field: "KT", Rule: "1 decimal digit, 0 to 3", Value: s}
		}
		return strconv.Atoi(s)
	}, name, def, usage)
}

// decimal is a numeric flag read in base 10 only. The flag package's own
// numeric flags read with base prefixes ("010" is 8, "0x10" 16, "1_000"
// 1000); the methods below shadow them on flagSet, so every numeric flag
// of every command is decimal.
type decimal[T int | int64 | uint | uint64] struct{ p *T }

// Set parses s as a decimal number of T's range.
func (d decimal[T]) Set(s string) error {
	var v T
	bits := 64
	switch any(v).(type) {
	case int, uint:
		bits = strconv.IntSize
	}
	switch any(v).(type) {
	case int, int64:
		n, err := strconv.ParseInt(s, 10, bits)
		if err != nil {
			return decimalError(s, err)
		}
		*d.p = T(n)
	default:
		n, err := strconv.ParseUint(s, 10, bits)
		if err != nil {
			return decimalError(s, err)
		}
		*d.p = T(n)
	}
	return nil
}

func decimalError(s string, err error) error {
	if errors.Is(err, strconv.ErrRange) {
		return fmt.Errorf("%q is out of range", s)
	}
	return fmt.Errorf("%q is not a decimal number (digits only: no base prefix, no separators)", s)
}

// String returns the value in decimal.
func (d decimal[T]) String() string {
	if d.p == nil {
		return "0"
	}
	return fmt.Sprint(*d.p)
}

func decimalVar[T int | int64 | uint | uint64](fs *flagSet, p *T, name string, value T, usage string) {
	*p = value
	fs.FlagSet.Var(decimal[T]{p}, name, usage)
}

// newDecimal defines a decimal flag and returns where its value is kept.
func newDecimal[T int | int64 | uint | uint64](fs *flagSet, name string, value T, usage string) *T {
	p := new(T)
	decimalVar(fs, p, name, value, usage)
	return p
}

// IntVar defines a decimal int flag (see decimal).
func (fs *flagSet) IntVar(p *int, name string, value int, usage string) {
	decimalVar(fs, p, name, value, usage)
}

// Int defines a decimal int flag (see decimal).
func (fs *flagSet) Int(name string, value int, usage string) *int {
	return newDecimal(fs, name, value, usage)
}

// Int64Var defines a decimal int64 flag (see decimal).
func (fs *flagSet) Int64Var(p *int64, name string, value int64, usage string) {
	decimalVar(fs, p, name, value, usage)
}

// Int64 defines a decimal int64 flag (see decimal).
func (fs *flagSet) Int64(name string, value int64, usage string) *int64 {
	return newDecimal(fs, name, value, usage)
}

// UintVar defines a decimal uint flag (see decimal).
func (fs *flagSet) UintVar(p *uint, name string, value uint, usage string) {
	decimalVar(fs, p, name, value, usage)
}

// Uint defines a decimal uint flag (see decimal).
func (fs *flagSet) Uint(name string, value uint, usage string) *uint {
	return newDecimal(fs, name, value, usage)
}

// Uint64Var defines a decimal uint64 flag (see decimal).
func (fs *flagSet) Uint64Var(p *uint64, name string, value uint64, usage string) {
	decimalVar(fs, p, name, value, usage)
}

// Uint64 defines a decimal uint64 flag (see decimal).
func (fs *flagSet) Uint64(name string, value uint64, usage string) *uint64 {
	return newDecimal(fs, name, value, usage)
}
