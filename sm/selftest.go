package sm

import (
	"bytes"
	"context"
	"crypto/aes"
	"crypto/cipher"
	"crypto/des"
	"crypto/hmac"
	"crypto/sha256"
	"crypto/sha512"
	"encoding/hex"
	"fmt"
	"hash"
	"time"

	"github.com/stskms/stskms/audit"
	"github.com/stskms/stskms/keyagree"
	"github.com/stskms/stskms/records"
	"github.com/stskms/stskms/sts"
	"github.com/stskms/stskms/sts/dkga"
	"github.com/stskms/stskms/sts/misty1"
	"github.com/stskms/stskms/sts/sta"
)

// SelftestResult is the outcome of one self-test.
type SelftestResult struct {
	Name   string        `json:"name"`
	OK     bool          `json:"ok"`
	Detail string        `json:"detail,omitempty"`
	Took   time.Duration `json:"took_ns"`
}

// SelftestReport is the outcome of a self-test run.
type SelftestReport struct {
	Time    time.Time        `json:"time"`
	OK      bool             `json:"ok"`
	Results []SelftestResult `json:"results"`
	// Release is "signed release vX.Y.Z (release key …)" or "unsigned
	// development build" (release.Status, as checked at Open).
	Release string `json:"release"`
}

// Failure names the first failed test and why, or "".
func (r SelftestReport) Failure() string {
	for _, t := range r.Results {
		if !t.OK {
			return fmt.Sprintf("self-test %s failed: %s", t.Name, t.Detail)
		}
	}
	return ""
}

func (r SelftestReport) summary() map[string]any {
	s := map[string]any{"ok": r.OK, "tests": len(r.Results)}
	if !r.OK {
		s["failure"] = r.Failure()
	}
	return s
}

// kat is a known-answer test. Each states where its vector comes from.
type kat struct {
	name string
	run  func() error
}

// kats are the known-answer tests of every algorithm the module uses
// (PCI HSM B1). The vectors are copies of published ones; TestKATVectors
// checks each copy against the file it was taken from.
var kats = []kat{
	// FIPS 46 worked example (also in NIST SP 800-17): the DES of DKGA02
	// and of the DES key check values.
	{"DES", func() error {
		return blockKAT(des.NewCipher, "133457799BBCDFF1", "0123456789ABCDEF", "85E813540F0AB405")
	}},
	// sts/testdata/tokens-sta-test.json "NJ-Nectar_1-step2ACTSA20Test-0@test-tables":
	// DKGA02 (DES) and a whole credit token under STA with the test tables.
	{"DKGA02+STA", func() error {
		return tokenKAT(katSTA)
	}},
	// RFC 2994 appendix, test data (sts/misty1/testdata/rfc2994.json rfc2994-1).
	{"MISTY1", func() error {
		return blockKAT(misty1.New, "00112233445566778899aabbccddeeff", "0123456789abcdef", "8b1da5f56ab3d07c")
	}},
	// sts/testdata/tokens.json "NJ-STS_531_1_0_04_CTSA01-step1Test" (STS 531-1
	// compliance data via NectarAPI): DKGA04 (HMAC-SHA-256) and a credit
	// token under MISTY1.
	{"DKGA04+MISTY1", func() error {
		return tokenKAT(katDKGA04)
	}},
	// RFC 4231 test case 2.
	{"HMAC-SHA-256", func() error {
		return hmacKAT(sha256.New, "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843")
	}},
	{"HMAC-SHA-384", func() error {
		return hmacKAT(sha512.New384, "af45d2e376484031617f78d2b58a6b1b9c7ef464f5a01b47e42ec3736322445e"+
			"8e2240ca5e69e2c78b3239ecfab21649")
	}},
	// The GCM specification (McGrew and Viega), test case 14: AES-256,
	// zero key, zero IV, one zero block.
	{"AES-256-GCM", func() error {
		b, err := aes.NewCipher(make([]byte, 32))
		if err != nil {
			return err
		}
		g, err := cipher.NewGCM(b)
		if err != nil {
			return err
		}
		ct := g.Seal(nil, make([]byte, 12), make([]byte, 16), nil)
		if err := expect(ct, "cea7403d4d606b6e074ec5d3baf39d18d0d1c8a799996bf0265b98b5d48ab919"); err != nil {
			return err
		}
		pt, err := g.Open(nil, make([]byte, 12), ct, nil)
		if err != nil {
			return err
		}
		return expect(pt, "00000000000000000000000000000000")
	}},
	// keyagree/testdata/kms-vectors.json (kms-records.md §3.7): P-384 ECDH
	// of the two test keys, and HKDF-SHA-384 of the request key.
	{"ECDH-P384+HKDF", func() error {
		sm, err := keyagree.TestKey("sts-test-sm")
		if err != nil {
			return err
		}
		kmc, err := keyagree.TestKey("sts-test-kmc")
		if err != nil {
			return err
		}
		z, err := keyagree.SharedSecret(sm, kmc.PublicKey())
		if err != nil {
			return err
		}
		if err := expect(z, katZ); err != nil {
			return err
		}
		z2, err := keyagree.SharedSecret(kmc, sm.PublicKey())
		if err != nil {
			return err
		}
		if !bytes.Equal(z, z2) {
			return fmt.Errorf("the two sides disagree")
		}
		kReq, err := keyagree.RequestKey(z, katTReq, katSMID, katKMCID)
		if err != nil {
			return err
		}
		return expect(kReq, katKReq)
	}},
}

// The vectors of the ECDH test (kms-vectors.json "expected" z_hex, k_req_hex).
const (
	katSMID  = "SMID.1:TestVendor:94000001:20250102T000000Z:930F65E7777667E1:A68E"
	katKMCID = "KMCID.1:TestKMC:K0001:20250101T000000Z:596A20E33788ED93:18C3"
	katTReq  = "20250103T120000Z"
	katZ     = "A4DAFA5CEC34A7E0BD42F50ACD67484DC8FCFA675ACF057186E19030E8384D6CA7C67FE35B280ABC00B144A3086B652D"
	katKReq  = "E0DCBDD506ED797C5E04F08F54BE0036481C7FA3D29E20DBA040D59FEEEB8453D6BFF79D380C69BA253CE46229C591AE"
)

// tokenVector is a credit token made from a vending key.
type tokenVector struct {
	id         string
	vk         string
	alg        dkga.Algorithm
	ea         sts.EA
	kt         sts.KeyType
	sgc        uint32
	ti, krn    uint8
	pan        string
	bdt        sts.BaseDate
	tid        uint32
	rnd        uint8
	amount     uint64 // tenths
	decoderKey string
	token      string
}

var (
	katSTA = tokenVector{id: "NJ-Nectar_1-step2ACTSA20Test-0@test-tables", vk: "abababababababab", alg: dkga.DKGA02,
		ea: sts.EA07, kt: sts.DUTK, sgc: 123456, ti: 1, krn: 1, pan: "600727000000000009", bdt: sts.BaseDate1993,
		tid: 5988122, rnd: 5, amount: 163830, decoderKey: "e653341f9d5bf36f", token: "32882020610578959903"}
	katDKGA04 = tokenVector{id: "NJ-STS_531_1_0_04_CTSA01-step1Test", vk: "abababababababab949494949494949401234567",
		alg: dkga.DKGA04, ea: sts.EA11, kt: sts.DUTK, sgc: 123457, ti: 1, krn: 1, pan: "600727000000000009",
		bdt: sts.BaseDate1993, tid: 5871660, rnd: 5, amount: 1, decoderKey: "f94b6ed353c3bfdb113e2d3a7ea3c41d",
		token: "59386323472137426967"}
)

func tokenKAT(v tokenVector) error {
	g, err := dkga.New(v.alg, unhex(v.vk))
	if err != nil {
		return err
	}
	pan, err := sts.ParsePAN(v.pan)
	if err != nil {
		return err
	}
	dk, err := g.DecoderKey(dkga.Params{KeyType: v.kt, SGC: v.sgc, TI: v.ti, KRN: v.krn, PAN: pan, BaseDate: v.bdt, EA: v.ea})
	if err != nil {
		return err
	}
	if err := expect(dk, v.decoderKey); err != nil {
		return fmt.Errorf("decoder key: %w", err)
	}
	var tables *sta.Tables
	if v.ea == sts.EA07 {
		tables = sta.TestTables()
	}
	c, err := sts.NewCipher(v.ea, dk, tables)
	if err != nil {
		return err
	}
	amt, err := sts.EncodeAmount(v.amount)
	if err != nil {
		return err
	}
	n, err := sts.Credit{Sub: sts.Electricity, TID: v.tid, RND: v.rnd, Amount: amt}.Encode(c)
	if err != nil {
		return err
	}
	if n.String() != v.token {
		return fmt.Errorf("token mismatch")
	}
	t, err := sts.Decode(n, c)
	if err != nil {
		return fmt.Errorf("decode: %w", err)
	}
	if cr, ok := t.(sts.Credit); !ok || cr.TID != v.tid || cr.Amount != amt {
		return fmt.Errorf("decode gives another token")
	}
	return nil
}

func hmacKAT(h func() hash.Hash, want string) error {
	m := hmac.New(h, []byte("Jefe"))
	m.Write([]byte("what do ya want for nothing?"))
	return expect(m.Sum(nil), want)
}

// blockKAT checks a block cipher: the one newCipher makes with key
// encrypts the block in to want, and decrypts want back to in (all hex).
func blockKAT[C cipher.Block](newCipher func(key []byte) (C, error), key, in, want string) error {
	c, err := newCipher(unhex(key))
	if err != nil {
		return err
	}
	out := make([]byte, c.BlockSize())
	c.Encrypt(out, unhex(in))
	if err := expect(out, want); err != nil {
		return err
	}
	c.Decrypt(out, out)
	return expect(out, in)
}

// expect compares in constant time; the error never shows the values.
func expect(got []byte, wantHex string) error {
	if !hmac.Equal(got, unhex(wantHex)) {
		return fmt.Errorf("known answer mismatch")
	}
	return nil
}

func unhex(s string) []byte {
	b, err := hex.DecodeString(s)
	if err != nil {
		panic("sm: bad hex in a known-answer vector")
	}
	return b
}

// failTests makes the named self-tests fail (for tests of the error state;
// set only by export_test.go).
var failTests map[string]bool

// runSelftest runs the known-answer tests and the integrity checks of the
// stored state: the identity still opens and names the key in custody,
// the audit log's head and tree check against its latest checkpoint
// (audit.Log.Check, logarithmic), every register's key opens with its
// attributes and matches its KCV, and every slot's record parses with its
// CRCs.
func (m *Module) runSelftest(ctx context.Context) SelftestReport {
	rep := SelftestReport{Time: m.now().UTC(), OK: true, Release: m.release.String()}
	run := func(name string, fn func() error) {
		start := time.Now()
		err := fn()
		if err == nil && failTests[name] {
			err = fmt.Errorf("forced failure")
		}
		res := SelftestResult{Name: name, OK: err == nil, Took: time.Since(start)}
		if err != nil {
			res.Detail = err.Error()
			rep.OK = false
		}
		rep.Results = append(rep.Results, res)
	}
	for _, k := range kats {
		run(k.name, k.run)
	}
	run("identity", func() error {
		id, err := m.loadIdentity(ctx)
		if err == nil && (id.SMID.String() != m.ident.SMID.String() || id.Variant != m.ident.Variant) {
			err = refuse(ErrIdentity, "changed while open")
		}
		return err
	})
	run("audit-chain", func() error {
		// Logarithmic: the tree's head against the latest checkpoint;
		// the walk of every record is audit verify's.
		_, err := m.log.Check(ctx)
		return err
	})
	run("registers", func() error {
		n := 0
		err := m.eachRegister(ctx, func(r Register) error {
			n++
			return m.checkRegister(ctx, &r)
		})
		if err == nil && n > m.maxRegs {
			err = refuse(ErrIntegrity, "%d registers, the module holds at most %d", n, m.maxRegs)
		}
		return err
	})
	run("slots", func() error {
		return m.eachSlot(ctx, func(s Slot) error {
			p, err := records.ParsePKECDH(s.record)
			if err != nil {
				return refuseCause(ErrIntegrity, err, "slot %d", s.Number)
			}
			if p.KMCID.String() != s.KMCID.String() || records.Fingerprint(s.record) != s.Fingerprint {
				return refuse(ErrIntegrity, "slot %d columns do not match its record", s.Number)
			}
			return nil
		})
	})
	m.lastTest.Store(&rep)
	return rep
}

// Selftest runs every self-test now (any role; `stskms sm selftest`). A
// failure puts the module in its error state, which lasts until it is
// closed and opened again (and passes).
func (m *Module) Selftest(ctx context.Context, a Actor) (SelftestReport, error) {
	if m.closed.Load() {
		return SelftestReport{}, refuse(ErrClosed, "")
	}
	if err := allow(a, "module.selftest"); err != nil {
		return SelftestReport{}, err
	}
	rep := m.runSelftest(ctx)
	if !rep.OK {
		m.fault.CompareAndSwap(nil, refuse(ErrSelfTest, "%s", rep.Failure()))
	}
	if _, err := m.log.AppendNow(ctx, audit.Entry{Actor: a.String(), Action: "sm.selftest", Subject: m.ident.SMID.String(),
		Details: rep.summary()}); err != nil && rep.OK {
		return rep, err
	}
	return rep, nil
}

// LastSelftest returns the report of the latest self-test run (at Open or
// by Selftest).
func (m *Module) LastSelftest() SelftestReport {
	if r := m.lastTest.Load(); r != nil {
		return *r
	}
	return SelftestReport{}
}
