// Package workload is the fixed token benchmark of
// docs/bench-workload.md: four cases (STA and MISTY1 suites, reused key or a
// key derived per token), the same inputs and the same digests as other STS
// engines, so stskms can be timed side by side with them.
package workload

import (
	"encoding/hex"
	"fmt"
	"hash/fnv"
	"time"

	"github.com/stskms/stskms/sts"
	"github.com/stskms/stskms/sts/dkga"
	"github.com/stskms/stskms/sts/sta"
)

// Case is one benchmark case.
type Case struct {
	Name       string // as in the workload file
	DeriveEach bool   // a new meter, and so a new decoder key, every token
	DefaultN   int
	// Digest is the FNV-1a-64 digest of the tokens at DefaultN (EA07 cases:
	// with the production STA tables).
	Digest string
	suite  suite
}

// suite is the algorithm pair of a case.
type suite struct {
	alg        dkga.Algorithm
	ea         sts.EA
	sgc        uint32
	vendingKey string
}

var (
	staSuite    = suite{dkga.DKGA02, sts.EA07, 123456, "abababababababab"}
	misty1Suite = suite{dkga.DKGA04, sts.EA11, 123457, "abababababababab949494949494949401234567"}
)

// Cases returns the four cases in the workload file's order.
func Cases() []Case {
	return []Case{
		{"sta_dkga02_derive_each", true, 500, "c041a707ea07ba1d", staSuite},
		{"sta_dkga02_reuse_key", false, 100_000, "f4a2aa7a322fe7d4", staSuite},
		{"misty1_dkga04_derive_each", true, 500, "d7d0f655ee17f2c6", misty1Suite},
		{"misty1_dkga04_reuse_key", false, 100_000, "dae836293bc83b17", misty1Suite},
	}
}

// NeedsSTA reports whether the case encrypts with EA07.
func (c Case) NeedsSTA() bool { return c.suite.ea == sts.EA07 }

// Result is the outcome of one run.
type Result struct {
	Case    string
	N       int
	Digest  string
	Elapsed time.Duration
}

// PerToken returns the mean time per token.
func (r Result) PerToken() time.Duration { return r.Elapsed / time.Duration(r.N) }

// TokensPerSecond returns the throughput.
func (r Result) TokensPerSecond() float64 { return float64(r.N) / r.Elapsed.Seconds() }

// WarmupStart is the first token index of the warm-up.
const WarmupStart = 50_000_000

// Run makes tokens 0..n−1 of the case after a warm-up of warmup tokens
// (indices from WarmupStart) and times them. tables are the STA tables for
// EA07 cases.
func Run(c Case, n, warmup int, tables *sta.Tables) (Result, error) {
	r, err := newRunner(c, tables)
	if err != nil {
		return Result{}, err
	}
	if _, err := r.tokens(WarmupStart, warmup); err != nil {
		return Result{}, err
	}
	start := time.Now()
	digest, err := r.tokens(0, n)
	elapsed := time.Since(start)
	if err != nil {
		return Result{}, err
	}
	return Result{Case: c.Name, N: n, Digest: fmt.Sprintf("%016x", digest), Elapsed: elapsed}, nil
}

// runner makes the tokens of one case.
type runner struct {
	c      Case
	gen    *dkga.Generator
	tables *sta.Tables
	cipher sts.Cipher // the current decoder key's cipher
	params dkga.Params
	key    []byte // the current decoder key
	buf    []byte
}

// resettable is a cipher that can take a new key without allocating
// (*sta.Cipher, *misty1.Cipher).
type resettable interface{ Reset(key []byte) error }

// The fixed inputs of every token.
var (
	issueStart = time.Date(2004, 3, 1, 13, 55, 0, 0, time.UTC)
	fixedPAN   = "600727000000000009"
)

func newRunner(c Case, tables *sta.Tables) (*runner, error) {
	if c.NeedsSTA() && tables == nil {
		return nil, fmt.Errorf("case %s needs STA tables", c.Name)
	}
	vk, err := hex.DecodeString(c.suite.vendingKey)
	if err != nil {
		return nil, err
	}
	gen, err := dkga.New(c.suite.alg, vk)
	if err != nil {
		return nil, err
	}
	pan, err := sts.ParsePAN(fixedPAN)
	if err != nil {
		return nil, err
	}
	r := &runner{c: c, gen: gen, tables: tables, buf: make([]byte, 0, sts.Digits+1), params: dkga.Params{
		KeyType: sts.DUTK, SGC: c.suite.sgc, TI: 1, KRN: 1, PAN: pan,
		BaseDate: sts.BaseDate1993, EA: c.suite.ea,
	}}
	return r, r.rekey()
}

// rekey derives the decoder key of r.params and keys r.cipher with it,
// reusing the cipher and the key buffer when it can.
func (r *runner) rekey() error {
	var err error
	if r.key, err = r.gen.AppendDecoderKey(r.key[:0], r.params); err != nil {
		return err
	}
	if c, ok := r.cipher.(resettable); ok {
		return c.Reset(r.key)
	}
	r.cipher, err = sts.NewCipher(r.c.suite.ea, r.key, r.tables)
	return err
}

// tokens makes n tokens from index first and returns their digest.
func (r *runner) tokens(first, n int) (uint64, error) {
	h := fnv.New64a()
	for i := first; i < first+n; i++ {
		tok, err := r.token(i)
		if err != nil {
			return 0, err
		}
		h.Write(tok)
	}
	return h.Sum64(), nil
}

// token returns token i's digits followed by a newline.
func (r *runner) token(i int) ([]byte, error) {
	if r.c.DeriveEach {
		pan, err := meterPAN(i)
		if err != nil {
			return nil, err
		}
		r.params.PAN = pan
		if err := r.rekey(); err != nil {
			return nil, err
		}
	}
	tid, err := sts.BaseDate1993.TID(issueStart.Add(time.Duration(5*(i%1_000_000)) * time.Minute))
	if err != nil {
		return nil, err
	}
	amount, err := sts.EncodeAmount(10 * uint64(1+i*7919%100_000))
	if err != nil {
		return nil, err
	}
	n, err := sts.Credit{Sub: sts.Electricity, TID: tid, RND: uint8(i & 0xF), Amount: amount}.Encode(r.cipher)
	if err != nil {
		return nil, err
	}
	r.buf = append(n.AppendDigits(r.buf[:0]), '\n')
	return r.buf, nil
}

// meterPAN is the PAN of meter i in the derive-each cases: IIN 600727,
// manufacturer code 04, serial i.
func meterPAN(i int) (sts.PAN, error) {
	var drn [11]byte
	drn[0], drn[1] = '0', '4'
	serial := i % 100_000_000
	for j := 9; j >= 2; j-- {
		drn[j] = byte('0' + serial%10)
		serial /= 10
	}
	check, err := sts.LuhnDigit(string(drn[:10]))
	if err != nil {
		return sts.PAN{}, err
	}
	drn[10] = check
	return sts.NewPAN("600727", string(drn[:]))
}
