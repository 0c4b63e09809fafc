package keyload

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"testing"
	"time"

	"github.com/stskms/stskms/internal/testparty"
	"github.com/stskms/stskms/internal/testvec"
	"github.com/stskms/stskms/keyagree"
	"github.com/stskms/stskms/records"
)

// The vectors of kms-records.md §3.7, made by docs/notes/kms-vectors.py
// (copied from records/testdata/kms-vectors.json): the deterministic test
// keys sts-test-sm and sts-test-kmc, NONCE = SHA-256("kmc-nonce") and
// IV = SHA-256("gcm-nonce-1")[0:12].
type vectorFile struct {
	Records []struct {
		Name string `json:"name"`
		Line string `json:"line"`
	} `json:"records"`
}

func loadVectors(t *testing.T) map[string]string {
	t.Helper()
	var f vectorFile
	testvec.Load(t, "testdata/kms-vectors.json", &f)
	lines := map[string]string{}
	for _, r := range f.Records {
		lines[r.Name] = r.Line
	}
	return lines
}

func mustTime(t *testing.T, s string) time.Time {
	t.Helper()
	at, err := time.Parse(records.TimeLayout, s)
	if err != nil {
		t.Fatal(err)
	}
	return at
}

// fixture is the §3.7 world: the SM, the KMC and its PK.ECDH.1.
type fixture struct {
	sm, kmc Module
	pk      *records.PKECDH
	tReq    time.Time
}

func newFixture(t *testing.T) *fixture {
	t.Helper()
	smKey, smid := testparty.SM(t)
	kmcKey, kmcid := testparty.KMC(t)
	return &fixture{
		sm: Module{smKey, smid}, kmc: Module{kmcKey, kmcid},
		pk:   &records.PKECDH{KMCID: kmcid, PublicKey: kmcKey.PublicKey(), Expiry: mustTime(t, "20280101T000000Z")},
		tReq: mustTime(t, "20250103T120000Z"),
	}
}

func (f *fixture) request(t *testing.T) *records.VKLoadReq {
	t.Helper()
	req, err := NewRequest(f.sm, f.pk, f.tReq, "Test-SSM-1", "SSM1V100")
	if err != nil {
		t.Fatal(err)
	}
	return req
}

// vectorRandom yields the vectors' nonce, then their IV.
func vectorRandom() *bytes.Reader {
	nonce := sha256.Sum256([]byte("kmc-nonce"))
	iv := sha256.Sum256([]byte("gcm-nonce-1"))
	return bytes.NewReader(append(nonce[:], iv[:12]...))
}

func vectorKey(t *testing.T) VendingKey {
	key, _ := hex.DecodeString("0123456789ABCDEF")
	return VendingKey{SGC: 123456, KRN: 1, KT: 2, BDT: 2014, DKGA: 2, EA: 7, KEN: 255,
		ACT: mustTime(t, "20250101T000000Z"), IUT: mustTime(t, "20260101T000000Z"), CLM: 0xFFFFFFFF, Key: key}
}

// TestVectors reproduces every record of §3.7 through the protocol: the
// SM's request, the KMC's check, the Key Load File, and the SM opening it.
func TestVectors(t *testing.T) {
	want := loadVectors(t)
	f := newFixture(t)
	if got, err := f.pk.Format(); err != nil || got != want["PK_ECDH"] {
		t.Fatalf("PK.ECDH.1 = %s, %v\nwant %s", got, err, want["PK_ECDH"])
	}
	req := f.request(t)
	if got, err := req.Format(); err != nil || got != want["VKLOAD_REQ"] {
		t.Fatalf("VKLOAD.REQ.1 = %s, %v\nwant %s", got, err, want["VKLOAD_REQ"])
	}
	if err := VerifyRequest(f.kmc, req, f.tReq.Add(time.Minute), 10*time.Minute); err != nil {
		t.Fatalf("VerifyRequest: %v", err)
	}
	bodies, err := Issue(f.kmc, req, []VendingKey{vectorKey(t)}, mustTime(t, "20250103T121500Z"), vectorRandom())
	if err != nil {
		t.Fatal(err)
	}
	for i, name := range []string{"KLF_HDR", "VK_REC", "KLF_END"} {
		if bodies[i] != want[name] {
			t.Errorf("%s = %s\nwant %s", name, bodies[i], want[name])
		}
	}
	keys, err := Open(f.sm, Pending{KMC: f.pk, RequestTime: f.tReq}, bodies)
	if err != nil {
		t.Fatal(err)
	}
	if len(keys) != 1 || !bytes.Equal(keys[0].Key, vectorKey(t).Key) || keys[0].SGC != 123456 || keys[0].CLM != 0xFFFFFFFF {
		t.Errorf("Open = %v", keys)
	}
}

// TestManyKeys issues 25 keys (the SM's minimum register count) of both
// sizes with real randomness and opens them.
func TestManyKeys(t *testing.T) {
	f := newFixture(t)
	req := f.request(t)
	var keys []VendingKey
	for i := range 25 {
		k := vectorKey(t)
		k.SGC, k.Key = 100000+i, bytes.Repeat([]byte{byte(i + 1)}, 8+12*(i%2))
		k.DKGA = 2 + 2*(i%2)
		keys = append(keys, k)
	}
	bodies, err := Issue(f.kmc, req, keys, f.tReq.Add(time.Minute), nil)
	if err != nil {
		t.Fatal(err)
	}
	got, err := Open(f.sm, Pending{KMC: f.pk, RequestTime: f.tReq}, bodies)
	if err != nil {
		t.Fatal(err)
	}
	for i := range keys {
		if !bytes.Equal(got[i].Key, keys[i].Key) || got[i].SGC != keys[i].SGC || got[i].DKGA != keys[i].DKGA {
			t.Errorf("key %d: got %v, want %v", i, got[i], keys[i])
		}
	}
}

func TestVerifyRequestRejects(t *testing.T) {
	f := newFixture(t)
	other, _ := keyagree.TestKey("another-sm")
	tests := []struct {
		name   string
		mangle func(*records.VKLoadReq)
		now    time.Time
		want   error
	}{
		{"tag", func(q *records.VKLoadReq) { q.Tag[0] ^= 1 }, f.tReq, keyagree.ErrTagMismatch},
		{"model changed after tagging", func(q *records.VKLoadReq) { q.Model = "Other-1" }, f.tReq, keyagree.ErrTagMismatch},
		{"stale", func(*records.VKLoadReq) {}, f.tReq.Add(time.Hour), ErrStale},
		{"from the future", func(*records.VKLoadReq) {}, f.tReq.Add(-time.Hour), ErrStale},
		{"public key not the SMID's", func(q *records.VKLoadReq) { q.PublicKey = other.PublicKey() }, f.tReq, ErrWrongSM},
		{"another KMC", func(q *records.VKLoadReq) { q.KMCID.ID = "K0002" }, f.tReq, ErrWrongKMC},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			req := f.request(t)
			tt.mangle(req)
			if err := VerifyRequest(f.kmc, req, tt.now, 10*time.Minute); !errors.Is(err, tt.want) {
				t.Errorf("VerifyRequest = %v, want %v", err, tt.want)
			}
		})
	}
}

func TestNewRequestRejects(t *testing.T) {
	f := newFixture(t)
	if _, err := NewRequest(f.sm, f.pk, f.pk.Expiry, "Test-SSM-1", "SSM1V100"); !errors.Is(err, ErrKMCKeyExpired) {
		t.Errorf("expired KMC key: %v", err)
	}
	other, _ := keyagree.TestKey("another-sm")
	if _, err := NewRequest(Module{other, f.sm.PKID}, f.pk, f.tReq, "Test-SSM-1", "SSM1V100"); !errors.Is(err, ErrWrongSM) {
		t.Errorf("SMID of another key: %v", err)
	}
}

// TestOpenRejects: every tampering is caught and no key comes out.
func TestOpenRejects(t *testing.T) {
	f := newFixture(t)
	req := f.request(t)
	keys := []VendingKey{vectorKey(t), vectorKey(t)}
	keys[1].SGC = 654321
	good, err := Issue(f.kmc, req, keys, f.tReq.Add(time.Minute), nil)
	if err != nil {
		t.Fatal(err)
	}
	reissue := func(mutate func(*records.VK), at int) []string {
		b := append([]string(nil), good...)
		rec, err := records.ParseVK(b[at])
		if err != nil {
			t.Fatal(err)
		}
		mutate(rec)
		if b[at], err = rec.Format(); err != nil {
			t.Fatal(err)
		}
		return b
	}
	otherPending := Pending{KMC: f.pk, RequestTime: f.tReq.Add(time.Second)}
	tests := []struct {
		name    string
		bodies  []string
		pending *Pending
		want    error
	}{
		{"dropped record", append(append([]string{}, good[:1]...), good[2:]...), nil, ErrStructure},
		{"swapped records", []string{good[0], good[2], good[1], good[3]}, nil, keyagree.ErrMACMismatch},
		{"SGC changed (CRC redone)", reissue(func(v *records.VK) { v.SGC = 111111 }, 1), nil, keyagree.ErrMACMismatch},
		{"another request", good, &otherPending, ErrNotPending},
		{"too few records", good[:2], nil, ErrStructure},
		{"bad CRC", append([]string{good[0][:len(good[0])-4] + "0000"}, good[1:]...), nil, records.ErrCRC},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p := Pending{KMC: f.pk, RequestTime: f.tReq}
			if tt.pending != nil {
				p = *tt.pending
			}
			got, err := Open(f.sm, p, tt.bodies)
			if !errors.Is(err, tt.want) || got != nil {
				t.Errorf("Open = %v, %v; want no keys and %v", got, err, tt.want)
			}
		})
	}
	other, _ := keyagree.TestKey("another-sm")
	otherID, _ := records.NewPKID(records.SMID, "TestVendor", "94000009", f.tReq, other.PublicKey())
	if _, err := Open(Module{other, otherID}, Pending{KMC: f.pk, RequestTime: f.tReq}, good); !errors.Is(err, ErrWrongSM) {
		t.Errorf("another SM opening the file: %v", err)
	}
}
