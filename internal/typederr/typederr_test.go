package typederr

import (
	"errors"
	"strings"
	"testing"
)

func TestMessage(t *testing.T) {
	sentinel := errors.New("pkg: went wrong")
	other := errors.New("other: went wrong")
	tests := []struct {
		where  string
		err    error
		detail string
		want   string
	}{
		{"", sentinel, "", "pkg: went wrong"},
		{"line 3: ", sentinel, "column 5", "pkg: line 3: went wrong: column 5"},
		{"R field f: ", nil, "", "pkg: R field f: invalid"},
		{"", nil, "x", "pkg: invalid: x"},
		{"", other, "", "pkg: other: went wrong"},
	}
	for _, tt := range tests {
		if got := Message("pkg: ", tt.where, tt.err, tt.detail); got != tt.want {
			t.Errorf("Message(%q, %v, %q) = %q, want %q", tt.where, tt.err, tt.detail, got, tt.want)
		}
	}
}

func TestQuote(t *testing.T) {
	tests := []struct{ in, want string }{
		{"", `""`},
		{"abc", `"abc"`},
		{"é\x00", `"\u00e9\x00"`},
		{strings.Repeat("a", MaxQuote), `"` + strings.Repeat("a", MaxQuote) + `"`},
		{strings.Repeat("b", MaxQuote+1), `"` + strings.Repeat("b", MaxQuote) + `"…`},
	}
	for _, tt := range tests {
		if got := Quote(tt.in); got != tt.want {
			t.Errorf("Quote(%q) = %s, want %s", tt.in, got, tt.want)
		}
		if got := Quote([]byte(tt.in)); got != tt.want {
			t.Errorf("Quote([]byte(%q)) = %s, want %s", tt.in, got, tt.want)
		}
	}
}

func TestQuoteByte(t *testing.T) {
	tests := []struct {
		in   byte
		want string
	}{
		{' ', `' '`}, {'A', `'A'`}, {'~', `'~'`}, {'\'', `'\''`},
		{0x1F, "byte 0x1F"}, {0x7F, "byte 0x7F"}, {0xFF, "byte 0xFF"}, {0, "byte 0x00"},
	}
	for _, tt := range tests {
		if got := QuoteByte(tt.in); got != tt.want {
			t.Errorf("QuoteByte(%#x) = %s, want %s", tt.in, got, tt.want)
		}
	}
}
