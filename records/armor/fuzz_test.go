package armor_test

import (
	"strings"
	"testing"

	"github.com/stskms/stskms/records/armor"
)

// addTextSeeds adds the texts of the tests: every test record wrapped, the
// mangled seed request, the strict error cases of Find and ParseFile, the
// bodies Wrap refuses put between markers, and a file-of-records.
func addTextSeeds(f *testing.F) {
	f.Helper()
	for _, r := range allRecords(f) {
		f.Add([]byte(mustWrap(f, r.body)))
	}
	for _, v := range r2Variants() {
		f.Add([]byte(v.text))
	}
	for _, c := range findErrorCases {
		if len(c.text) < 4096 {
			f.Add([]byte(c.text))
		}
	}
	for _, c := range parseFileErrorCases {
		f.Add([]byte(c.text))
	}
	for _, c := range wrapErrorCases {
		if len(c.body) < 4096 {
			f.Add([]byte("STS:VK.1 BEGINS\r\n" + c.body + "\r\nSTS:VK.1 ENDS\r\n"))
		}
	}
	file, err := armor.File(klfBodies(f)...)
	if err != nil {
		f.Fatal(err)
	}
	f.Add(file)
}

// checkFaults checks that err is nil or a join of at most MaxErrors+1
// *Errors with known sentinels, and returns them.
func checkFaults(t *testing.T, err error) []*armor.Error {
	t.Helper()
	fs := faults(t, err)
	if len(fs) > armor.MaxErrors+1 {
		t.Fatalf("%d faults", len(fs))
	}
	for _, f := range fs {
		if !knownSentinel(f.Err) {
			t.Fatalf("fault %v wraps an unknown error %v", f, f.Err)
		}
		if f.Line < 0 || f.At < f.Line && f.Err != armor.ErrTooManyErrors {
			t.Fatalf("fault %v: line %d at %d", f, f.Line, f.At)
		}
	}
	return fs
}

// checkBlocks checks that every block re-wraps, and re-finds to itself,
// and that blocks come in input order.
func checkBlocks(t *testing.T, blocks []armor.Block) {
	t.Helper()
	prev := 0
	for _, b := range blocks {
		if b.Line <= prev {
			t.Fatalf("block at line %d after line %d", b.Line, prev)
		}
		prev = b.Line
		if typ, _, _ := strings.Cut(b.Body, "|"); typ != b.Type {
			t.Fatalf("block type %q, body %q", b.Type, b.Body)
		}
		w, err := armor.Wrap(b.Body)
		if err != nil {
			t.Fatalf("found body %q does not wrap: %v", b.Body, err)
		}
		again, err := armor.Find(w)
		if err != nil || len(again) != 1 || again[0] != (armor.Block{Type: b.Type, Body: b.Body, Line: 1}) {
			t.Fatalf("re-found %+v, %v; want %q", again, err, b.Body)
		}
	}
}

// FuzzFind feeds arbitrary mail bodies to Find. It must never panic; every
// block it returns must re-wrap and re-find to the same body; its errors
// are *Errors with known sentinels; whatever ParseFile accepts, Find finds
// alike.
func FuzzFind(f *testing.F) {
	addTextSeeds(f)
	f.Fuzz(func(t *testing.T, text []byte) {
		blocks, err := armor.Find(text)
		checkFaults(t, err)
		checkBlocks(t, blocks)
		if fileBlocks, ferr := armor.ParseFile(text); ferr == nil {
			if err != nil || len(fileBlocks) != len(blocks) {
				t.Fatalf("ParseFile accepts %d blocks, Find finds %d with %v", len(fileBlocks), len(blocks), err)
			}
			for i := range blocks {
				if blocks[i] != fileBlocks[i] {
					t.Fatalf("block %d: ParseFile %+v, Find %+v", i, fileBlocks[i], blocks[i])
				}
			}
		}
	})
}

// FuzzParseFile feeds arbitrary files to ParseFile. It must never panic,
// return blocks only without error, and whatever it accepts must be
// written back by File into a file it reads the same.
func FuzzParseFile(f *testing.F) {
	addTextSeeds(f)
	f.Fuzz(func(t *testing.T, data []byte) {
		blocks, err := armor.ParseFile(data)
		checkFaults(t, err)
		if err != nil {
			if blocks != nil {
				t.Fatal("blocks with an error")
			}
			return
		}
		if len(blocks) == 0 {
			t.Fatal("no blocks and no error")
		}
		checkBlocks(t, blocks)
		bodies := make([]string, len(blocks))
		for i, b := range blocks {
			bodies[i] = b.Body
		}
		out, err := armor.File(bodies...)
		if err != nil {
			t.Fatalf("File of accepted bodies: %v", err)
		}
		again, err := armor.ParseFile(out)
		if err != nil || len(again) != len(blocks) {
			t.Fatalf("File output reads as %d blocks, %v", len(again), err)
		}
		for i := range again {
			if again[i].Body != bodies[i] {
				t.Fatalf("record %d: %q, want %q", i, again[i].Body, bodies[i])
			}
		}
	})
}
