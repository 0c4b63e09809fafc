// Package typederr holds what the typed errors of the record packages
// (records, records/armor) share: the layout of their messages and the
// brief quoting of offending input. It imports only the standard library,
// so any package of stskms may use it without gaining a dependency.
package typederr

import (
	"fmt"
	"strconv"
	"strings"
)

// MaxQuote is how many bytes of offending input Quote keeps.
const MaxQuote = 24

// Message lays out a typed error's text: prefix, then where (the caller's
// location part, e.g. "line 3: " or "PK.ECDH.1 field expiry: ", possibly
// empty), then the text of the sentinel err without prefix ("invalid" when
// err is nil), then ": " and detail when detail is not empty.
//
// Message("records: ", "PK.ECDH.1 field expiry: ", ErrTime, "month 13")
// with ErrTime "records: bad timestamp" gives "records: PK.ECDH.1 field
// expiry: bad timestamp: month 13".
func Message(prefix, where string, err error, detail string) string {
	var b strings.Builder
	b.WriteString(prefix)
	b.WriteString(where)
	if err != nil {
		b.WriteString(strings.TrimPrefix(err.Error(), prefix))
	} else {
		b.WriteString("invalid")
	}
	if detail != "" {
		b.WriteString(": ")
		b.WriteString(detail)
	}
	return b.String()
}

// Quote returns s Go-quoted in ASCII, cut to MaxQuote bytes with an
// ellipsis after the closing quote, so that an error never repeats much of
// its input.
func Quote[T ~string | ~[]byte](s T) string {
	if len(s) > MaxQuote {
		return strconv.QuoteToASCII(string(s[:MaxQuote])) + "…"
	}
	return strconv.QuoteToASCII(string(s))
}

// QuoteByte describes one offending byte: a printable ASCII character
// (space included) quoted as a rune ('a'), any other byte in hex
// ("byte 0x0A").
func QuoteByte(c byte) string {
	if c >= 0x20 && c < 0x7F {
		return strconv.QuoteRune(rune(c))
	}
	return fmt.Sprintf("byte 0x%02X", c)
}
