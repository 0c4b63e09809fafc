package workload

import (
	"crypto/des"
	"crypto/hmac"
	"crypto/sha256"
	"runtime"
	"time"

	"github.com/stskms/stskms/sts"
	"github.com/stskms/stskms/sts/misty1"
	"github.com/stskms/stskms/sts/sta"
)

// Primitive is one cryptographic operation a token costs at least: the
// floor the engine is measured against.
type Primitive struct {
	Name string
	// op runs the primitive once; i varies the input.
	op func(i uint64) uint64
}

// Op runs the primitive once on input i and returns something of the
// result, so the work cannot be optimised away.
func (p Primitive) Op(i uint64) uint64 { return p.op(i) }

// Measure times the primitive for about d and returns its mean cost.
func (p Primitive) Measure(d time.Duration) time.Duration {
	var sink uint64
	n := uint64(0)
	start := time.Now()
	for time.Since(start) < d {
		for range 1000 {
			sink += p.op(n)
			n++
		}
	}
	elapsed := time.Since(start)
	runtime.KeepAlive(sink)
	return elapsed / time.Duration(n)
}

// Primitives returns the primitives one token of the case costs: the block
// cipher, and for derive-each cases the key derivation (one DES block or one
// HMAC-SHA-256 under the vending key, whose schedule and keyed state are
// reused across meters) and the decoder key's cipher set-up.
func (c Case) Primitives(tables *sta.Tables) []Primitive {
	if tables == nil {
		tables = sta.TestTables()
	}
	var ps []Primitive
	if c.DeriveEach {
		if c.suite.ea == sts.EA07 {
			ps = append(ps, DESBlock(), STAKeySetup(tables))
		} else {
			ps = append(ps, HMACSHA256(), MISTY1KeySchedule())
		}
	}
	if c.suite.ea == sts.EA07 {
		return append(ps, STABlock(tables))
	}
	return append(ps, MISTY1Block())
}

// DESBlock is one DES encryption under an expanded key.
func DESBlock() Primitive {
	b, _ := des.NewCipher([]byte("\xab\xab\xab\xab\xab\xab\xab\xab"))
	var buf [8]byte
	return Primitive{"des_block", func(i uint64) uint64 {
		buf[0] = byte(i)
		b.Encrypt(buf[:], buf[:])
		return uint64(buf[7])
	}}
}

// DESKeySchedule is the DES key expansion.
func DESKeySchedule() Primitive {
	key := []byte("\xab\xab\xab\xab\xab\xab\xab\xab")
	return Primitive{"des_key_schedule", func(i uint64) uint64 {
		key[0] = byte(i)
		b, _ := des.NewCipher(key)
		return uint64(b.BlockSize())
	}}
}

// HMACSHA256 is one HMAC-SHA-256 of a DKGA04-sized message (56 bytes) with
// the keyed state reused.
func HMACSHA256() Primitive {
	mac := hmac.New(sha256.New, make([]byte, 20))
	msg := make([]byte, 56)
	sum := make([]byte, 0, sha256.Size)
	return Primitive{"hmac_sha256", func(i uint64) uint64 {
		msg[0] = byte(i)
		mac.Reset()
		mac.Write(msg)
		sum = mac.Sum(sum[:0])
		return uint64(sum[0])
	}}
}

// MISTY1Block is one MISTY1 encryption.
func MISTY1Block() Primitive {
	c, _ := misty1.New(make([]byte, misty1.KeySize))
	return Primitive{"misty1_block", c.Encrypt64}
}

// MISTY1KeySchedule is the MISTY1 key expansion.
func MISTY1KeySchedule() Primitive {
	c, _ := misty1.New(make([]byte, misty1.KeySize))
	key := make([]byte, misty1.KeySize)
	return Primitive{"misty1_key_schedule", func(i uint64) uint64 {
		key[0] = byte(i)
		_ = c.Reset(key)
		return 0
	}}
}

// STABlock is one STA encryption.
func STABlock(tables *sta.Tables) Primitive {
	return Primitive{"sta_block", tables.NewCipher64(0x0123456789abcdef).Encrypt64}
}

// STAKeySetup is the STA key set-up.
func STAKeySetup(tables *sta.Tables) Primitive {
	c := tables.NewCipher64(0)
	return Primitive{"sta_key_setup", func(i uint64) uint64 {
		c.Rekey(i)
		return 0
	}}
}
