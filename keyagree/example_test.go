package keyagree_test

import (
	"fmt"

	"github.com/stskms/stskms/keyagree"
)

// Example runs the key agreement of kms-records.md §3.4–§3.5 with the
// deterministic TEST keys, nonce and IV of the §3.7 vectors. Real modules
// and KMCs use generated keys, NewNonce and NewIV.
func Example() {
	const (
		smid  = "SMID.1:TestVendor:94000001:20250102T000000Z:930F65E7777667E1:A68E"
		kmcid = "KMCID.1:TestKMC:K0001:20250101T000000Z:596A20E33788ED93:18C3"
		tReq  = "20250103T120000Z"
	)
	sm, _ := keyagree.TestKey("sts-test-sm")
	kmc, _ := keyagree.TestKey("sts-test-kmc")

	// SM: Z with the KMC's PK.ECDH.1 key, then the request tag.
	z, _ := keyagree.SharedSecret(sm, kmc.PublicKey())
	kReq, _ := keyagree.RequestKey(z, tReq, smid, kmcid)
	signed := fmt.Sprintf("VKLOAD.REQ.1|%s|%s|%s|Test-SSM-1|SSM1V100|%X|", smid, kmcid, tReq, sm.PublicKey().Bytes())
	tag, _ := keyagree.RequestTag(kReq, signed)
	fmt.Printf("TAG %X\n", tag)

	// KMC: the same Z from the SM's key; verify, then wrap a vending key.
	z2, _ := keyagree.SharedSecret(kmc, sm.PublicKey())
	kReq2, _ := keyagree.RequestKey(z2, tReq, smid, kmcid)
	fmt.Println("tag verifies:", keyagree.VerifyRequestTag(kReq2, signed, tag) == nil)

	nonce := []byte{0xCF, 0x67, 0xCA, 0xC7, 0xC8, 0x09, 0x17, 0x45, 0x57, 0x7F, 0x13, 0x81, 0x72, 0x4F, 0x2B, 0x2E,
		0xE5, 0x99, 0x9E, 0x2F, 0x91, 0xAA, 0x4E, 0x6C, 0x0C, 0x3D, 0xF0, 0xF4, 0xBF, 0x74, 0x71, 0x3E} // SHA-256("kmc-nonce")
	keys, _ := keyagree.DeriveKLFKeys(z2, nonce, smid, kmcid, tReq)
	defer keys.Zero()
	vk := []byte{0x01, 0x23, 0x45, 0x67, 0x89, 0xAB, 0xCD, 0xEF}
	kcv, _ := keyagree.KCV(vk)
	aad := fmt.Sprintf("VK.1|1|123456|1|2|2014|02|07|255|20250101T000000Z|20260101T000000Z|FFFFFFFF|%X|", kcv)
	iv := []byte{0x2A, 0x84, 0x18, 0x03, 0x2A, 0x4E, 0x42, 0xEB, 0xCE, 0xB1, 0xC0, 0x2B} // SHA-256("gcm-nonce-1")[0:12]
	ct, _ := keys.Wrap(iv, vk, aad)
	fmt.Printf("KCV %X\nCT  %X\n", kcv, ct)
	fmt.Println(keys)

	// Output:
	// TAG 8B0CCC180C624F7368A491124328FFF8C7CDCF6EF5F4DFB7
	// tag verifies: true
	// KCV D5D44F
	// CT  6F68ED65A1741B6E0EEA151D5E8639BAABF36849C6EC227A
	// keyagree.KLFKeys{REDACTED}
}
