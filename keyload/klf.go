package keyload

import (
	"crypto/rand"
	"crypto/subtle"
	"fmt"
	"io"
	"time"

	"github.com/stskms/stskms/keyagree"
	"github.com/stskms/stskms/records"
)

// VendingKey is a vending key in clear with its attributes, as the KMC
// holds it and the SM loads it. It exists in clear only inside key custody.
type VendingKey struct {
	SGC  int       // supply group code
	KRN  int       // key revision number
	KT   int       // key type: 0 initialization, 1 VDDK, 2 VUDK, 3 VCDK
	BDT  int       // base date year
	DKGA int       // decoder key generation algorithm (2 or 4)
	EA   int       // encryption algorithm (7, 9 or 11)
	KEN  int       // key expiry number
	ACT  time.Time // activation: not before
	IUT  time.Time // issue until: not after
	CLM  uint32    // credit limit
	Key  []byte    // the key: 8 bytes (DKGA02) or 20 (DKGA04)
}

// Zero overwrites the key bytes.
func (v *VendingKey) Zero() { clear(v.Key) }

// String describes the key without its value.
func (v VendingKey) String() string {
	return fmt.Sprintf("VK SGC %06d KRN %d KT %d DKGA%02d EA%02d", v.SGC, v.KRN, v.KT, v.DKGA, v.EA)
}

// Issue makes the Key Load File that answers a verified request: the
// one-line bodies of KLF.HDR.1, one VK.1 per key (each wrapped under a key
// only the requesting SM can derive) and KLF.END.1. random supplies the
// nonce and the IVs (crypto/rand.Reader if nil).
func Issue(kmc Module, req *records.VKLoadReq, keys []VendingKey, at time.Time, random io.Reader) ([]string, error) {
	z, err := keyagree.SharedSecret(kmc.Key, req.PublicKey)
	if err != nil {
		return nil, err
	}
	defer clear(z)
	return IssueUnder(z, req, keys, at, random)
}

// IssueUnder is Issue with Z, the shared secret of the KMC's key and the
// SM's, computed by the caller: for a KMC whose private key stays in
// custody.
func IssueUnder(z []byte, req *records.VKLoadReq, keys []VendingKey, at time.Time, random io.Reader) ([]string, error) {
	if random == nil {
		random = rand.Reader
	}
	if len(keys) == 0 || len(keys) > records.MaxVKRecords {
		return nil, fmt.Errorf("%w: %d vending keys", ErrStructure, len(keys))
	}
	hdr := &records.KLFHeader{SMID: req.SMID, KMCID: req.KMCID, RequestTime: req.Time,
		IssueTime: at.UTC().Truncate(time.Second), Nonce: make([]byte, keyagree.NonceSize), Count: len(keys)}
	if _, err := io.ReadFull(random, hdr.Nonce); err != nil {
		return nil, err
	}
	fileKeys, err := fileKeysUnder(z, hdr)
	if err != nil {
		return nil, err
	}
	defer fileKeys.Zero()
	body, err := hdr.Format()
	if err != nil {
		return nil, err
	}
	bodies := []string{body}
	for i, k := range keys {
		if body, err = wrapKey(fileKeys, i+1, k, random); err != nil {
			return nil, fmt.Errorf("%v: %w", k, err)
		}
		bodies = append(bodies, body)
	}
	mac, err := fileKeys.MAC(bodies)
	if err != nil {
		return nil, err
	}
	end, err := (&records.KLFEnd{Count: len(keys), MAC: mac}).Format()
	if err != nil {
		return nil, err
	}
	return append(bodies, end), nil
}

// fileKeysUnder derives the file's KEK and MAC key from Z and the file
// header.
func fileKeysUnder(z []byte, hdr *records.KLFHeader) (*keyagree.KLFKeys, error) {
	return keyagree.DeriveKLFKeys(z, hdr.Nonce, hdr.SMID.String(), hdr.KMCID.String(), hdr.RequestTime.Format(records.TimeLayout))
}

// wrapKey makes the VK.1 record of key number seq.
func wrapKey(fileKeys *keyagree.KLFKeys, seq int, k VendingKey, random io.Reader) (string, error) {
	kcv, err := keyagree.KCV(k.Key)
	if err != nil {
		return "", err
	}
	rec := vkRecord(seq, k, kcv)
	rec.IV = make([]byte, keyagree.IVSize)
	if _, err := io.ReadFull(random, rec.IV); err != nil {
		return "", err
	}
	aad, err := rec.AAD()
	if err != nil {
		return "", err
	}
	if rec.Ciphertext, err = fileKeys.Wrap(rec.IV, k.Key, aad); err != nil {
		return "", err
	}
	return rec.Format()
}

func vkRecord(seq int, k VendingKey, kcv []byte) *records.VK {
	return &records.VK{Seq: seq, SGC: k.SGC, KRN: k.KRN, KT: k.KT, BDT: k.BDT, DKGA: k.DKGA, EA: k.EA,
		KEN: k.KEN, ACT: k.ACT, IUT: k.IUT, CLM: k.CLM, KCV: kcv}
}

// Pending is what the SM remembers of the request it made: the KMC key it
// was made for and its time.
type Pending struct {
	KMC         *records.PKECDH
	RequestTime time.Time
}

// Open is the SM's side: it checks a Key Load File (the one-line bodies, in
// order) against the pending request and returns every vending key in it,
// or none: header for this SM, this KMC key and this request; every record
// in place and counted; every key unwrapped under the file's key with its
// attributes as associated data and matching its KCV; the closing MAC over
// all records right.
func Open(sm Module, pending Pending, bodies []string) ([]VendingKey, error) {
	if err := sm.check(ErrWrongSM); err != nil {
		return nil, err
	}
	z, err := keyagree.SharedSecret(sm.Key, pending.KMC.PublicKey)
	if err != nil {
		return nil, err
	}
	defer clear(z)
	return OpenUnder(z, sm.PKID, pending, bodies)
}

// OpenUnder is Open with Z, the shared secret of the SM's key (named by
// smid) and the pending request's KMC key, computed by the caller: for an
// SM whose private key stays in custody.
func OpenUnder(z []byte, smid records.PKID, pending Pending, bodies []string) ([]VendingKey, error) {
	if len(bodies) < 3 {
		return nil, fmt.Errorf("%w: %d records", ErrStructure, len(bodies))
	}
	hdr, err := openHeader(smid, pending, bodies[0], len(bodies)-2)
	if err != nil {
		return nil, err
	}
	fileKeys, err := fileKeysUnder(z, hdr)
	if err != nil {
		return nil, err
	}
	defer fileKeys.Zero()
	if err := checkEnd(fileKeys, bodies, hdr.Count); err != nil {
		return nil, err
	}
	keys := make([]VendingKey, 0, hdr.Count)
	for i, body := range bodies[1 : len(bodies)-1] {
		k, err := unwrapKey(fileKeys, i+1, body)
		if err != nil {
			zeroAll(keys)
			return nil, err
		}
		keys = append(keys, k)
	}
	return keys, nil
}

func openHeader(smid records.PKID, pending Pending, body string, count int) (*records.KLFHeader, error) {
	hdr, err := records.ParseKLFHeader(body)
	if err != nil {
		return nil, err
	}
	switch {
	case !samePKID(hdr.SMID, smid):
		return nil, fmt.Errorf("%w: file is for %s", ErrWrongSM, hdr.SMID)
	case !samePKID(hdr.KMCID, pending.KMC.KMCID):
		return nil, fmt.Errorf("%w: file is from %s", ErrWrongKMC, hdr.KMCID)
	case !hdr.RequestTime.Equal(pending.RequestTime):
		return nil, fmt.Errorf("%w: file answers the request of %s", ErrNotPending, hdr.RequestTime.Format(records.TimeLayout))
	case hdr.Count != count:
		return nil, fmt.Errorf("%w: header counts %d keys, file has %d", ErrStructure, hdr.Count, count)
	}
	return hdr, nil
}

// checkEnd verifies the closing record: its count and the MAC over every
// record before it.
func checkEnd(fileKeys *keyagree.KLFKeys, bodies []string, count int) error {
	end, err := records.ParseKLFEnd(bodies[len(bodies)-1])
	if err != nil {
		return err
	}
	if end.Count != count {
		return fmt.Errorf("%w: end record counts %d keys, header %d", ErrStructure, end.Count, count)
	}
	return fileKeys.VerifyMAC(bodies[:len(bodies)-1], end.MAC)
}

func unwrapKey(fileKeys *keyagree.KLFKeys, seq int, body string) (VendingKey, error) {
	rec, err := records.ParseVK(body)
	if err != nil {
		return VendingKey{}, err
	}
	if rec.Seq != seq {
		return VendingKey{}, fmt.Errorf("%w: VK.1 number %d in place %d", ErrStructure, rec.Seq, seq)
	}
	aad, err := rec.AAD()
	if err != nil {
		return VendingKey{}, err
	}
	key, err := fileKeys.Unwrap(rec.IV, rec.Ciphertext, aad)
	if err != nil {
		return VendingKey{}, fmt.Errorf("VK.1 number %d: %w", seq, err)
	}
	k := VendingKey{SGC: rec.SGC, KRN: rec.KRN, KT: rec.KT, BDT: rec.BDT, DKGA: rec.DKGA, EA: rec.EA,
		KEN: rec.KEN, ACT: rec.ACT, IUT: rec.IUT, CLM: rec.CLM, Key: key}
	kcv, err := keyagree.KCV(key)
	if err != nil || subtle.ConstantTimeCompare(kcv, rec.KCV) != 1 {
		k.Zero()
		return VendingKey{}, fmt.Errorf("%w: VK.1 number %d", ErrKCV, seq)
	}
	return k, nil
}

func zeroAll(keys []VendingKey) {
	for i := range keys {
		keys[i].Zero()
	}
}
