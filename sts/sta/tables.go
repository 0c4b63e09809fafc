package sta

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"os"
)

// ErrInvalidTables is wrapped by every error that rejects the content of a
// table file: invalid JSON, or a table that is missing, has the wrong length,
// or is not a permutation.
var ErrInvalidTables = errors.New("sta: invalid table file")

// Tables is a validated EA07 table set together with the lookup tables
// derived from it. It is immutable once loaded and safe for concurrent use.
type Tables struct {
	s1, s2 [16]uint8 // nibble substitutions for selector bit 0 and 1
	p      [64]uint8 // p[i] is the output position of input bit i

	enc  byteTables     // P after substitution, per byte
	dec  byteTables     // inverse P after inverse substitution, per byte
	pinv [8][256]uint64 // pinv[j][x]: inverse P of byte x at byte position j
	sinv [4][256]uint8  // sinv[sel][x]: inverse substitution of byte x
}

// byteTables[j][sel][x] is one round step applied to the byte x at byte
// position j of a block (bits 8j..8j+7), whose two nibbles are substituted
// under the selector pair sel (bit 0 for the low nibble, bit 1 for the high).
type byteTables [8][4][256]uint64

// apply runs the step of bt over all eight bytes of b. Byte j of sel holds
// the selector pair of byte j of b.
func (bt *byteTables) apply(b, sel uint64) uint64 {
	var out uint64
	for j := range bt {
		out |= bt[j][sel&3][b&0xff]
		b >>= 8
		sel >>= 8
	}
	return out
}

// tableFile is the JSON form of a table file.
type tableFile struct {
	S1 []int `json:"s1"`
	S2 []int `json:"s2"`
	P  []int `json:"p"`
}

// LoadTables reads and validates the table file at path (see ParseTables).
func LoadTables(path string) (*Tables, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("sta: reading table file: %w", err)
	}
	return ParseTables(data)
}

// ParseTables validates a table file, the JSON object
// {"s1": [16 ints], "s2": [16 ints], "p": [64 ints]} (other keys are
// ignored), and precomputes its lookup tables. s1 and s2 must be permutations
// of 0..15 and p a permutation of 0..63; otherwise the error wraps
// ErrInvalidTables.
func ParseTables(data []byte) (*Tables, error) {
	var f tableFile
	if err := json.Unmarshal(data, &f); err != nil {
		return nil, fmt.Errorf("%w: %v", ErrInvalidTables, err)
	}
	t := new(Tables)
	for _, table := range []struct {
		name string
		src  []int
		dst  []uint8
	}{
		{"s1", f.S1, t.s1[:]},
		{"s2", f.S2, t.s2[:]},
		{"p", f.P, t.p[:]},
	} {
		if err := readPermutation(table.name, table.src, table.dst); err != nil {
			return nil, err
		}
	}
	t.precompute()
	return t, nil
}

// readPermutation copies src into dst after checking that it is a
// permutation of 0..len(dst)-1. Errors name positions, never values.
func readPermutation(name string, src []int, dst []uint8) error {
	if src == nil {
		return fmt.Errorf("%w: %s is missing", ErrInvalidTables, name)
	}
	if len(src) != len(dst) {
		return fmt.Errorf("%w: %s has %d entries, want %d", ErrInvalidTables, name, len(src), len(dst))
	}
	seen := make([]bool, len(dst))
	for i, v := range src {
		if v < 0 || v >= len(dst) {
			return fmt.Errorf("%w: %s[%d] is out of range 0..%d", ErrInvalidTables, name, i, len(dst)-1)
		}
		if seen[v] {
			return fmt.Errorf("%w: %s is not a permutation of 0..%d (%s[%d] repeats an earlier entry)",
				ErrInvalidTables, name, len(dst)-1, name, i)
		}
		seen[v] = true
		dst[i] = uint8(v)
	}
	return nil
}

// precompute derives the inverse tables and the per-byte lookup tables from
// the validated s1, s2 and p.
func (t *Tables) precompute() {
	var s1inv, s2inv [16]uint8
	var pinv [64]uint8
	invert(s1inv[:], t.s1[:])
	invert(s2inv[:], t.s2[:])
	invert(pinv[:], t.p[:])

	sub := byteSubstitution(&t.s1, &t.s2)
	t.sinv = byteSubstitution(&s1inv, &s2inv)
	var perm [8][256]uint64
	for j := range perm {
		for x := range 256 {
			perm[j][x] = permuteByte(&t.p, j, uint8(x))
			t.pinv[j][x] = permuteByte(&pinv, j, uint8(x))
		}
	}
	for j := range t.enc {
		for sel := range t.enc[j] {
			for x := range 256 {
				t.enc[j][sel][x] = perm[j][sub[sel][x]]
				t.dec[j][sel][x] = t.pinv[j][t.sinv[sel][x]]
			}
		}
	}
}

// invert sets dst to the inverse of the permutation src.
func invert(dst, src []uint8) {
	for i, v := range src {
		dst[v] = uint8(i)
	}
}

// byteSubstitution returns, for each selector pair sel, the substitution of
// a whole byte: its low nibble through s1 or s2 as bit 0 of sel is 0 or 1,
// its high nibble likewise by bit 1 of sel.
func byteSubstitution(s1, s2 *[16]uint8) [4][256]uint8 {
	boxes := [2]*[16]uint8{s1, s2}
	var sub [4][256]uint8
	for sel := range sub {
		lo, hi := boxes[sel&1], boxes[sel>>1]
		for x := range 256 {
			sub[sel][x] = hi[x>>4]<<4 | lo[x&0xf]
		}
	}
	return sub
}

// permuteByte returns the bit permutation p (input bit i goes to output bit
// p[i]) of the block whose only set bits are those of x at byte position j.
func permuteByte(p *[64]uint8, j int, x uint8) uint64 {
	var out uint64
	for i := range 8 {
		if x>>i&1 == 1 {
			out |= 1 << p[8*j+i]
		}
	}
	return out
}

// Fingerprint identifies the table set without revealing it: the hex form of
// the first 8 bytes of the SHA-256 of s1, s2 and p, one byte per entry, in
// that order (96 bytes).
func (t *Tables) Fingerprint() string {
	h := sha256.New()
	h.Write(t.s1[:])
	h.Write(t.s2[:])
	h.Write(t.p[:])
	return hex.EncodeToString(h.Sum(nil)[:8])
}
