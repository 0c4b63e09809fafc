package armor_test

import (
	"bytes"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/stskms/stskms/records/armor"
)

// hostileSize is the size of every hostile input: 1 MiB, a generous mail
// body.
const hostileSize = 1 << 20

// repeatTo repeats unit until the result has at least n bytes, between
// head and tail.
func repeatTo(head, unit, tail string, n int) []byte {
	count := max(1, (n-len(head)-len(tail)+len(unit)-1)/len(unit))
	return []byte(head + strings.Repeat(unit, count) + tail)
}

// hostileInputs are 1 MiB mail bodies built to make a line scanner slow or
// greedy: many markers, one huge line, deep quoting, alternating markers,
// tiny blocks by the ten thousand.
func hostileInputs() []struct {
	name string
	text []byte
} {
	const n = hostileSize
	return []struct {
		name string
		text []byte
	}{
		{"BEGINS lines", repeatTo("", "STS:VK.1 BEGINS\n", "", n)},
		{"quoted CRLF BEGINS lines", repeatTo("", "> STS:KLF.HDR.1 BEGINS\r\n", "", n)},
		{"BEGINS lines of long types", repeatTo("", "STS:"+strings.Repeat("A", 1000)+".1 BEGINS\n", "", n)},
		{"ENDS lines", repeatTo("", "STS:VK.1 ENDS\n", "", n)},
		{"alternating markers", repeatTo("", "STS:VK.1 BEGINS\nSTS:VK.2 ENDS\n", "", n)},
		{"alternating marker, body", repeatTo("", "STS:VK.1 BEGINS\nVK.1|1|\n", "", n)},
		{"huge line", repeatTo("", "A", "", n)},
		{"huge line in a block", repeatTo("STS:VK.1 BEGINS\nVK.1|", "A", "\nSTS:VK.1 ENDS\n", n)},
		{"huge line of separators", repeatTo("STS:VK.1 BEGINS\nVK.1", " | ", "\nSTS:VK.1 ENDS\n", n)},
		{"huge marker type", repeatTo("STS:", "A", ".1 BEGINS\nVK.1|1|\n", n)},
		{"deep quoting", repeatTo("", ">", " STS:VK.1 BEGINS\nVK.1|1|\nSTS:VK.1 ENDS\n", n)},
		{"deeply quoted lines", repeatTo("STS:VK.1 BEGINS\n", strings.Repeat("> ", 50)+"A\n", "STS:VK.1 ENDS\n", n)},
		{"million blank lines", repeatTo("STS:VK.1 BEGINS\nVK.1|1|\n", "\n", "STS:VK.1 ENDS\n", n)},
		{"million lone CRs", repeatTo("STS:VK.1 BEGINS\rVK.1|1|\r", "\r", "STS:VK.1 ENDS\r", n)},
		{"tiny blocks", repeatTo("", "STS:VK.1 BEGINS\nVK.1|\nSTS:VK.1 ENDS\n", "", n)},
		{"big blocks", repeatTo("", "STS:A.1 BEGINS\nA.1|"+strings.Repeat("A", 60<<10)+"\nSTS:A.1 ENDS\n", "", n)},
		{"tiny faulty blocks", repeatTo("", "STS:VK.1 BEGINS\nVK.1|\x00\nSTS:VK.1 ENDS\n", "", n)},
		{"binary", bytes.Repeat([]byte{0, 0xFF, '\r', '>', '|', ' ', '\n', 0x80}, n/8)},
	}
}

// allocBytes returns the bytes f allocates per call, averaged over runs.
func allocBytes(f func(), runs int) uint64 {
	var before, after runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&before)
	for range runs {
		f()
	}
	runtime.ReadMemStats(&after)
	return (after.TotalAlloc - before.TotalAlloc) / uint64(runs)
}

// TestHostileBounded: on every hostile input Find and ParseFile finish in
// linear time (a generous wall-clock bound catches quadratic behaviour,
// which would take minutes), allocate at most a few times the input, and a
// bounded number of times.
func TestHostileBounded(t *testing.T) {
	if testing.Short() {
		t.Skip("hostile inputs skipped in -short mode")
	}
	parsers := []struct {
		name  string
		parse func([]byte) ([]armor.Block, error)
	}{
		{"Find", armor.Find},
		{"ParseFile", armor.ParseFile},
	}
	for _, in := range hostileInputs() {
		for _, p := range parsers {
			t.Run(in.name+"/"+p.name, func(t *testing.T) {
				start := time.Now()
				blocks, err := p.parse(in.text)
				if d := time.Since(start); d > 5*time.Second {
					t.Errorf("%s took %v on %d bytes", p.name, d, len(in.text))
				}
				fs := faults(t, err)
				if len(fs) > armor.MaxErrors+1 {
					t.Errorf("%d faults reported", len(fs))
				}
				run := func() { _, _ = p.parse(in.text) }
				size := uint64(len(in.text))
				bytesPerRun := allocBytes(run, 2)
				if bytesPerRun > 4*size+64<<10 {
					t.Errorf("%d bytes allocated for %d bytes of input", bytesPerRun, size)
				}
				// Bodies share one allocation, slices grow by doubling
				// and faults are capped: the count of allocations does
				// not grow with the input.
				allocs := testing.AllocsPerRun(1, run)
				if allocs > 1000 {
					t.Errorf("%.0f allocations", allocs)
				}
				t.Logf("%d blocks, %d faults; %.2fx the input allocated in %.0f allocations",
					len(blocks), len(fs), float64(bytesPerRun)/float64(size), allocs)
			})
		}
	}
}

// sinkBlocks keeps benchmark results alive.
var sinkBlocks []armor.Block

// benchmarkFind runs Find over one input (faults are expected in the
// hostile ones).
func benchmarkFind(b *testing.B, text []byte) {
	b.SetBytes(int64(len(text)))
	b.ReportAllocs()
	for b.Loop() {
		sinkBlocks, _ = armor.Find(text)
	}
}

// BenchmarkFind1MiB: Find over a 1 MiB mail body. "mail" is the realistic
// case: text with the seed request block, mangled as in STS 600-9-2 §7.1,
// and the §3.7 records, repeated; the others are hostile inputs.
func BenchmarkFind1MiB(b *testing.B) {
	var unit strings.Builder
	for _, v := range r2Variants() {
		unit.WriteString("Hello,\r\nplease see below.\r\n\r\n" + v.text + "\r\nRegards\r\n\r\n")
	}
	for _, r := range loadRecords(b, vectorRecords) {
		unit.WriteString(mustWrap(b, r.body) + "\r\n")
	}
	mail := repeatTo("", unit.String(), "", hostileSize)
	if blocks, err := armor.Find(mail); err != nil || len(blocks) < 1000 {
		b.Fatalf("%d blocks, %v", len(blocks), err)
	}
	b.Run("mail", func(b *testing.B) { benchmarkFind(b, mail) })
	for _, in := range hostileInputs() {
		switch in.name {
		case "BEGINS lines", "huge line in a block", "deeply quoted lines", "tiny blocks", "alternating markers":
			b.Run(strings.ReplaceAll(in.name, " ", "_"), func(b *testing.B) { benchmarkFind(b, in.text) })
		}
	}
}
