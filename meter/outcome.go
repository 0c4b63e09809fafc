package meter

import (
	"fmt"
	"math/big"

	"github.com/stskms/stskms/sts"
)

// Outcome is what the meter made of a token. Code gives the status number
// of the decoder status table (meter-and-key-rules.md §B.8, after the
// Conlog BEC62 "STS token result" register).
type Outcome uint8

// Outcomes that accept the token, then the rejections in the order of
// their codes.
const (
	// Accepted: the token was applied (code 1).
	Accepted Outcome = iota + 1
	// KeyChanged: the last section of a key change set was entered and the
	// new key is installed (code 1, Accept).
	KeyChanged
	// FirstKCTEntered: the 1st section of a key change set is staged, the
	// set is not complete (code 2, "1stKCT entered").
	FirstKCTEntered
	// SecondKCTEntered: the 2nd section is staged (code 3, "2ndKCT entered").
	SecondKCTEntered
	// ThirdKCTEntered: the 3rd section of a 128-bit set, or the 3rd token
	// of a 64-bit three-token set, is staged. The status table predates
	// these sets and has codes for the 1st and 2nd section only; a later
	// section reports code 3 like the 2nd.
	ThirdKCTEntered
	// FourthKCTEntered: the 4th section of a 128-bit set is staged
	// (code 3, as ThirdKCTEntered).
	FourthKCTEntered

	// OverflowError: the credit register would exceed its limit, or a
	// currency debit would take a currency register below zero (code 4).
	OverflowError
	// KeyTypeError: the key change set would make an illegal key type
	// change (code 5).
	KeyTypeError
	// FormatError: not 20 decimal digits, or 2^66 or more (code 6).
	FormatError
	// RangeError: a field is out of range, such as an unknown register,
	// or a rollover past the last base date (code 7).
	RangeError
	// FunctionError: a reserved class or subclass, or one this meter does
	// not support, such as a 4th key change section for a 64-bit key
	// (code 8).
	FunctionError
	// OldError: the TID is older than the oldest TID in memory (code 9).
	OldError
	// UsedError: the TID is in memory, the token was entered before
	// (code 10).
	UsedError
	// KeyExpiredError: the TID's top 8 bits exceed the key expiry number
	// (code 11).
	KeyExpiredError
	// DDTKError: a credit token while the meter holds a default key
	// (code 12).
	DDTKError
	// CRCError: the token cannot be authenticated under the meter's key:
	// made for another meter or key, or mistyped (code 13).
	CRCError
	// MfrCodeError: a class 1 token for another manufacturer (code 14).
	MfrCodeError
)

var outcomes = [...]struct {
	name string
	code int
}{
	Accepted:         {"accepted", 1},
	KeyChanged:       {"key changed", 1},
	FirstKCTEntered:  {"1st key change token entered", 2},
	SecondKCTEntered: {"2nd key change token entered", 3},
	ThirdKCTEntered:  {"3rd key change token entered", 3},
	FourthKCTEntered: {"4th key change token entered", 3},
	OverflowError:    {"overflow error", 4},
	KeyTypeError:     {"key type error", 5},
	FormatError:      {"format error", 6},
	RangeError:       {"range error", 7},
	FunctionError:    {"function error", 8},
	OldError:         {"old error", 9},
	UsedError:        {"used error", 10},
	KeyExpiredError:  {"key expired error", 11},
	DDTKError:        {"DDTK error", 12},
	CRCError:         {"CRC error", 13},
	MfrCodeError:     {"manufacturer code error", 14},
}

func (o Outcome) valid() bool { return o != 0 && int(o) < len(outcomes) }

// String names the outcome.
func (o Outcome) String() string {
	if !o.valid() {
		return fmt.Sprintf("Outcome(%d)", uint8(o))
	}
	return outcomes[o].name
}

// Code returns the decoder status number: 1 accept, 2 and 3 key change
// token entered, 4..14 the rejections (see the constants); 0 (reserved)
// for an invalid Outcome.
func (o Outcome) Code() int {
	if !o.valid() {
		return 0
	}
	return outcomes[o].code
}

// Rejected reports whether the token was rejected, leaving the meter as it
// was.
func (o Outcome) Rejected() bool { return o >= OverflowError }

// sectionEntered is the outcome of staging key change section 1..4.
var sectionEntered = [...]Outcome{1: FirstKCTEntered, 2: SecondKCTEntered, 3: ThirdKCTEntered, 4: FourthKCTEntered}

// Result is the meter's answer to one token.
type Result struct {
	Outcome Outcome
	// Token is the decoded token: nil when the digits did not decode under
	// the meter's key. It is set for rejections found after decoding (old,
	// used, …). For class 1 it is an sts.Test whose Control field holds
	// the test/display selection bits.
	Token sts.Token
	// Credited is the amount an accepted class 0 token added to its
	// register, in tenths of the register's unit.
	Credited uint64
	// Balance is that register's new balance, in tenths.
	Balance uint64
	// CurrencyCredited is the signed amount an accepted currency credit
	// token (sts.CurrencyCredit) added to its currency register, in units
	// of 0.00001 of the currency: negative for a debit. nil for every
	// other token; Credited and Balance are 0 for a currency credit.
	CurrencyCredited *big.Int
	// CurrencyBalance is that currency register's new balance, in units of
	// 0.00001 (a copy); nil for every other token.
	CurrencyBalance *big.Int
}
