package dkga_test

import (
	"bytes"
	"crypto/des"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"fmt"
	"math/rand/v2"
	"strings"
	"testing"

	"github.com/stskms/stskms/internal/testvec"
	"github.com/stskms/stskms/sts"
	"github.com/stskms/stskms/sts/dkga"
)

const (
	// VUDK of the STS 531-1-0 CTSA01 worked example (notes §6.1).
	vk02Hex = "abababababababab"
	// 160-bit vending key of the NJ _04 suite and CTSA24/25 vectors
	// (testdata/tokens.json).
	vk04Hex = "abababababababab949494949494949401234567"
)

func mustPAN(t testing.TB, s string) sts.PAN {
	t.Helper()
	p, err := sts.ParsePAN(s)
	if err != nil {
		t.Fatal(err)
	}
	return p
}

func mustNew(t testing.TB, alg dkga.Algorithm, vkHex string) *dkga.Generator {
	t.Helper()
	g, err := dkga.New(alg, testvec.Hex(t, vkHex))
	if err != nil {
		t.Fatal(err)
	}
	return g
}

// ref02 is DKGA02 written from notes §6.1 with hex strings, independently
// of the package: PANBlock = PAN digits 2..17 (DRN digits zero for KT 3),
// CtlBlock = KT ‖ SGC ‖ TI ‖ KRN ‖ FFFFFF, X = PANBlock ⊕ CtlBlock,
// DK = DES_VK(X) ⊕ X ⊕ VK.
func ref02(t testing.TB, vk []byte, p dkga.Params) []byte {
	t.Helper()
	pan, drn := p.PAN.String(), p.PAN.DRN()
	panBlock := pan[1:17]
	if p.KeyType == sts.DCTK {
		panBlock = pan[1:17-len(drn)] + strings.Repeat("0", len(drn))
	}
	ctl := fmt.Sprintf("%d%06d%02d%X", uint8(p.KeyType), p.SGC, p.TI, p.KRN) + "FFFFFF"
	pb, cb := testvec.Hex(t, panBlock), testvec.Hex(t, ctl)
	x := make([]byte, 8)
	for i := range x {
		x[i] = pb[i] ^ cb[i]
	}
	c, err := des.NewCipher(vk)
	if err != nil {
		t.Fatal(err)
	}
	y := make([]byte, 8)
	c.Encrypt(y, x)
	for i := range y {
		y[i] ^= x[i] ^ vk[i]
	}
	return y
}

// ref04 is DKGA04 written from the byte layout of notes §6.2.
func ref04(vk []byte, p dkga.Params) []byte {
	var d []byte
	d = append(d, 4, 2, '0', '4')
	d = append(d, 2)
	d = append(d, fmt.Sprintf("%02d", int(p.BaseDate)%100)...)
	d = append(d, 2)
	d = append(d, fmt.Sprintf("%02d", uint8(p.EA))...)
	d = append(d, 2)
	d = append(d, fmt.Sprintf("%02d", p.TI)...)
	d = append(d, 0, 4, 6)
	d = append(d, fmt.Sprintf("%06d", p.SGC)...)
	d = append(d, 1)
	d = append(d, fmt.Sprintf("%x", uint8(p.KeyType))...)
	d = append(d, 1)
	d = append(d, fmt.Sprintf("%x", p.KRN)...)
	d = append(d, 18)
	d = append(d, p.PAN.String()...)
	size := 8
	if p.EA == sts.EA11 {
		size = 16
	}
	d = binary.BigEndian.AppendUint32(d, uint32(8*size))
	m := hmac.New(sha256.New, vk)
	m.Write(d)
	return m.Sum(nil)[:size]
}

func TestReferencesReproduceVectors(t *testing.T) {
	// The independent references must give the vector keys before they
	// can judge anything else.
	ctsa01 := dkga.Params{KeyType: sts.DUTK, SGC: 123456, TI: 1, KRN: 1, PAN: mustPAN(t, "600727000000000009")}
	// Notes §6.1 worked example, recomputed by sts-token-check.py.
	if got := hex.EncodeToString(ref02(t, testvec.Hex(t, vk02Hex), ctsa01)); got != "e653341f9d5bf36f" {
		t.Errorf("ref02(CTSA01) = %s, want e653341f9d5bf36f", got)
	}
	tests := []struct {
		id   string
		p    dkga.Params
		want string
	}{
		{"NJ-STS_531_1_0_04_CTSA01-step1Test",
			dkga.Params{KeyType: sts.DUTK, SGC: 123457, TI: 1, KRN: 1, PAN: mustPAN(t, "600727000000000009"), BaseDate: sts.BaseDate1993, EA: sts.EA11},
			"f94b6ed353c3bfdb113e2d3a7ea3c41d"},
		{"NJ-STS_531_1_0_04_CTSA01-step5Test",
			dkga.Params{KeyType: sts.DUTK, SGC: 123457, TI: 1, KRN: 1, PAN: mustPAN(t, "000001000000000082"), BaseDate: sts.BaseDate1993, EA: sts.EA11},
			"290e2626f5a0d106aad1aab6411589df"},
		{"NJ-STS_531_1_0_02_CTSA24-step1CTSA22Test",
			dkga.Params{KeyType: sts.DUTK, SGC: 123457, TI: 1, KRN: 1, PAN: mustPAN(t, "600727000000000009"), BaseDate: sts.BaseDate1993, EA: sts.EA07},
			"aa4baa8749c10d27"},
		{"NJ-STS_531_1_0_02_CTSA25-step5CTSA20Test",
			dkga.Params{KeyType: sts.DUTK, SGC: 123457, TI: 1, KRN: 4, PAN: mustPAN(t, "600727000000000009"), BaseDate: sts.BaseDate2014, EA: sts.EA07},
			"9dc0722c29a6cc0c"},
	}
	for _, tt := range tests {
		t.Run(tt.id, func(t *testing.T) {
			if got := hex.EncodeToString(ref04(testvec.Hex(t, vk04Hex), tt.p)); got != tt.want {
				t.Errorf("ref04 = %s, want %s", got, tt.want)
			}
		})
	}
}

func TestParseAlgorithm(t *testing.T) {
	tests := []struct {
		in   string
		want dkga.Algorithm
	}{
		{"02", dkga.DKGA02}, {"2", dkga.DKGA02}, {"04", dkga.DKGA04}, {"4", dkga.DKGA04},
	}
	for _, tt := range tests {
		if got, err := dkga.ParseAlgorithm(tt.in); err != nil || got != tt.want {
			t.Errorf("ParseAlgorithm(%q) = %v, %v; want %v", tt.in, got, err, tt.want)
		}
	}
	for _, in := range []string{"", "0", "1", "01", "03", "3", "05", "002", "DKGA02", " 2", "４"} {
		if got, err := dkga.ParseAlgorithm(in); !errors.Is(err, dkga.ErrParams) {
			t.Errorf("ParseAlgorithm(%q) = %v, %v; want ErrParams", in, got, err)
		}
	}
	if dkga.DKGA02.String() != "02" || dkga.DKGA04.String() != "04" {
		t.Errorf("String() = %q, %q", dkga.DKGA02, dkga.DKGA04)
	}
	sizes := map[dkga.Algorithm]int{dkga.DKGA02: 8, dkga.DKGA04: 20, 0: 0, 1: 0, 3: 0, 5: 0}
	for alg, want := range sizes {
		if got := alg.VendingKeySize(); got != want {
			t.Errorf("DKGA%s.VendingKeySize() = %d, want %d", alg, got, want)
		}
	}
}

func TestNewErrors(t *testing.T) {
	tests := []struct {
		name string
		alg  dkga.Algorithm
		size int
		want error
	}{
		{"DKGA02 no key", dkga.DKGA02, 0, dkga.ErrVendingKey},
		{"DKGA02 7 bytes", dkga.DKGA02, 7, dkga.ErrVendingKey},
		{"DKGA02 9 bytes", dkga.DKGA02, 9, dkga.ErrVendingKey},
		{"DKGA02 16 bytes", dkga.DKGA02, 16, dkga.ErrVendingKey},
		{"DKGA02 20 bytes", dkga.DKGA02, 20, dkga.ErrVendingKey},
		{"DKGA04 8 bytes", dkga.DKGA04, 8, dkga.ErrVendingKey},
		{"DKGA04 16 bytes", dkga.DKGA04, 16, dkga.ErrVendingKey},
		{"DKGA04 19 bytes", dkga.DKGA04, 19, dkga.ErrVendingKey},
		{"DKGA04 21 bytes", dkga.DKGA04, 21, dkga.ErrVendingKey},
		{"DKGA04 32 bytes", dkga.DKGA04, 32, dkga.ErrVendingKey},
		{"DKGA01", 1, 8, dkga.ErrParams},
		{"DKGA03", 3, 16, dkga.ErrParams},
		{"DKGA00", 0, 8, dkga.ErrParams},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if g, err := dkga.New(tt.alg, make([]byte, tt.size)); !errors.Is(err, tt.want) {
				t.Errorf("New = %v, %v; want %v", g, err, tt.want)
			}
		})
	}
}

func validParams(t testing.TB) dkga.Params {
	return dkga.Params{KeyType: sts.DUTK, SGC: 123457, TI: 1, KRN: 1, PAN: mustPAN(t, "600727000000000009"), BaseDate: sts.BaseDate1993, EA: sts.EA11}
}

func TestDecoderKeyParamErrors(t *testing.T) {
	tests := []struct {
		name   string
		mutate func(*dkga.Params)
		only04 bool // DKGA02 does not use the EA or base date
	}{
		{name: "key type 4", mutate: func(p *dkga.Params) { p.KeyType = 4 }},
		{name: "KRN 0", mutate: func(p *dkga.Params) { p.KRN = 0 }},
		{name: "KRN 10", mutate: func(p *dkga.Params) { p.KRN = 10 }},
		{name: "KRN 16", mutate: func(p *dkga.Params) { p.KRN = 16 }},
		{name: "TI 100", mutate: func(p *dkga.Params) { p.TI = 100 }},
		{name: "TI 255", mutate: func(p *dkga.Params) { p.TI = 255 }},
		{name: "SGC 1000000", mutate: func(p *dkga.Params) { p.SGC = 1_000_000 }},
		{name: "zero PAN", mutate: func(p *dkga.Params) { p.PAN = sts.PAN{} }},
		{name: "unknown EA 0", mutate: func(p *dkga.Params) { p.EA = 0 }, only04: true},
		{name: "unknown EA 8", mutate: func(p *dkga.Params) { p.EA = 8 }, only04: true},
		{name: "unknown EA 12", mutate: func(p *dkga.Params) { p.EA = 12 }, only04: true},
		{name: "base date 0", mutate: func(p *dkga.Params) { p.BaseDate = 0 }, only04: true},
		{name: "base date 93", mutate: func(p *dkga.Params) { p.BaseDate = 93 }, only04: true},
		{name: "base date 2000", mutate: func(p *dkga.Params) { p.BaseDate = 2000 }, only04: true},
	}
	for _, alg := range []struct {
		name string
		g    *dkga.Generator
	}{
		{"DKGA02", mustNew(t, dkga.DKGA02, vk02Hex)},
		{"DKGA04", mustNew(t, dkga.DKGA04, vk04Hex)},
	} {
		for _, tt := range tests {
			t.Run(alg.name+"/"+tt.name, func(t *testing.T) {
				p := validParams(t)
				tt.mutate(&p)
				key, err := alg.g.DecoderKey(p)
				if tt.only04 && alg.name == "DKGA02" {
					if err != nil || len(key) != 8 {
						t.Errorf("DKGA02 DecoderKey = %x, %v; want an 8-byte key", key, err)
					}
					return
				}
				if !errors.Is(err, dkga.ErrParams) {
					t.Errorf("DecoderKey = %x, %v; want ErrParams", key, err)
				}
			})
		}
	}
}

func TestDecoderKeyLimits(t *testing.T) {
	// The largest accepted values of every parameter, for both algorithms,
	// against the references.
	p := dkga.Params{KeyType: sts.DCTK, SGC: sts.MaxSGC, TI: 99, KRN: sts.MaxKRN, PAN: mustPAN(t, "000001234123456703"), BaseDate: sts.BaseDate2035, EA: sts.EA11}
	g02, g04 := mustNew(t, dkga.DKGA02, vk02Hex), mustNew(t, dkga.DKGA04, vk04Hex)
	for _, krn := range []uint8{0, 10, 15} { // IEC 62055-41: a KRN is one digit, 1..9
		p.KRN = krn
		if k, err := g02.DecoderKey(p); !errors.Is(err, dkga.ErrParams) {
			t.Errorf("DKGA02 KRN %d = %x, %v; want ErrParams", krn, k, err)
		}
		if k, err := g04.DecoderKey(p); !errors.Is(err, dkga.ErrParams) {
			t.Errorf("DKGA04 KRN %d = %x, %v; want ErrParams", krn, k, err)
		}
	}
	for _, kt := range []sts.KeyType{sts.DITK, sts.DDTK, sts.DUTK, sts.DCTK} {
		for _, krn := range []uint8{sts.MinKRN, sts.MaxKRN} {
			p.KeyType, p.KRN = kt, krn
			k02, err := g02.DecoderKey(p)
			if err != nil || !bytes.Equal(k02, ref02(t, testvec.Hex(t, vk02Hex), p)) {
				t.Errorf("DKGA02 KT %d KRN %d = %x, %v; reference %x", kt, krn, k02, err, ref02(t, testvec.Hex(t, vk02Hex), p))
			}
			k04, err := g04.DecoderKey(p)
			if err != nil || !bytes.Equal(k04, ref04(testvec.Hex(t, vk04Hex), p)) {
				t.Errorf("DKGA04 KT %d KRN %d = %x, %v; reference %x", kt, krn, k04, err, ref04(testvec.Hex(t, vk04Hex), p))
			}
		}
	}
}

func TestDKGA02CommonKeyZeroesDRN(t *testing.T) {
	// Expected keys computed with python3 `cryptography` (TripleDES with
	// K‖K‖K = single DES) from the notes §6.1 formula: VK abab…ab, SGC
	// 123456, TI 01, KRN 1. For KT 3 the PAN block keeps only the IIN
	// digits; the DRN digits are zero.
	g := mustNew(t, dkga.DKGA02, vk02Hex)
	vk := testvec.Hex(t, vk02Hex)
	tests := []struct {
		name string
		pan  string
		kt   sts.KeyType
		want string
	}{
		// X = 3151356011FFFFFF: PAN block 0072700000000000.
		{"DCTK IIN 600727", "600727012345678977", sts.DCTK, "026610d71a0c7deb"},
		{"DCTK IIN 600727, zero DRN", "600727000000000009", sts.DCTK, "026610d71a0c7deb"},
		// X = 2151357225A98768: PAN block 0072701234567897.
		{"DUTK IIN 600727", "600727012345678977", sts.DUTK, "c52f588a82cb0613"},
		// X = 3123456011FFFFFF: PAN block 0000000000000000.
		{"DCTK IIN 0000", "000001234123456703", sts.DCTK, "9ff27eb8de3692a9"},
		{"DCTK IIN 0000, other DRN", "000001000000000082", sts.DCTK, "9ff27eb8de3692a9"},
		// X = 2123575403CBA98F: PAN block 0000123412345670.
		{"DUTK IIN 0000", "000001234123456703", sts.DUTK, "b6c0c5c00e92ce6e"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p := dkga.Params{KeyType: tt.kt, SGC: 123456, TI: 1, KRN: 1, PAN: mustPAN(t, tt.pan)}
			got, err := g.DecoderKey(p)
			if err != nil {
				t.Fatal(err)
			}
			if h := hex.EncodeToString(got); h != tt.want {
				t.Errorf("DecoderKey = %s, want %s", h, tt.want)
			}
			if ref := ref02(t, vk, p); !bytes.Equal(got, ref) {
				t.Errorf("DecoderKey = %x, reference %x", got, ref)
			}
		})
	}
}

// randomPAN returns a valid PAN with a random DRN, in either IIN form.
func randomPAN(t testing.TB, r *rand.Rand) sts.PAN {
	iin, n := "600727", 10
	if r.IntN(2) == 0 {
		iin, n = "0000", 12
	}
	var b strings.Builder
	for range n {
		b.WriteByte(byte('0' + r.IntN(10)))
	}
	d, err := sts.LuhnDigit(b.String())
	if err != nil {
		t.Fatal(err)
	}
	p, err := sts.NewPAN(iin, b.String()+string(d))
	if err != nil {
		t.Fatal(err)
	}
	return p
}

func randomParams(t testing.TB, r *rand.Rand) dkga.Params {
	return dkga.Params{
		KeyType:  sts.KeyType(r.IntN(4)),
		SGC:      uint32(r.IntN(sts.MaxSGC + 1)),
		TI:       uint8(r.IntN(100)),
		KRN:      uint8(sts.MinKRN + r.IntN(sts.MaxKRN)),
		PAN:      randomPAN(t, r),
		BaseDate: []sts.BaseDate{sts.BaseDate1993, sts.BaseDate2014, sts.BaseDate2035}[r.IntN(3)],
		EA:       []sts.EA{sts.EA07, sts.EA09, sts.EA11}[r.IntN(3)],
	}
}

func TestDecoderKeyMatchesReferenceRandom(t *testing.T) {
	r := rand.New(rand.NewPCG(11, 12))
	vk02, vk04 := testvec.Hex(t, vk02Hex), testvec.Hex(t, vk04Hex)
	g02, g04 := mustNew(t, dkga.DKGA02, vk02Hex), mustNew(t, dkga.DKGA04, vk04Hex)
	for range 2000 {
		p := randomParams(t, r)
		if got, err := g02.DecoderKey(p); err != nil || !bytes.Equal(got, ref02(t, vk02, p)) {
			t.Fatalf("DKGA02 %+v = %x, %v; reference %x", p, got, err, ref02(t, vk02, p))
		}
		if got, err := g04.DecoderKey(p); err != nil || !bytes.Equal(got, ref04(vk04, p)) {
			t.Fatalf("DKGA04 %+v = %x, %v; reference %x", p, got, err, ref04(vk04, p))
		}
	}
}

func TestGeneratorReuse(t *testing.T) {
	// A Generator reused for many meters (and for EAs of both key sizes)
	// gives what a fresh Generator gives, and earlier keys are not
	// overwritten by later calls.
	r := rand.New(rand.NewPCG(13, 14))
	var params []dkga.Params
	for range 200 {
		params = append(params, randomParams(t, r))
	}
	for _, tt := range []struct {
		alg  dkga.Algorithm
		vkHx string
	}{{dkga.DKGA02, vk02Hex}, {dkga.DKGA04, vk04Hex}} {
		t.Run("DKGA"+tt.alg.String(), func(t *testing.T) {
			reused := mustNew(t, tt.alg, tt.vkHx)
			var keys [][]byte
			for i, p := range params {
				k, err := reused.DecoderKey(p)
				if err != nil {
					t.Fatal(err)
				}
				keys = append(keys, k)
				if i%7 == 0 {
					// An error in between must not disturb the state.
					bad := p
					bad.KRN = 0
					if _, err := reused.DecoderKey(bad); err == nil {
						t.Fatal("KRN 0 accepted")
					}
				}
			}
			for i, p := range params {
				fresh, err := mustNew(t, tt.alg, tt.vkHx).DecoderKey(p)
				if err != nil {
					t.Fatal(err)
				}
				if !bytes.Equal(keys[i], fresh) {
					t.Fatalf("meter %d (%+v): reused Generator gave %x, fresh %x", i, p, keys[i], fresh)
				}
			}
		})
	}
}

func TestDKGA04KeySizes(t *testing.T) {
	g := mustNew(t, dkga.DKGA04, vk04Hex)
	p := validParams(t)
	for ea, size := range map[sts.EA]int{sts.EA07: 8, sts.EA09: 8, sts.EA11: 16} {
		p.EA = ea
		k, err := g.DecoderKey(p)
		if err != nil || len(k) != size {
			t.Errorf("EA%s: key %x, %v; want %d bytes", ea, k, err, size)
		}
	}
}
