package keyagree_test

import (
	"crypto/ecdh"
	"encoding/hex"
	"fmt"
	"strings"
	"testing"

	"github.com/stskms/stskms/internal/testvec"
	"github.com/stskms/stskms/keyagree"
)

// vectorFile holds every value kms-vectors.py prints for the proposal
// scheme: computed by docs/notes/kms-vectors.py; kms-records.md §3.7.
// Never edit an expected value; a failure means our code is wrong.
const vectorFile = "testdata/kms-vectors.json"

type kmsVectors struct {
	Source string `json:"source"`
	Inputs struct {
		SMLabel    string `json:"sm_label"`
		KMCLabel   string `json:"kmc_label"`
		SMID       string `json:"smid"`
		KMCID      string `json:"kmcid"`
		TReq       string `json:"t_req"`
		SMModel    string `json:"sm_model"`
		SMFirmware string `json:"sm_firmware"`
		TIssue     string `json:"t_issue"`
		VKHex      string `json:"vk_hex"`
	} `json:"inputs"`
	Expected struct {
		PubSMHex       string `json:"pub_sm_hex"`
		PubKMCHex      string `json:"pub_kmc_hex"`
		PKECDH         string `json:"pk_ecdh"`
		PKECDHCRC      string `json:"pk_ecdh_crc"`
		FingerprintHex string `json:"fingerprint_hex"`
		ZHex           string `json:"z_hex"`
		KReqHex        string `json:"k_req_hex"`
		VKLoadReq      string `json:"vkload_req"`
		TagHex         string `json:"tag_hex"`
		VKLoadReqCRC   string `json:"vkload_req_crc"`
		NonceHex       string `json:"nonce_hex"`
		KEKHex         string `json:"kek_hex"`
		KMACHex        string `json:"k_mac_hex"`
		KLFHdr         string `json:"klf_hdr"`
		KLFHdrCRC      string `json:"klf_hdr_crc"`
		IVHex          string `json:"iv_hex"`
		KCVHex         string `json:"kcv_hex"`
		CTHex          string `json:"ct_hex"`
		VKRec          string `json:"vk_rec"`
		VKRecCRC       string `json:"vk_rec_crc"`
		MACHex         string `json:"mac_hex"`
		KLFEnd         string `json:"klf_end"`
		KLFEndCRC      string `json:"klf_end_crc"`
	} `json:"expected"`
}

func loadVectors(tb testing.TB) *kmsVectors {
	tb.Helper()
	v := new(kmsVectors)
	testvec.Load(tb, vectorFile, v)
	return v
}

func upperHex(b []byte) string { return strings.ToUpper(hex.EncodeToString(b)) }

func mustTestKey(tb testing.TB, label string) *ecdh.PrivateKey {
	tb.Helper()
	k, err := keyagree.TestKey(label)
	if err != nil {
		tb.Fatal(err)
	}
	return k
}

// partySecret is Z as one party of §3.7 computes it: from its own test key
// (label) and the other party's public key as a record prints it (hex).
func partySecret(tb testing.TB, label, peerHex string) []byte {
	tb.Helper()
	peer, err := keyagree.ParsePublicKey(testvec.Hex(tb, peerHex))
	if err != nil {
		tb.Fatal(err)
	}
	z, err := keyagree.SharedSecret(mustTestKey(tb, label), peer)
	if err != nil {
		tb.Fatal(err)
	}
	return z
}

// crcModbus is CRC-16/MODBUS (kms-records.md §2.3: poly 0x8005 reflected,
// init 0xFFFF), the crc16_modbus of kms-vectors.py, used here only
// to check that the stored record strings are self-consistent. Package
// records owns the production CRC.
func crcModbus(s string) string {
	c := uint16(0xFFFF)
	for i := 0; i < len(s); i++ {
		c ^= uint16(s[i])
		for range 8 {
			if c&1 != 0 {
				c = c>>1 ^ 0xA001
			} else {
				c >>= 1
			}
		}
	}
	return fmt.Sprintf("%04X", c)
}

// withCRC appends the CRC of a record prefix that ends with "|", as rec()
// of kms-vectors.py does.
func withCRC(prefix string) string { return prefix + crcModbus(prefix) }

// fixture is the §3.7 scenario with every derived value recomputed by this
// package: both test keys, Z, K_req and the KLF keys.
type fixture struct {
	v        *kmsVectors
	sm, kmc  *ecdh.PrivateKey
	z        []byte
	kReq     []byte
	nonce    []byte
	iv       []byte
	vk       []byte
	keys     *keyagree.KLFKeys
	signed   string // VKLOAD.REQ.1 through the "|" before TAG
	vkAAD    string // VK.1 through the "|" before IV
	ct       []byte
	mac      []byte
	macInput []string
}

func newFixture(tb testing.TB) *fixture {
	tb.Helper()
	f := &fixture{v: loadVectors(tb)}
	in, want := &f.v.Inputs, &f.v.Expected
	f.sm, f.kmc = mustTestKey(tb, in.SMLabel), mustTestKey(tb, in.KMCLabel)
	var err error
	if f.z, err = keyagree.SharedSecret(f.sm, f.kmc.PublicKey()); err != nil {
		tb.Fatal(err)
	}
	if f.kReq, err = keyagree.RequestKey(f.z, in.TReq, in.SMID, in.KMCID); err != nil {
		tb.Fatal(err)
	}
	f.signed = "VKLOAD.REQ.1|" + in.SMID + "|" + in.KMCID + "|" + in.TReq + "|" +
		in.SMModel + "|" + in.SMFirmware + "|" + want.PubSMHex + "|"
	f.nonce, f.iv, f.vk = testvec.Hex(tb, want.NonceHex), testvec.Hex(tb, want.IVHex), testvec.Hex(tb, in.VKHex)
	if f.keys, err = keyagree.DeriveKLFKeys(f.z, f.nonce, in.SMID, in.KMCID, in.TReq); err != nil {
		tb.Fatal(err)
	}
	f.vkAAD = "VK.1|1|123456|1|2|2014|02|07|255|20250101T000000Z|20260101T000000Z|FFFFFFFF|" + want.KCVHex + "|"
	f.ct, f.mac = testvec.Hex(tb, want.CTHex), testvec.Hex(tb, want.MACHex)
	f.macInput = []string{want.KLFHdr, want.VKRec}
	return f
}
