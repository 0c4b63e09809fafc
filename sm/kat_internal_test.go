package sm

import (
	"strconv"
	"strings"
	"testing"

	"github.com/stskms/stskms/internal/testvec"
)

// TestKATVectors checks each known-answer vector copied into selftest.go
// against the file it was taken from, so the copies cannot drift.
func TestKATVectors(t *testing.T) {
	type tokenFile []struct {
		ID     string `json:"id"`
		Inputs struct {
			VK       string `json:"vending_key_hex"`
			DKGA     string `json:"dkga"`
			KT       int    `json:"key_type"`
			SGC      string `json:"sgc"`
			TI       string `json:"ti"`
			KRN      int    `json:"krn"`
			PAN      string `json:"pan"`
			BaseDate int    `json:"base_date"`
			TID      uint32 `json:"tid"`
			RND      uint8  `json:"rnd"`
			Amount   uint64 `json:"amount_tenths"`
			Class    int    `json:"class"`
			Subclass int    `json:"subclass"`
		} `json:"inputs"`
		Expected struct {
			DecoderKey string `json:"decoder_key_hex"`
			Token      string `json:"token20"`
		} `json:"expected"`
	}
	for _, c := range []struct {
		file string
		v    tokenVector
	}{
		{"../sts/testdata/tokens-sta-test.json", katSTA},
		{"../sts/testdata/tokens.json", katDKGA04},
	} {
		var vs tokenFile
		testvec.Load(t, c.file, &vs)
		found := false
		for _, x := range vs {
			if x.ID != c.v.id {
				continue
			}
			found = true
			in, v := x.Inputs, c.v
			sgc, _ := strconv.Atoi(in.SGC)
			ti, _ := strconv.Atoi(in.TI)
			if in.VK != v.vk || in.DKGA != v.alg.String() || in.KT != int(v.kt) || sgc != int(v.sgc) || ti != int(v.ti) ||
				in.KRN != int(v.krn) || in.PAN != v.pan || in.BaseDate != int(v.bdt) || in.TID != v.tid || in.RND != v.rnd ||
				in.Amount != v.amount || in.Class != 0 || in.Subclass != 0 ||
				x.Expected.DecoderKey != v.decoderKey || x.Expected.Token != v.token {
				t.Errorf("%s: the copy in selftest.go differs from %s", v.id, c.file)
			}
		}
		if !found {
			t.Errorf("%s not in %s", c.v.id, c.file)
		}
	}

	var misty []struct{ ID, Key_hex, Plaintext_hex, Ciphertext_hex string }
	testvec.Load(t, "../sts/misty1/testdata/rfc2994.json", &misty)
	if len(misty) == 0 || misty[0].Key_hex != "00112233445566778899aabbccddeeff" ||
		misty[0].Plaintext_hex != "0123456789abcdef" || misty[0].Ciphertext_hex != "8b1da5f56ab3d07c" {
		t.Errorf("MISTY1 vector differs from rfc2994.json: %+v", misty)
	}

	var kms struct {
		Inputs   map[string]string `json:"inputs"`
		Expected map[string]string `json:"expected"`
	}
	testvec.Load(t, "../keyagree/testdata/kms-vectors.json", &kms)
	if kms.Inputs["smid"] != katSMID || kms.Inputs["kmcid"] != katKMCID || kms.Inputs["t_req"] != katTReq ||
		!strings.EqualFold(kms.Expected["z_hex"], katZ) || !strings.EqualFold(kms.Expected["k_req_hex"], katKReq) ||
		kms.Inputs["sm_label"] != "sts-test-sm" || kms.Inputs["kmc_label"] != "sts-test-kmc" {
		t.Error("ECDH vector differs from kms-vectors.json")
	}
}
