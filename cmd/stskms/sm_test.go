package main

import (
	"bytes"
	"crypto/rand"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/stskms/stskms/keyagree"
	"github.com/stskms/stskms/keyload"
	"github.com/stskms/stskms/meter"
	"github.com/stskms/stskms/records"
	"github.com/stskms/stskms/records/armor"
	"github.com/stskms/stskms/sts"
	"github.com/stskms/stskms/sts/dkga"
	"github.com/stskms/stskms/sts/sta"
)

// TestSMCommandLineLoad runs the module's whole path through the command
// line: init, install a KMC key, request, load the Key Load File the KMC
// side (Go code with keyload, as the sm scripts cannot have one) makes for
// the printed request, vend credit a meter accepts, the same request id
// again, a key change the meter accepts, verify, audit verify.
func TestSMCommandLineLoad(t *testing.T) {
	work := t.TempDir()
	dir := initTestSM(t)
	sh := func(stdin string, args ...string) string {
		t.Helper()
		var out, errOut bytes.Buffer
		if code := run(args, strings.NewReader(stdin), &out, &errOut); code != 0 {
			t.Fatalf("stskms %s: exit %d\n%s", strings.Join(args, " "), code, errOut.String())
		}
		return out.String()
	}

	// The KMC side: its key, PK.ECDH.1 and fingerprint.
	kmcKey, err := keyagree.TestKey("sts-test-kmc")
	if err != nil {
		t.Fatal(err)
	}
	kmcid, err := records.NewPKID(records.KMCID, "TestKMC", "K0001", time.Date(2025, 1, 1, 0, 0, 0, 0, time.UTC), kmcKey.PublicKey())
	if err != nil {
		t.Fatal(err)
	}
	pk, err := (&records.PKECDH{KMCID: kmcid, PublicKey: kmcKey.PublicKey(), Expiry: time.Now().AddDate(5, 0, 0)}).Format()
	if err != nil {
		t.Fatal(err)
	}
	pkFile := filepath.Join(work, "kmc.txt")
	if err := os.WriteFile(pkFile, []byte(pk+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	sh("", "sm", "slot", "install", "--dir", dir, "--record", pkFile, "--fingerprint", records.Fingerprint(pk).String(), "--test-kmc")

	blocks, err := armor.Find([]byte(sh("", "sm", "slot", "request", "--dir", dir)))
	if err != nil || len(blocks) != 1 {
		t.Fatalf("request: %v", err)
	}
	req, err := records.ParseVKLoadReq(blocks[0].Body)
	if err != nil {
		t.Fatal(err)
	}
	kmc := keyload.Module{Key: kmcKey, PKID: kmcid}
	if err := keyload.VerifyRequest(kmc, req, time.Now(), time.Minute); err != nil {
		t.Fatal(err)
	}
	newVK := func(krn int) keyload.VendingKey {
		key := make([]byte, 8)
		rand.Read(key)
		return keyload.VendingKey{SGC: 123456, KRN: krn, KT: int(sts.DUTK), BDT: 2014, DKGA: 2, EA: 7, KEN: 255,
			ACT: time.Now().AddDate(-1, 0, 0), IUT: time.Now().AddDate(1, 0, 0), CLM: 100000, Key: key}
	}
	vk1, vk2 := newVK(1), newVK(2)
	bodies, err := keyload.Issue(kmc, req, []keyload.VendingKey{vk1, vk2}, time.Now(), nil)
	if err != nil {
		t.Fatal(err)
	}
	klf, err := armor.File(bodies...)
	if err != nil {
		t.Fatal(err)
	}
	klfFile := filepath.Join(work, armor.FileName(req.SMID.ID, time.Now(), "klf"))
	if err := os.WriteFile(klfFile, klf, 0o600); err != nil {
		t.Fatal(err)
	}
	if out := sh("", "sm", "slot", "load", "--dir", dir, "--klf", klfFile); !strings.Contains(out, "loaded SGC 123456 KRN 2 KT 2") {
		t.Fatalf("load: %s", out)
	}
	if out := sh("", "sm", "registers", "--dir", dir); strings.Count(out, "SGC 123456") != 2 || strings.Contains(out, "CLM 0/") {
		t.Fatalf("registers: %s", out)
	}

	// The meter, with its decoder key derived on the KMC side.
	pan, _ := sts.ParsePAN("600727000000000009")
	dk := func(vk keyload.VendingKey) []byte {
		g, _ := dkga.New(dkga.DKGA02, vk.Key)
		k, err := g.DecoderKey(dkga.Params{KeyType: sts.DUTK, SGC: 123456, TI: 1, KRN: uint8(vk.KRN), PAN: pan, BaseDate: 2014, EA: sts.EA07})
		if err != nil {
			t.Fatal(err)
		}
		return k
	}
	mtr, err := meter.New(meter.Config{PAN: pan, EA: sts.EA07, Key: dk(vk1), KeyType: sts.DUTK, KRN: 1, TI: 1, KEN: 255,
		SGC: 123456, BaseDate: 2014, STATables: sta.TestTables()})
	if err != nil {
		t.Fatal(err)
	}
	meterArgs := []string{"--dir", dir, "--pan", pan.String(), "--sgc", "123456"}
	tok := strings.TrimSpace(sh("", append([]string{"sm", "vend", "credit", "--amount", "25.6", "--request-id", "r1"}, meterArgs...)...))
	if r := mtr.Enter(tok); r.Outcome != meter.Accepted || mtr.Balance(sts.Electricity) != 256 {
		t.Fatalf("meter: %v", r.Outcome)
	}
	if again := strings.TrimSpace(sh("", append([]string{"sm", "vend", "credit", "--amount", "25.6", "--request-id", "r1"}, meterArgs...)...)); again != tok {
		t.Fatalf("retry gave %s, first %s", again, tok)
	}
	// verify speaks the API's vocabulary (docs/sm-api.yaml DecodedToken),
	// as token decode --json does, not the Go field names.
	if out := sh("", append([]string{"sm", "vend", "verify", tok}, meterArgs...)...); !strings.Contains(out, `"class":0`) ||
		!strings.Contains(out, `"token":{"tid":`) || !strings.Contains(out, `"amount":25.6}`) || strings.Contains(out, `"TID"`) {
		t.Fatalf("verify: %s", out)
	}
	// An amount a token cannot carry exactly is rounded up, and the
	// command says what it sold.
	var out, errOut bytes.Buffer
	if code := run(append([]string{"sm", "vend", "credit", "--amount", "0.15"}, meterArgs...), strings.NewReader(""), &out, &errOut); code != 0 ||
		!strings.Contains(errOut.String(), "amount 0.15 is not encodable; sold 0.2") {
		t.Fatalf("credit 0.15: exit %d, %s", code, errOut.String())
	}
	set := strings.Fields(sh("", append([]string{"sm", "vend", "keychange", "--to-krn", "2"}, meterArgs...)...))
	for _, tok := range set {
		mtr.Enter(tok)
	}
	if len(set) != 2 || mtr.KeyInfo().KRN != 2 {
		t.Fatalf("key change %v: meter on KRN %d", set, mtr.KeyInfo().KRN)
	}
	tok = strings.TrimSpace(sh("", append([]string{"sm", "vend", "credit", "--amount", "1", "--krn", "2"}, meterArgs...)...))
	if r := mtr.Enter(tok); r.Outcome != meter.Accepted {
		t.Fatalf("credit under the new key: %v", r.Outcome)
	}
	if out := sh("", "sm", "audit", "verify", "--dir", dir); !strings.HasPrefix(out, "audit log verified: ") {
		t.Fatalf("audit: %s", out)
	}
}
