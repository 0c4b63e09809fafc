package keyagree_test

import (
	"bytes"
	"crypto/sha256"
	"strings"
	"testing"

	"github.com/stskms/stskms/internal/testvec"
	"github.com/stskms/stskms/keyagree"
)

// The tests of this file reproduce every value kms-vectors.py prints for
// the proposal scheme (kms-records.md §3.7), from testdata/kms-vectors.json.

// TestVectorProvenance guards the provenance line of the vector file.
func TestVectorProvenance(t *testing.T) {
	v := loadVectors(t)
	if want := "computed by ../shared/notes/kms-vectors.py; kms-records.md §3.7"; v.Source != want {
		t.Errorf("source = %q, want %q", v.Source, want)
	}
}

// TestVectorTestKeys: PUB_SM and PUB_KMC of the script, from d =
// SHA-384(label) mod n with labels sts-test-sm and sts-test-kmc.
func TestVectorTestKeys(t *testing.T) {
	v := loadVectors(t)
	tests := []struct {
		label, wantPub string
	}{
		{v.Inputs.SMLabel, v.Expected.PubSMHex},
		{v.Inputs.KMCLabel, v.Expected.PubKMCHex},
	}
	for _, tt := range tests {
		t.Run(tt.label, func(t *testing.T) {
			k := mustTestKey(t, tt.label)
			if got := upperHex(k.PublicKey().Bytes()); got != tt.wantPub {
				t.Errorf("public key = %s, want %s", got, tt.wantPub)
			}
			again := mustTestKey(t, tt.label)
			if !k.Equal(again) {
				t.Error("TestKey is not deterministic")
			}
			// The public key round-trips through ParsePublicKey, as
			// records hand it over.
			pub, err := keyagree.ParsePublicKey(testvec.Hex(t, tt.wantPub))
			if err != nil {
				t.Fatal(err)
			}
			if !pub.Equal(k.PublicKey()) {
				t.Error("ParsePublicKey gives another key")
			}
		})
	}
}

// TestVectorSharedSecret: Z of §3.7, the same in both directions.
func TestVectorSharedSecret(t *testing.T) {
	f := newFixture(t)
	tests := []struct {
		name string
		priv string
		peer string
	}{
		{"SM to KMC", f.v.Inputs.SMLabel, f.v.Expected.PubKMCHex},
		{"KMC to SM", f.v.Inputs.KMCLabel, f.v.Expected.PubSMHex},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			z := partySecret(t, tt.priv, tt.peer)
			if got := upperHex(z); got != f.v.Expected.ZHex {
				t.Errorf("Z = %s, want %s", got, f.v.Expected.ZHex)
			}
			if len(z) != keyagree.SharedSecretSize {
				t.Errorf("len(Z) = %d", len(z))
			}
		})
	}
}

// TestVectorRequest: K_req and the VKLOAD.REQ.1 TAG
// 8B0CCC180C624F7368A491124328FFF8C7CDCF6EF5F4DFB7 over the printed
// record's prefix; the record is prefix‖TAG‖"|"‖CRC 7220.
func TestVectorRequest(t *testing.T) {
	f := newFixture(t)
	want := &f.v.Expected
	if got := upperHex(f.kReq); got != want.KReqHex {
		t.Errorf("K_req = %s, want %s", got, want.KReqHex)
	}
	if !strings.HasPrefix(want.VKLoadReq, f.signed) {
		t.Fatalf("rebuilt signed prefix %q is not a prefix of the vector record", f.signed)
	}
	tag, err := keyagree.RequestTag(f.kReq, f.signed)
	if err != nil {
		t.Fatal(err)
	}
	if got := upperHex(tag); got != want.TagHex {
		t.Errorf("TAG = %s, want %s", got, want.TagHex)
	}
	rec := withCRC(f.signed + upperHex(tag) + "|")
	if rec != want.VKLoadReq {
		t.Errorf("record = %s\nwant     %s", rec, want.VKLoadReq)
	}
	if crc := rec[len(rec)-4:]; crc != want.VKLoadReqCRC {
		t.Errorf("CRC = %s, want %s", crc, want.VKLoadReqCRC)
	}
	if err := keyagree.VerifyRequestTag(f.kReq, f.signed, testvec.Hex(t, want.TagHex)); err != nil {
		t.Errorf("VerifyRequestTag: %v", err)
	}
}

// TestVectorKLFKeys: NONCE = SHA-256("kmc-nonce"), KEK and K_mac of §3.7.
func TestVectorKLFKeys(t *testing.T) {
	f := newFixture(t)
	want := &f.v.Expected
	if n := sha256.Sum256([]byte("kmc-nonce")); !bytes.Equal(n[:], f.nonce) {
		t.Errorf("nonce_hex is not SHA-256(\"kmc-nonce\")")
	}
	if got := upperHex(f.keys.KEKForTest()); got != want.KEKHex {
		t.Errorf("KEK = %s, want %s", got, want.KEKHex)
	}
	if got := upperHex(f.keys.MACKeyForTest()); got != want.KMACHex {
		t.Errorf("K_mac = %s, want %s", got, want.KMACHex)
	}
	hdr := withCRC("KLF.HDR.1|" + f.v.Inputs.SMID + "|" + f.v.Inputs.KMCID + "|" + f.v.Inputs.TReq + "|" +
		f.v.Inputs.TIssue + "|" + upperHex(f.nonce) + "|1|")
	if hdr != want.KLFHdr {
		t.Errorf("KLF.HDR.1 = %s\nwant        %s", hdr, want.KLFHdr)
	}
	if crc := hdr[len(hdr)-4:]; crc != want.KLFHdrCRC {
		t.Errorf("KLF.HDR.1 CRC = %s, want %s", crc, want.KLFHdrCRC)
	}
}

// TestVectorWrap: IV = SHA-256("gcm-nonce-1")[0:12], KCV D5D44F, the VK.1
// ciphertext 6F68…227A over AAD = the VK.1 prefix through the "|" before
// the IV, the record with CRC 81BD, and the unwrap back to the VK.
func TestVectorWrap(t *testing.T) {
	f := newFixture(t)
	want := &f.v.Expected
	if h := sha256.Sum256([]byte("gcm-nonce-1")); !bytes.Equal(h[:keyagree.IVSize], f.iv) {
		t.Errorf("iv_hex is not SHA-256(\"gcm-nonce-1\")[0:12]")
	}
	kcv, err := keyagree.KCV(f.vk)
	if err != nil {
		t.Fatal(err)
	}
	if got := upperHex(kcv); got != want.KCVHex {
		t.Errorf("KCV = %s, want %s", got, want.KCVHex)
	}
	ct, err := f.keys.Wrap(f.iv, f.vk, f.vkAAD)
	if err != nil {
		t.Fatal(err)
	}
	if got := upperHex(ct); got != want.CTHex {
		t.Errorf("CT = %s, want %s", got, want.CTHex)
	}
	if len(ct) != len(f.vk)+keyagree.GCMTagSize {
		t.Errorf("len(CT) = %d", len(ct))
	}
	rec := withCRC(f.vkAAD + upperHex(f.iv) + "|" + upperHex(ct) + "|")
	if rec != want.VKRec {
		t.Errorf("VK.1 = %s\nwant   %s", rec, want.VKRec)
	}
	if crc := rec[len(rec)-4:]; crc != want.VKRecCRC {
		t.Errorf("VK.1 CRC = %s, want %s", crc, want.VKRecCRC)
	}
	vk, err := f.keys.Unwrap(f.iv, testvec.Hex(t, want.CTHex), f.vkAAD)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(vk, f.vk) {
		t.Errorf("Unwrap = %X, want %X", vk, f.vk)
	}
}

// TestVectorMAC: the KLF.END.1 MAC 8A38…2330 over KLF_HDR+"\n"+VK_REC+"\n"
// and the closing record with CRC B9E9.
func TestVectorMAC(t *testing.T) {
	f := newFixture(t)
	want := &f.v.Expected
	mac, err := f.keys.MAC(f.macInput)
	if err != nil {
		t.Fatal(err)
	}
	if got := upperHex(mac); got != want.MACHex {
		t.Errorf("MAC = %s, want %s", got, want.MACHex)
	}
	rec := withCRC("KLF.END.1|1|" + upperHex(mac) + "|")
	if rec != want.KLFEnd {
		t.Errorf("KLF.END.1 = %s, want %s", rec, want.KLFEnd)
	}
	if crc := rec[len(rec)-4:]; crc != want.KLFEndCRC {
		t.Errorf("KLF.END.1 CRC = %s, want %s", crc, want.KLFEndCRC)
	}
	if err := f.keys.VerifyMAC(f.macInput, mac); err != nil {
		t.Errorf("VerifyMAC: %v", err)
	}
}

// TestVectorRecordValues checks the remaining printed values, which belong
// to package records but pin the inputs used above: the PKID key hashes
// (KH = SHA-256(point)[0:8], §3.2), PK.ECDH.1 with CRC 6492 and its
// fingerprint 6EBBE79FF38E2C72 (SHA-256 of the record, §3.3), and the CRC
// of every PKID and record.
func TestVectorRecordValues(t *testing.T) {
	v := loadVectors(t)
	kh := func(pubHex string) string {
		h := sha256.Sum256(testvec.Hex(t, pubHex))
		return upperHex(h[:8])
	}
	pkids := []struct {
		name, pkid, pubHex string
	}{
		{"SMID", v.Inputs.SMID, v.Expected.PubSMHex},
		{"KMCID", v.Inputs.KMCID, v.Expected.PubKMCHex},
	}
	for _, p := range pkids {
		parts := strings.Split(p.pkid, ":")
		if len(parts) != 6 {
			t.Fatalf("%s %q has %d fields", p.name, p.pkid, len(parts))
		}
		if parts[4] != kh(p.pubHex) {
			t.Errorf("%s KH = %s, want %s", p.name, parts[4], kh(p.pubHex))
		}
		if body := p.pkid[:len(p.pkid)-4]; crcModbus(body) != parts[5] {
			t.Errorf("%s CRC = %s, want %s", p.name, parts[5], crcModbus(body))
		}
	}
	pk := withCRC("PK.ECDH.1|" + v.Inputs.KMCID + "|" + v.Expected.PubKMCHex + "|20280101T000000Z|")
	if pk != v.Expected.PKECDH {
		t.Errorf("PK.ECDH.1 = %s\nwant        %s", pk, v.Expected.PKECDH)
	}
	if crc := pk[len(pk)-4:]; crc != v.Expected.PKECDHCRC {
		t.Errorf("PK.ECDH.1 CRC = %s, want %s", crc, v.Expected.PKECDHCRC)
	}
	fp := sha256.Sum256([]byte(v.Expected.PKECDH))
	if got := upperHex(fp[:8]); got != v.Expected.FingerprintHex {
		t.Errorf("fingerprint = %s, want %s", got, v.Expected.FingerprintHex)
	}
	for _, r := range []string{v.Expected.PKECDH, v.Expected.VKLoadReq, v.Expected.KLFHdr, v.Expected.VKRec, v.Expected.KLFEnd} {
		if got := withCRC(r[:len(r)-4]); got != r {
			t.Errorf("CRC of %.20s… = %s, want %s", r, got[len(got)-4:], r[len(r)-4:])
		}
	}
}

// TestVectorProtocol runs the §3.4–§3.5 exchange end to end as the two
// parties would, each with only its own private key and the other's public
// key taken from a record: the SM tags the request, the KMC verifies it and
// builds the KLF, the SM checks the MAC and unwraps the vending key. Every
// intermediate equals the §3.7 vector.
func TestVectorProtocol(t *testing.T) {
	v := loadVectors(t)
	in, want := &v.Inputs, &v.Expected

	// SM side: request.
	zSM := partySecret(t, in.SMLabel, want.PubKMCHex)
	kReqSM, err := keyagree.RequestKey(zSM, in.TReq, in.SMID, in.KMCID)
	if err != nil {
		t.Fatal(err)
	}
	signed := want.VKLoadReq[:strings.LastIndex(want.VKLoadReq[:len(want.VKLoadReq)-5], "|")+1]
	tag, err := keyagree.RequestTag(kReqSM, signed)
	if err != nil {
		t.Fatal(err)
	}
	clear(kReqSM)

	// KMC side: verify the request, build the file.
	zKMC := partySecret(t, in.KMCLabel, want.PubSMHex)
	kReqKMC, err := keyagree.RequestKey(zKMC, in.TReq, in.SMID, in.KMCID)
	if err != nil {
		t.Fatal(err)
	}
	if err := keyagree.VerifyRequestTag(kReqKMC, signed, tag); err != nil {
		t.Fatalf("KMC rejects the SM's tag: %v", err)
	}
	nonce := testvec.Hex(t, want.NonceHex)
	kmcKeys, err := keyagree.DeriveKLFKeys(zKMC, nonce, in.SMID, in.KMCID, in.TReq)
	if err != nil {
		t.Fatal(err)
	}
	defer kmcKeys.Zero()
	vk := testvec.Hex(t, in.VKHex)
	kcv, err := keyagree.KCV(vk)
	if err != nil {
		t.Fatal(err)
	}
	aad := "VK.1|1|123456|1|2|2014|02|07|255|20250101T000000Z|20260101T000000Z|FFFFFFFF|" + upperHex(kcv) + "|"
	iv := testvec.Hex(t, want.IVHex)
	ct, err := kmcKeys.Wrap(iv, vk, aad)
	if err != nil {
		t.Fatal(err)
	}
	hdr := want.KLFHdr
	vkRec := withCRC(aad + upperHex(iv) + "|" + upperHex(ct) + "|")
	mac, err := kmcKeys.MAC([]string{hdr, vkRec})
	if err != nil {
		t.Fatal(err)
	}
	end := withCRC("KLF.END.1|1|" + upperHex(mac) + "|")
	if vkRec != want.VKRec || end != want.KLFEnd {
		t.Fatalf("KLF differs from the vector:\n%s\n%s", vkRec, end)
	}

	// SM side: load the file.
	smKeys, err := keyagree.DeriveKLFKeys(zSM, nonce, in.SMID, in.KMCID, in.TReq)
	if err != nil {
		t.Fatal(err)
	}
	defer smKeys.Zero()
	if err := smKeys.VerifyMAC([]string{hdr, vkRec}, mac); err != nil {
		t.Fatalf("SM rejects the KLF MAC: %v", err)
	}
	got, err := smKeys.Unwrap(iv, ct, aad)
	if err != nil {
		t.Fatalf("SM cannot unwrap: %v", err)
	}
	if !bytes.Equal(got, vk) {
		t.Errorf("SM unwrapped %X, want %X", got, vk)
	}
}
