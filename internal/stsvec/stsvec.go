// Package stsvec reads the project's token vector files (sts/testdata) and
// turns a vector's inputs into engine values. It exists for tests: the token
// engine, the meter simulator and the CLI are all driven by the same
// vectors.
package stsvec

import (
	"encoding/hex"
	"fmt"
	"math/big"
	"strconv"

	"github.com/stskms/stskms/sts"
	"github.com/stskms/stskms/sts/dkga"
	"github.com/stskms/stskms/sts/sta"
)

// Vector is one known-answer vector: its provenance, inputs and expected
// outputs, as in sts/testdata/VECTORS.md.
type Vector struct {
	ID       string   `json:"id"`
	Source   string   `json:"source"`
	Kind     string   `json:"kind"`
	Suite    string   `json:"suite"`
	Inputs   Inputs   `json:"inputs"`
	Expected Expected `json:"expected"`
	// Notes on how the inputs were read off the source, and Needs, what
	// the vector needs to run (such as the production STA tables): prose.
	Notes []string `json:"notes"`
	Needs string   `json:"needs"`
}

// Inputs are a vector's inputs; which are present depends on its kind.
type Inputs struct {
	Class         sts.Class    `json:"class"`
	Subclass      sts.Subclass `json:"subclass"`
	VendingKeyHex string       `json:"vending_key_hex"`
	DKGA          string       `json:"dkga"`
	EA            string       `json:"ea"`
	KeyType       sts.KeyType  `json:"key_type"`
	SGC           string       `json:"sgc"`
	TI            string       `json:"ti"`
	KRN           uint8        `json:"krn"`
	KEN           uint8        `json:"ken"`
	IIN           string       `json:"iin"`
	DRN           string       `json:"drn"`
	PAN           string       `json:"pan"`
	BaseDate      int          `json:"base_date"`
	IssueUTC      string       `json:"issue_utc"`
	TIDBaseDate   int          `json:"tid_base_date"`
	TID           uint32       `json:"tid"`
	RND           uint8        `json:"rnd"`
	AmountTenths  uint64       `json:"amount_tenths"`
	CurrencyUnits string       `json:"currency_units"` // currency credit, in 0.00001 units (decimal integer)
	MPL           uint64       `json:"mpl"`
	MPLFieldHex   string       `json:"mpl_field_hex"`
	MPPUL         uint64       `json:"mppul"`
	MPPULFieldHex string       `json:"mppul_field_hex"`
	Register      uint16       `json:"register"`
	Pad           uint16       `json:"pad"`
	MfrCode       uint16       `json:"mfr_code"`
	Control       uint64       `json:"control"`

	Section          int         `json:"section"`
	Rollover         int         `json:"rollover"`
	NewVendingKeyHex string      `json:"new_vending_key_hex"`
	NewKeyType       sts.KeyType `json:"new_key_type"`
	NewKRN           uint8       `json:"new_krn"`
	NewTI            string      `json:"new_ti"`
	NewBaseDate      int         `json:"new_base_date"`
	NewSGC           string      `json:"new_sgc"`
	NewKEN           uint8       `json:"new_ken"`

	// Inputs as the source states them, kept for provenance: the amount
	// in NJ's units, fields as digit or bit strings, the TID without NJ's
	// quirk, the key in NJ's byte order, a CRC input, settings of a
	// management token, the decoded value, a description; and whether a
	// key change set is a 64-bit three-token set. A source that gives the
	// decoder key rather than a vending key has it (and a key change's new
	// key) in canonical order.
	AmountUnitsNJ            float64 `json:"amount_units_nj"`
	MfrCodeDigits            string  `json:"mfr_code_digits"`
	ControlBits              int     `json:"control_bits"`
	TIDWithoutNJQuirk        uint32  `json:"tid_without_nj_quirk"`
	DecoderKeyNectarOrderHex string  `json:"decoder_key_nectar_order_hex"`
	CRCInputHex              string  `json:"crc_input_hex"`
	TariffRate               uint16  `json:"tariff_rate"`
	WMF                      uint16  `json:"wmf"`
	CurrencyAmount           string  `json:"currency_amount"`
	ValueHex                 string  `json:"value_hex"`
	Description              string  `json:"description"`
	ThreeTokens              bool    `json:"three_tokens"`
	DecoderKeyHex            string  `json:"decoder_key_hex"`
	NewDecoderKeyHex         string  `json:"new_decoder_key_hex"`
}

// Expected are a vector's expected outputs.
type Expected struct {
	Token20          string `json:"token20"`
	DecoderKeyHex    string `json:"decoder_key_hex"`
	NewDecoderKeyHex string `json:"new_decoder_key_hex"`
	CRC16Bits        string `json:"crc16_bits"`
	// Tokens20 is the digits of a key change set, in section order.
	Tokens20 []string `json:"tokens20"`
	// The decoder keys in NJ's byte order, as the source prints them.
	DecoderKeyNectarOrderHex    string `json:"decoder_key_nectar_order_hex"`
	NewDecoderKeyNectarOrderHex string `json:"new_decoder_key_nectar_order_hex"`
}

// Keyed reports whether the vector needs a decoder key (every class but 1).
func (v *Vector) Keyed() bool { return v.Inputs.VendingKeyHex != "" }

// EA returns the vector's encryption algorithm.
func (v *Vector) EA() sts.EA {
	if v.Inputs.EA == "MISTY1" {
		return sts.EA11
	}
	return sts.EA07
}

// DecoderKey derives the meter's current decoder key from the inputs.
func (v *Vector) DecoderKey() ([]byte, error) {
	in := &v.Inputs
	return v.derive(in.VendingKeyHex, in.KeyType, in.SGC, in.TI, in.KRN, in.BaseDate)
}

// NewDecoderKey derives the new key of a key change vector.
func (v *Vector) NewDecoderKey() ([]byte, error) {
	in := &v.Inputs
	return v.derive(in.NewVendingKeyHex, in.NewKeyType, in.NewSGC, in.NewTI, in.NewKRN, in.NewBaseDate)
}

func (v *Vector) derive(vkHex string, kt sts.KeyType, sgc, ti string, krn uint8, baseDate int) ([]byte, error) {
	vk, err := hex.DecodeString(vkHex)
	if err != nil {
		return nil, err
	}
	alg, err := dkga.ParseAlgorithm(v.Inputs.DKGA)
	if err != nil {
		return nil, err
	}
	g, err := dkga.New(alg, vk)
	if err != nil {
		return nil, err
	}
	pan, err := sts.NewPAN(v.Inputs.IIN, v.Inputs.DRN)
	if err != nil {
		return nil, err
	}
	if v.Inputs.PAN != "" && v.Inputs.PAN != pan.String() {
		return nil, fmt.Errorf("PAN %s built from IIN and DRN, vector says %s", pan, v.Inputs.PAN)
	}
	bd, err := sts.ParseBaseDate(baseDate)
	if err != nil {
		return nil, err
	}
	return g.DecoderKey(dkga.Params{
		KeyType: kt, SGC: uint32(atoi(sgc)), TI: uint8(atoi(ti)), KRN: krn,
		PAN: pan, BaseDate: bd, EA: v.EA(),
	})
}

// Cipher returns the cipher of the vector's current decoder key; tables are
// the STA tables for EA07 vectors.
func (v *Vector) Cipher(tables *sta.Tables) (sts.Cipher, error) {
	if !v.Keyed() {
		return nil, nil
	}
	dk, err := v.DecoderKey()
	if err != nil {
		return nil, err
	}
	return sts.NewCipher(v.EA(), dk, tables)
}

// Token builds the token the vector describes: for a class 0 vector with
// currency_units an sts.CurrencyCredit (whose Encode refuses the reserved
// currency subclasses 5..7).
func (v *Vector) Token() (sts.Token, error) {
	in := &v.Inputs
	switch {
	case in.Class == sts.ClassTest:
		return sts.Test{Sub: in.Subclass, MfrCode: in.MfrCode, Control: in.Control}, nil
	case in.Class == sts.ClassCredit && in.CurrencyUnits != "":
		units, ok := new(big.Int).SetString(in.CurrencyUnits, 10)
		if !ok {
			return nil, fmt.Errorf("currency_units %q is not an integer", in.CurrencyUnits)
		}
		a, err := sts.EncodeCurrencyAmount(units)
		return sts.CurrencyCredit{Sub: in.Subclass, TID: in.TID, Amount: a}, err
	case in.Class == sts.ClassCredit:
		a, err := sts.EncodeAmount(in.AmountTenths)
		return sts.Credit{Sub: in.Subclass, TID: in.TID, RND: in.RND, Amount: a}, err
	case in.Section != 0:
		return v.keyChange()
	}
	value, err := v.managementValue()
	return sts.Management{Sub: in.Subclass, TID: in.TID, RND: in.RND, Value: value}, err
}

func (v *Vector) managementValue() (uint16, error) {
	in := &v.Inputs
	switch in.Subclass {
	case sts.MaximumPowerLimit:
		return encodedField(in.MPL, in.MPLFieldHex)
	case sts.MaximumPhasePowerUnbalanceLimit:
		return encodedField(in.MPPUL, in.MPPULFieldHex)
	case sts.ClearCredit:
		return in.Register, nil
	case sts.ClearTamper:
		return in.Pad, nil
	}
	return 0, fmt.Errorf("no value for class 2 subclass %d", in.Subclass)
}

// encodedField encodes watts like an amount and checks the vector's field.
func encodedField(watts uint64, fieldHex string) (uint16, error) {
	a, err := sts.EncodeAmount(watts)
	if err != nil {
		return 0, err
	}
	if want, _ := strconv.ParseUint(fieldHex, 16, 16); fieldHex != "" && uint64(a) != want {
		return 0, fmt.Errorf("%d W encodes as %04x, vector field is %s", watts, uint16(a), fieldHex)
	}
	return uint16(a), nil
}

func (v *Vector) keyChange() (sts.Token, error) {
	in := &v.Inputs
	nk, err := v.NewDecoderKey()
	if err != nil {
		return nil, err
	}
	set, err := sts.KeyChangeTokens(sts.NewKey{
		Key: nk, KeyType: in.NewKeyType, KRN: in.NewKRN, TI: uint8(atoi(in.NewTI)),
		KEN: in.NewKEN, Rollover: in.Rollover == 1, SGC: uint32(atoi(in.NewSGC)),
	})
	if err != nil {
		return nil, err
	}
	for _, t := range set {
		if t.Section() == in.Section {
			return t, nil
		}
	}
	return nil, fmt.Errorf("no section %d in a %d-token set", in.Section, len(set))
}

func atoi(s string) int {
	n, _ := strconv.Atoi(s)
	return n
}
