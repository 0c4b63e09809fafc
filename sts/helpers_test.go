package sts_test

import (
	"testing"

	"github.com/stskms/stskms/internal/testvec"
	"github.com/stskms/stskms/sts"
	"github.com/stskms/stskms/sts/sta"
)

// Decoder keys used across the tests, in canonical byte order.
const (
	// DKGA04 EA11 key of vector NJ-STS_531_1_0_04_CTSA01-step1Test
	// (testdata/tokens.json).
	misty1KeyHex = "f94b6ed353c3bfdb113e2d3a7ea3c41d"
	// DKGA04 EA11 key of vector NJ-STS_531_1_0_04_CTSA01-step5Test: the
	// same vending key for another meter.
	otherMISTY1KeyHex = "290e2626f5a0d106aad1aab6411589df"
	// DKGA02 key of the CTSA01 worked example (notes §6.1, recomputed by
	// docs/notes/sts-token-check.py); used for EA07 and EA09.
	des64KeyHex = "e653341f9d5bf36f"
)

func mustCipher(tb testing.TB, ea sts.EA, keyHex string) sts.Cipher {
	tb.Helper()
	var tables *sta.Tables
	if ea == sts.EA07 {
		tables = sta.TestTables()
	}
	c, err := sts.NewCipher(ea, testvec.Hex(tb, keyHex), tables)
	if err != nil {
		tb.Fatal(err)
	}
	return c
}

// testCiphers are one cipher of each algorithm (EA07 under the project's
// test tables, not the production ones).
func testCiphers(tb testing.TB) []struct {
	name string
	c    sts.Cipher
} {
	return []struct {
		name string
		c    sts.Cipher
	}{
		{"EA07-test-tables", mustCipher(tb, sts.EA07, des64KeyHex)},
		{"EA09", mustCipher(tb, sts.EA09, des64KeyHex)},
		{"EA11", mustCipher(tb, sts.EA11, misty1KeyHex)},
	}
}

func mustParseNumber(tb testing.TB, s string) sts.Number {
	tb.Helper()
	n, err := sts.ParseNumber(s)
	if err != nil {
		tb.Fatal(err)
	}
	return n
}
