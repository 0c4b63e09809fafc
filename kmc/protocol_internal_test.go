package kmc

import (
	"bytes"
	"crypto/sha256"
	"errors"
	"io"
	"slices"
	"testing"
	"time"

	"github.com/stskms/stskms/keyagree"
	"github.com/stskms/stskms/keyload"
	"github.com/stskms/stskms/records"
)

// The vectors of kms-records.md §3.7, printed by
// ../shared/notes/kms-vectors.py (also in docs/formats.md §8.1 and
// keyload/testdata/kms-vectors.json): the deterministic test keys
// sts-test-sm and sts-test-kmc, NONCE = SHA-256("kmc-nonce"),
// IV = SHA-256("gcm-nonce-1")[0:12], VK 0123456789ABCDEF.
const (
	vecPK  = "PK.ECDH.1|KMCID.1:TestKMC:K0001:20250101T000000Z:596A20E33788ED93:18C3|0477568BB20318E375F3B0D6FE43D56C7FB978B952A89494E80C977197F79E0FCEE2AF0727920410D2E4056AE241F503FEFB67AAD921C1741932BD467F3F14310E0726DA6F44E45A6877ED08A30889B61DE8AE4EA85B2F81EDE9DF87798FDCC0A7|20280101T000000Z|6492"
	vecReq = "VKLOAD.REQ.1|SMID.1:TestVendor:94000001:20250102T000000Z:930F65E7777667E1:A68E|KMCID.1:TestKMC:K0001:20250101T000000Z:596A20E33788ED93:18C3|20250103T120000Z|Test-SSM-1|SSM1V100|04B076D39141FF1BE3D708F4A30A027E103D3D10AABA4C7EE653CE36A3C5500100D2434963183B9A874542F7AA13654D55B60841166AAB5ABD8176625DF60B6B7CBB354A95AE94323A4B5AF64C81447A92FA2176031A91E9137FA079421F82129B|8B0CCC180C624F7368A491124328FFF8C7CDCF6EF5F4DFB7|7220"
	vecHdr = "KLF.HDR.1|SMID.1:TestVendor:94000001:20250102T000000Z:930F65E7777667E1:A68E|KMCID.1:TestKMC:K0001:20250101T000000Z:596A20E33788ED93:18C3|20250103T120000Z|20250103T121500Z|CF67CAC7C8091745577F1381724F2B2EE5999E2F91AA4E6C0C3DF0F4BF74713E|1|EB9C"
	vecVK  = "VK.1|1|123456|1|2|2014|02|07|255|20250101T000000Z|20260101T000000Z|FFFFFFFF|D5D44F|2A8418032A4E42EBCEB1C02B|6F68ED65A1741B6E0EEA151D5E8639BAABF36849C6EC227A|81BD"
	vecEnd = "KLF.END.1|1|8A38495B1FE3F9A8AFD998254663AA53681FED920A9D2330|B9E9"
)

func vectorRandom() io.Reader {
	nonce := sha256.Sum256([]byte("kmc-nonce"))
	iv := sha256.Sum256([]byte("gcm-nonce-1"))
	return bytes.NewReader(append(nonce[:], iv[:12]...))
}

func mustParse(t *testing.T, layout, s string) time.Time {
	t.Helper()
	at, err := time.Parse(layout, s)
	if err != nil {
		t.Fatal(err)
	}
	return at
}

// vectorWorld returns the KMC's private key, the request and the vector's
// vending key.
func vectorWorld(t *testing.T) (keyload.Module, *records.VKLoadReq, []byte, keyload.VendingKey) {
	t.Helper()
	kmcKey, err := keyagree.TestKey("sts-test-kmc")
	if err != nil {
		t.Fatal(err)
	}
	pk, err := records.ParsePKECDH(vecPK)
	if err != nil {
		t.Fatal(err)
	}
	req, err := records.ParseVKLoadReq(vecReq)
	if err != nil {
		t.Fatal(err)
	}
	z, err := keyagree.SharedSecret(kmcKey, req.PublicKey)
	if err != nil {
		t.Fatal(err)
	}
	vk := keyload.VendingKey{SGC: 123456, KRN: 1, KT: 2, BDT: 2014, DKGA: 2, EA: 7, KEN: 255,
		ACT: mustParse(t, records.TimeLayout, "20250101T000000Z"), IUT: mustParse(t, records.TimeLayout, "20260101T000000Z"),
		CLM: 0xFFFFFFFF, Key: []byte{0x01, 0x23, 0x45, 0x67, 0x89, 0xAB, 0xCD, 0xEF}}
	return keyload.Module{Key: kmcKey, PKID: pk.KMCID}, req, z, vk
}

// TestBuildKLFVectors: the KMC's file over Z is the vector file, byte for
// byte, and what keyload.Issue writes with the private key.
func TestBuildKLFVectors(t *testing.T) {
	mod, req, z, vk := vectorWorld(t)
	at := mustParse(t, records.TimeLayout, "20250103T121500Z")
	got, err := buildKLF(z, req, []keyload.VendingKey{vk}, at, vectorRandom())
	if err != nil {
		t.Fatal(err)
	}
	if want := []string{vecHdr, vecVK, vecEnd}; !slices.Equal(got, want) {
		t.Fatalf("buildKLF:\n%q\nwant the vectors\n%q", got, want)
	}
	viaKeyload, err := keyload.Issue(mod, req, []keyload.VendingKey{vk}, at, vectorRandom())
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(got, viaKeyload) {
		t.Fatal("buildKLF and keyload.Issue differ")
	}
}

// TestBuildKLFSameAsKeyload: with 25 keys of both lengths and any
// randomness, buildKLF and keyload.Issue agree.
func TestBuildKLFSameAsKeyload(t *testing.T) {
	mod, req, z, vk := vectorWorld(t)
	var keys []keyload.VendingKey
	for i := range 25 {
		k := vk
		k.SGC, k.KRN = 100000+i, i%9+1
		if i%2 == 1 {
			k.DKGA, k.EA, k.Key = 4, 11, bytes.Repeat([]byte{byte(i)}, 20)
		}
		keys = append(keys, k)
	}
	stream := make([]byte, 32+25*12)
	for i := range stream {
		stream[i] = byte(i * 7)
	}
	at := mustParse(t, records.TimeLayout, "20250103T121500Z")
	got, err := buildKLF(z, req, keys, at, bytes.NewReader(stream))
	if err != nil {
		t.Fatal(err)
	}
	want, err := keyload.Issue(mod, req, keys, at, bytes.NewReader(stream))
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(got, want) {
		t.Fatal("buildKLF and keyload.Issue differ")
	}
	if _, err := buildKLF(z, req, nil, at, nil); err == nil {
		t.Error("buildKLF without keys")
	}
}

// TestCheckTagVectors: the vector request's tag verifies; keyload agrees;
// a changed byte does not.
func TestCheckTagVectors(t *testing.T) {
	mod, req, z, _ := vectorWorld(t)
	if err := checkTag(z, req); err != nil {
		t.Fatal(err)
	}
	if err := keyload.VerifyRequest(mod, req, req.Time, time.Minute); err != nil {
		t.Fatal(err)
	}
	req.Tag[0] ^= 1
	if err := checkTag(z, req); !errors.Is(err, keyagree.ErrTagMismatch) {
		t.Fatalf("tampered tag: %v", err)
	}
}

// TestSetOddParity: every byte comes out with odd parity and only its low
// bit changed.
func TestSetOddParity(t *testing.T) {
	for b := range 256 {
		k := []byte{byte(b)}
		setOddParity(k)
		n := 0
		for x := k[0]; x != 0; x &= x - 1 {
			n++
		}
		if n%2 != 1 || k[0]&^1 != byte(b)&^1 {
			t.Fatalf("%02X → %02X", b, k[0])
		}
	}
}
