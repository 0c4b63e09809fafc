package workload

import (
	"os"
	"runtime"
	"testing"

	"github.com/stskms/stskms/sts"
	"github.com/stskms/stskms/sts/sta"
)

// benchTables are the production STA tables if STSKMS_STA_TABLES names
// them, else the test tables (same work, different tokens).
func benchTables(b *testing.B) *sta.Tables {
	if path := os.Getenv("STSKMS_STA_TABLES"); path != "" {
		t, err := sta.LoadTables(path)
		if err != nil {
			b.Fatal(err)
		}
		return t
	}
	return sta.TestTables()
}

// BenchmarkTokens runs the four workload cases: one op is one token.
// Compare with BenchmarkPrimitives in the same run for the ratio to the
// crypto floor.
func BenchmarkTokens(b *testing.B) {
	tables := benchTables(b)
	for _, c := range Cases() {
		b.Run(c.Name, func(b *testing.B) {
			r, err := newRunner(c, tables)
			if err != nil {
				b.Fatal(err)
			}
			b.ReportAllocs()
			for i := 0; b.Loop(); i++ {
				if _, err := r.token(i); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

// BenchmarkDecode decodes a credit token with a reused key: parse the
// digits, decrypt, check the CRC, parse the fields.
func BenchmarkDecode(b *testing.B) {
	tables := benchTables(b)
	for _, c := range []Case{Cases()[1], Cases()[3]} {
		b.Run(c.Name, func(b *testing.B) {
			r, err := newRunner(c, tables)
			if err != nil {
				b.Fatal(err)
			}
			tok, err := r.token(1)
			if err != nil {
				b.Fatal(err)
			}
			digits := string(tok[:sts.Digits])
			b.ReportAllocs()
			for b.Loop() {
				if _, err := sts.DecodeString(digits, r.cipher); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

// BenchmarkPrimitives measures the raw primitives under the token engine.
func BenchmarkPrimitives(b *testing.B) {
	tables := benchTables(b)
	for _, p := range []Primitive{
		DESBlock(), DESKeySchedule(), HMACSHA256(),
		MISTY1Block(), MISTY1KeySchedule(), STABlock(tables), STAKeySetup(tables),
	} {
		b.Run(p.Name, func(b *testing.B) {
			var sink uint64
			for i := uint64(0); b.Loop(); i++ {
				sink += p.Op(i)
			}
			runtime.KeepAlive(sink)
		})
	}
}
