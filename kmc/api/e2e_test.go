package api_test

import (
	"context"
	"path/filepath"
	"testing"
	"time"

	"github.com/stskms/stskms/kmc"
	"github.com/stskms/stskms/kmc/api"
	"github.com/stskms/stskms/sm"
	"github.com/stskms/stskms/sm/api/apitest"
	"github.com/stskms/stskms/store"
	"github.com/stskms/stskms/store/storetest"
)

// TestEndToEndWithModule drives the KMC only through the API: a test
// security module (package sm) installs the published PK.ECDH.1 and makes
// a VKLOAD.REQ.1; the operator registers the module from it and grants it
// a supply group; the KMC issues the Key Load File for its request over
// HTTP; the module loads it and holds the vending key the KMC made, by
// KCV.
func TestEndToEndWithModule(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		e := start(t, db, setup{mode: kmc.ModeTest, realNow: true})
		ctx := context.Background()
		dir := filepath.Join(t.TempDir(), "sm")
		m, err := apitest.New(ctx, dir)
		if err != nil {
			t.Fatal(err)
		}
		defer m.Close()
		officer := sm.Officer.As("e2e")

		var pub api.PublicKeyAnswer
		e.do("auditor", "GET", "/v1/pubkey", nil, &pub)
		slot, err := m.InstallSlot(ctx, officer, sm.InstallRequest{Record: pub.PKECDH, Fingerprint: pub.Fingerprint, TestKMC: true})
		if err != nil {
			t.Fatal(err)
		}
		req, err := m.Request(ctx, officer, slot.Number)
		if err != nil {
			t.Fatal(err)
		}
		body, err := req.Format()
		if err != nil {
			t.Fatal(err)
		}

		e.do("operator", "POST", "/v1/supply-groups", api.AddSupplyGroupRequest{SGC: 123456, Name: "Utility North"}, nil)
		var vk api.VendingKey
		e.do("officer", "POST", "/v1/vending-keys", api.GenerateRequest{VKAttributes: api.VKAttributes{SGC: 123456, Type: "VUDK",
			ACT: time.Now().Add(-time.Hour)}}, &vk)
		var reg api.SM
		e.do("operator", "POST", "/v1/sms", api.RegisterRequest{Request: body, Variant: "vending", Virtual: true,
			Emails: []string{"ops@utility.example"}}, &reg)
		if reg.SMID != m.Identify().SMID.String() {
			t.Fatalf("registered %s, the module is %s", reg.SMID, m.Identify().SMID)
		}
		e.do("operator", "POST", "/v1/kuas", api.GrantRequest{SM: reg.SMID, SGC: 123456, Types: []string{"VUDK"},
			Until: time.Now().AddDate(1, 0, 0)}, nil)

		var klf api.KLFAnswer
		e.do("operator", "POST", "/v1/klfs", api.IssueRequest{RequestID: "e2e-1", Request: body}, &klf)
		regs, err := m.LoadKLF(ctx, officer, slot.Number, klf.Records)
		if err != nil {
			t.Fatal(err)
		}
		if len(regs) != 1 || regs[0].SGC != 123456 || int(regs[0].KRN) != vk.KRN || regs[0].KCV != vk.KCV {
			t.Fatalf("the module loaded %+v, the KMC made %+v", regs, vk)
		}
	})
}
