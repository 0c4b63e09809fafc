package records_test

import (
	"testing"

	"github.com/stskms/stskms/records"
)

var sinkString string

// BenchmarkParseVKLoadReq parses the §3.7 VKLOAD.REQ.1: two PKIDs, a P-384
// point check and three CRCs.
func BenchmarkParseVKLoadReq(b *testing.B) {
	line := loadVectors(b).record(b, "VKLOAD_REQ")
	b.ReportAllocs()
	for b.Loop() {
		if _, err := records.Parse(line); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkFormatVK formats the §3.7 VK.1 record: from a parsed Record, and
// from the typed view (New plus String), as the KMC does for each key of a
// Key Load File.
func BenchmarkFormatVK(b *testing.B) {
	line := loadVectors(b).record(b, "VK_REC")
	r, err := records.Parse(line)
	if err != nil {
		b.Fatal(err)
	}
	vk, err := records.ParseVK(line)
	if err != nil {
		b.Fatal(err)
	}
	b.Run("Record.String", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			sinkString = r.String()
		}
	})
	b.Run("VK.Format", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			if sinkString, err = vk.Format(); err != nil {
				b.Fatal(err)
			}
		}
	})
}
