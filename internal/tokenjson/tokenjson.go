// Package tokenjson is the one JSON vocabulary of a decoded STS token:
// the snake_case member names (tid, rnd, amount, …) that `stskms token
// decode --json`, `stskms sm vend verify` and the module's API (POST
// /v1/verify, SM?VT) all print, so that a token reads the same wherever
// it is shown. docs/sm-api.yaml types it as DecodedToken.
package tokenjson

import (
	"bytes"
	"encoding/hex"
	"encoding/json"
	"fmt"

	"github.com/stskms/stskms/sts"
)

// Field is one named value of a decoded token.
type Field struct {
	Name  string
	Value any
}

// Fields is an ordered list of fields; it prints as a JSON object in order.
type Fields []Field

// MarshalJSON prints the fields as one JSON object, in their order.
func (fs Fields) MarshalJSON() ([]byte, error) {
	var buf bytes.Buffer
	buf.WriteByte('{')
	for i, f := range fs {
		if i > 0 {
			buf.WriteByte(',')
		}
		name, _ := json.Marshal(f.Name)
		value, err := json.Marshal(f.Value)
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

// Without returns the fields but the one named name.
func (fs Fields) Without(name string) Fields {
	out := make(Fields, 0, len(fs))
	for _, f := range fs {
		if f.Name != name {
			out = append(out, f)
		}
	}
	return out
}

// Tenths is a quantity in tenths that prints as a JSON number with one
// decimal, e.g. 25.6.
type Tenths uint64

// String returns e.g. "25.6".
func (d Tenths) String() string { return fmt.Sprintf("%d.%d", d/10, d%10) }

// MarshalJSON prints the quantity as a JSON number, e.g. 25.6.
func (d Tenths) MarshalJSON() ([]byte, error) { return []byte(d.String()), nil }

// Currency is a currency amount that prints as a signed JSON number of
// currency units with five decimals, e.g. -0.99994.
type Currency sts.CurrencyAmount

// String returns e.g. "-0.99994".
func (d Currency) String() string { return sts.CurrencyAmount(d).String() }

// MarshalJSON prints the amount as a JSON number, e.g. -0.99994.
func (d Currency) MarshalJSON() ([]byte, error) { return []byte(d.String()), nil }

// Of lists the token's fields, always with tid and rnd (null when the
// token has none). A key change section's key_part is part of a new
// decoder key: a caller that must not show it drops it (Without).
func Of(tok sts.Token) Fields {
	switch t := tok.(type) {
	case sts.Credit:
		return Fields{{"tid", t.TID}, {"rnd", t.RND}, {"amount", Tenths(t.Amount.Value())}}
	case sts.CurrencyCredit:
		return Fields{{"tid", t.TID}, {"rnd", nil}, {"amount", Currency(t.Amount)}}
	case sts.Management:
		return Fields{{"tid", t.TID}, {"rnd", t.RND}, managementValue(t)}
	case sts.Test:
		return Fields{{"tid", nil}, {"rnd", nil}, {"mfr", t.MfrCode}, {"control", t.Control}}
	case sts.KeyChange:
		return append(Fields{{"tid", nil}, {"rnd", nil}, {"section", t.Section()}}, keyChangeFields(t)...)
	}
	return Fields{{"tid", nil}, {"rnd", nil}}
}

func managementValue(t sts.Management) Field {
	switch t.Sub {
	case sts.MaximumPowerLimit:
		return Field{"mpl", sts.Amount(t.Value).Value()}
	case sts.MaximumPhasePowerUnbalanceLimit:
		return Field{"mppul", sts.Amount(t.Value).Value()}
	case sts.ClearCredit:
		return Field{"register", t.Value}
	case sts.TariffRate:
		return Field{"rate", t.Value}
	case sts.ClearTamper:
		return Field{"pad", t.Value}
	}
	return Field{"wmf", t.Value}
}

// keyChangeFields lists a key change section's fields.
func keyChangeFields(t sts.KeyChange) Fields {
	part := hex.EncodeToString([]byte{byte(t.KeyPart >> 24), byte(t.KeyPart >> 16), byte(t.KeyPart >> 8), byte(t.KeyPart)})
	fs := Fields{{"key_part", part}}
	switch t.Sub {
	case sts.DecoderKey1:
		rollover := 0
		if t.Rollover {
			rollover = 1
		}
		return append(fs, Field{"kt", uint8(t.KeyType)}, Field{"krn", t.KRN}, Field{"ken_high", t.KENHigh}, Field{"rollover", rollover})
	case sts.DecoderKey2:
		return append(fs, Field{"ti", t.TI}, Field{"ken_low", t.KENLow})
	}
	return append(fs, Field{"sgc_part", t.SGCPart})
}
