package kmc

import (
	"crypto/rand"
	"fmt"
	"io"
	"time"

	"github.com/stskms/stskms/keyagree"
	"github.com/stskms/stskms/keyload"
	"github.com/stskms/stskms/records"
)

// The KMC's half of the key-loading protocol of docs/formats.md §7, over a
// shared secret Z that the key custody computed: the KMC's ECDH private
// key never leaves custody, so the KMC cannot hand it to keyload.Issue and
// keyload.VerifyRequest, which take an *ecdh.PrivateKey. checkTag and
// buildKLF are those two functions with Z given instead; a test checks
// that buildKLF writes byte for byte what keyload.Issue writes, and the
// SM side (keyload.Open) is what every test opens the files with.

// checkTag verifies a request's tag under Z (constant time). It returns
// keyagree.ErrTagMismatch for a wrong tag.
func checkTag(z []byte, req *records.VKLoadReq) error {
	kReq, err := keyagree.RequestKey(z, req.Time.Format(records.TimeLayout), req.SMID.String(), req.KMCID.String())
	if err != nil {
		return err
	}
	defer clear(kReq)
	signed, err := req.TagInput()
	if err != nil {
		return err
	}
	return keyagree.VerifyRequestTag(kReq, signed, req.Tag)
}

// buildKLF makes the Key Load File answering req under Z: KLF.HDR.1, one
// VK.1 per key in order, KLF.END.1, as one-line bodies. random supplies
// the nonce and the IVs (crypto/rand if nil).
func buildKLF(z []byte, req *records.VKLoadReq, keys []keyload.VendingKey, at time.Time, random io.Reader) ([]string, error) {
	if random == nil {
		random = rand.Reader
	}
	if len(keys) == 0 || len(keys) > records.MaxVKRecords {
		return nil, fmt.Errorf("kmc: %d vending keys for one Key Load File (want 1 to %d)", len(keys), records.MaxVKRecords)
	}
	hdr := &records.KLFHeader{SMID: req.SMID, KMCID: req.KMCID, RequestTime: req.Time,
		IssueTime: at.UTC().Truncate(time.Second), Nonce: make([]byte, keyagree.NonceSize), Count: len(keys)}
	if _, err := io.ReadFull(random, hdr.Nonce); err != nil {
		return nil, err
	}
	fileKeys, err := keyagree.DeriveKLFKeys(z, hdr.Nonce, hdr.SMID.String(), hdr.KMCID.String(), hdr.RequestTime.Format(records.TimeLayout))
	if err != nil {
		return nil, err
	}
	defer fileKeys.Zero()
	body, err := hdr.Format()
	if err != nil {
		return nil, err
	}
	bodies := make([]string, 0, len(keys)+2)
	bodies = append(bodies, body)
	for i, k := range keys {
		kcv, err := keyagree.KCV(k.Key)
		if err != nil {
			return nil, fmt.Errorf("kmc: %v: %w", k, err)
		}
		rec := &records.VK{Seq: i + 1, SGC: k.SGC, KRN: k.KRN, KT: k.KT, BDT: k.BDT, DKGA: k.DKGA, EA: k.EA,
			KEN: k.KEN, ACT: k.ACT, IUT: k.IUT, CLM: k.CLM, KCV: kcv, IV: make([]byte, keyagree.IVSize)}
		if _, err := io.ReadFull(random, rec.IV); err != nil {
			return nil, err
		}
		aad, err := rec.AAD()
		if err != nil {
			return nil, fmt.Errorf("kmc: %v: %w", k, err)
		}
		if rec.Ciphertext, err = fileKeys.Wrap(rec.IV, k.Key, aad); err != nil {
			return nil, fmt.Errorf("kmc: %v: %w", k, err)
		}
		if body, err = rec.Format(); err != nil {
			return nil, fmt.Errorf("kmc: %v: %w", k, err)
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
