package sts_test

import (
	"testing"

	"github.com/stskms/stskms/sts"
)

// benchCredit is boxed once so that the loops measure Encode, not the
// conversion of a struct to the Token interface.
var benchCredit sts.Token = sts.Credit{Sub: sts.Electricity, TID: 5871715, RND: 5, Amount: 0x7FEA}

// sink keeps results alive (and escaping, as in real use).
var sinkString string

func benchmarkEncode(b *testing.B, c sts.Cipher) {
	b.ReportAllocs()
	for b.Loop() {
		if _, err := sts.Encode(benchCredit, c); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkEncodeCreditMISTY1 encodes a credit token under a reused EA11 key.
func BenchmarkEncodeCreditMISTY1(b *testing.B) {
	benchmarkEncode(b, mustCipher(b, sts.EA11, misty1KeyHex))
}

// BenchmarkEncodeCreditSTA encodes under EA07 with the project's test tables.
func BenchmarkEncodeCreditSTA(b *testing.B) {
	benchmarkEncode(b, mustCipher(b, sts.EA07, des64KeyHex))
}

func BenchmarkDecodeMISTY1(b *testing.B) {
	c := mustCipher(b, sts.EA11, misty1KeyHex)
	n, err := sts.Encode(benchCredit, c)
	if err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	for b.Loop() {
		if _, err := sts.Decode(n, c); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkNumberString(b *testing.B) {
	n := mustParseNumber(b, "73786976294838206463")
	b.ReportAllocs()
	for b.Loop() {
		sinkString = n.String()
	}
}

func BenchmarkParseNumber(b *testing.B) {
	b.ReportAllocs()
	for b.Loop() {
		if _, err := sts.ParseNumber("5649 3153 7254 5031 3471"); err != nil {
			b.Fatal(err)
		}
	}
}
