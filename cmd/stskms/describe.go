package main

import (
	"bytes"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"strings"

	"github.com/stskms/stskms/sts"
)

// field is one named value of a decoded token.
type field struct {
	name  string
	value any
}

// fields is an ordered list of fields; it prints as a JSON object in order.
type fields []field

func (fs fields) MarshalJSON() ([]byte, error) {
	var buf bytes.Buffer
	buf.WriteByte('{')
	for i, f := range fs {
		if i > 0 {
			buf.WriteByte(',')
		}
		name, _ := json.Marshal(f.name)
		value, err := json.Marshal(f.value)
		if err != nil {
			return nil, err
		}
		buf.Write(name)
		buf.WriteByte(':')
		buf.Write(value)
	}
	buf.WriteByte('}')
	return buf.Bytes(), nil
}

// text renders the fields as "name=value" pairs on one line.
func (fs fields) text() string {
	parts := make([]string, 0, len(fs))
	for _, f := range fs {
		if f.value == nil {
			continue
		}
		v := fmt.Sprint(f.value)
		if s, ok := f.value.(string); ok && strings.ContainsRune(s, ' ') {
			v = fmt.Sprintf("%q", s)
		}
		parts = append(parts, f.name+"="+v)
	}
	return strings.Join(parts, " ")
}

// decimalTenths is a quantity in tenths that prints as a JSON number with
// one decimal, e.g. 25.6.
type decimalTenths uint64

func (d decimalTenths) String() string { return tenthsString(uint64(d)) }

func (d decimalTenths) MarshalJSON() ([]byte, error) { return []byte(d.String()), nil }

// decimalCurrency is a currency amount that prints as a signed JSON number
// of currency units with five decimals, e.g. -0.99994.
type decimalCurrency sts.CurrencyAmount

func (d decimalCurrency) String() string { return sts.CurrencyAmount(d).String() }

func (d decimalCurrency) MarshalJSON() ([]byte, error) { return []byte(d.String()), nil }

// describe lists the class, subclass, CRC verdict and every field of an
// opened token. The error is the token's verdict: nil, sts.ErrCRC, or why
// its fields do not parse.
func describe(b sts.Block) (fields, error) {
	fs := fields{{"class", uint8(b.Class)}, {"subclass", uint8(b.Subclass())}}
	if name, err := sts.SubclassName(b.Class, b.Subclass()); err == nil {
		fs = append(fs, field{"name", name})
	}
	crcOK := b.CRCValid()
	tok, err := b.Token()
	fs = append(fs, tokenFields(tok)...)
	fs = append(fs, field{"crc_ok", crcOK})
	if !crcOK {
		err = sts.ErrCRC // takes precedence: the fields of a wrong-key block are noise
	}
	if err != nil {
		fs = append(fs, field{"error", err.Error()})
	}
	return fs, err
}

// tokenFields lists the token's fields, always with tid and rnd (null when
// the token has none).
func tokenFields(tok sts.Token) fields {
	switch t := tok.(type) {
	case sts.Credit:
		return fields{{"tid", t.TID}, {"rnd", t.RND}, {"amount", decimalTenths(t.Amount.Value())}}
	case sts.CurrencyCredit:
		return fields{{"tid", t.TID}, {"rnd", nil}, {"amount", decimalCurrency(t.Amount)}}
	case sts.Management:
		return fields{{"tid", t.TID}, {"rnd", t.RND}, managementValue(t)}
	case sts.Test:
		return fields{{"tid", nil}, {"rnd", nil}, {"mfr", t.MfrCode}, {"control", t.Control}}
	case sts.KeyChange:
		return append(fields{{"tid", nil}, {"rnd", nil}, {"section", t.Section()}}, keyChangeFields(t)...)
	}
	return fields{{"tid", nil}, {"rnd", nil}}
}

func managementValue(t sts.Management) field {
	switch t.Sub {
	case sts.MaximumPowerLimit:
		return field{"mpl", sts.Amount(t.Value).Value()}
	case sts.MaximumPhasePowerUnbalanceLimit:
		return field{"mppul", sts.Amount(t.Value).Value()}
	case sts.ClearCredit:
		return field{"register", t.Value}
	case sts.TariffRate:
		return field{"rate", t.Value}
	case sts.ClearTamper:
		return field{"pad", t.Value}
	}
	return field{"wmf", t.Value}
}

// keyChangeFields lists a key change section's fields. The key part is
// part of a new decoder key: it is shown only because decode is run by
// whoever already holds the old key that protects it.
func keyChangeFields(t sts.KeyChange) fields {
	part := hex.EncodeToString([]byte{byte(t.KeyPart >> 24), byte(t.KeyPart >> 16), byte(t.KeyPart >> 8), byte(t.KeyPart)})
	fs := fields{{"key_part", part}}
	switch t.Sub {
	case sts.DecoderKey1:
		rollover := 0
		if t.Rollover {
			rollover = 1
		}
		return append(fs, field{"kt", uint8(t.KeyType)}, field{"krn", t.KRN}, field{"ken_high", t.KENHigh}, field{"rollover", rollover})
	case sts.DecoderKey2:
		return append(fs, field{"ti", t.TI}, field{"ken_low", t.KENLow})
	}
	return append(fs, field{"sgc_part", t.SGCPart})
}
