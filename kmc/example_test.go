package kmc_test

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"time"

	"github.com/stskms/stskms/keyagree"
	"github.com/stskms/stskms/keyload"
	"github.com/stskms/stskms/kmc"
	"github.com/stskms/stskms/records"
	"github.com/stskms/stskms/records/armor"
)

// A test-mode KMC from start to Key Load File: a supply group and its
// vending key, a module registered from its own request and authorised,
// and the file the module opens.
func Example() {
	ctx := context.Background()
	tmp, _ := os.MkdirTemp("", "kmc-example")
	defer os.RemoveAll(tmp)
	k, err := kmc.Init(ctx, filepath.Join(tmp, "kmc"), kmc.InitOptions{Mode: kmc.ModeTest, Actor: "officer:alice"})
	if err != nil {
		fmt.Println(err)
		return
	}
	defer k.Close()

	// The operator: a supply group and a vending key (only its KCV shows).
	now := time.Now()
	k.AddSupplyGroup(ctx, "officer:alice", 123456, "Example Utility")
	vk, _ := k.GenerateVendingKey(ctx, "officer:alice", kmc.VKAttributes{SGC: 123456, Type: kmc.VUDK,
		BDT: 2014, DKGA: 4, EA: 11, KEN: 255, ACT: now, EXP: now.AddDate(5, 0, 0), IUT: now.AddDate(6, 0, 0), CLM: 0xFFFFFFFF})
	fmt.Println("generated", vk.Type, "KRN", vk.KRN, "with a KCV of", len(vk.KCV), "hex digits")

	// The module (here with a public test key) installs the published
	// PK.ECDH.1 and makes its request.
	key, _ := k.CurrentKey(ctx)
	published, _ := kmc.FormatPublicKey(key)
	blocks, _ := armor.Find(published)
	pk, _ := records.ParsePKECDH(blocks[0].Body)
	smKey, _ := keyagree.TestKey("sts-test-sm")
	smid, _ := records.NewPKID(records.SMID, "TestVendor", "94000001", now, smKey.PublicKey())
	sm := keyload.Module{Key: smKey, PKID: smid}
	req, _ := keyload.NewRequest(sm, pk, now, "Test-SSM-1", "SSM1V100")

	// The operator registers it from that request and authorises it.
	if _, err := k.RegisterSMFromRequest(ctx, "officer:alice", req, kmc.Registration{Variant: kmc.Vending, Virtual: true,
		Emails: []string{"ops@utility.example"}}); err != nil {
		fmt.Println(err)
		return
	}
	k.Grant(ctx, "officer:alice", "94000001", kmc.KUA{SGC: 123456, Types: kmc.TypesOf(kmc.VUDK), Until: now.AddDate(1, 0, 0)})

	// The gateway asks for the file; the module opens it.
	klf, err := k.IssueKLF(ctx, "gateway", req)
	if err != nil {
		fmt.Println(err)
		return
	}
	fileBlocks, _ := armor.ParseFile(klf.File)
	var bodies []string
	for _, b := range fileBlocks {
		bodies = append(bodies, b.Body)
	}
	keys, err := keyload.Open(sm, keyload.Pending{KMC: pk, RequestTime: req.Time}, bodies)
	if err != nil {
		fmt.Println(err)
		return
	}
	kcv, _ := keyagree.KCV(keys[0].Key)
	fmt.Printf("the module loaded %d key, KCV as shown: %v\n", len(keys), fmt.Sprintf("%X", kcv) == vk.KCV)

	// The same request again is refused with a stable code.
	_, err = k.IssueKLF(ctx, "gateway", req)
	fmt.Println(kmc.CodeOf(err), "-", kmc.CodeOf(err).Description())
	// Output:
	// generated VUDK KRN 1 with a KCV of 6 hex digits
	// the module loaded 1 key, KCV as shown: true
	// EVkloadReplayed - A Key Load File was already issued for this VKLOAD.REQ.1; generate a fresh request
}
