package dkga_test

import (
	"testing"

	"github.com/stskms/stskms/sts"
	"github.com/stskms/stskms/sts/dkga"
)

func benchmarkDKGA(b *testing.B, alg dkga.Algorithm, vkHex string, ea sts.EA) {
	g := mustNew(b, alg, vkHex)
	p := validParams(b)
	p.EA = ea
	b.ReportAllocs()
	for b.Loop() {
		if _, err := g.DecoderKey(p); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkDKGA02 derives a DUTK with a reused Generator.
func BenchmarkDKGA02(b *testing.B) { benchmarkDKGA(b, dkga.DKGA02, vk02Hex, sts.EA07) }

// BenchmarkDKGA04 derives a 128-bit (EA11) DUTK with a reused Generator.
func BenchmarkDKGA04(b *testing.B) { benchmarkDKGA(b, dkga.DKGA04, vk04Hex, sts.EA11) }
