package api_test

import (
	"encoding/hex"
	"encoding/json"
	"errors"
	"net/http"
	"os"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/stskms/stskms/audit"
	"github.com/stskms/stskms/internal/httpapi/httpapitest"
	"github.com/stskms/stskms/keyagree"
	"github.com/stskms/stskms/kmc"
	"github.com/stskms/stskms/kmc/api"
	"github.com/stskms/stskms/store"
	"github.com/stskms/stskms/store/storetest"
)

// TestEndpoints calls every read and every state change once, as the role
// allowed to, and checks the answers and the audit log's actors.
func TestEndpoints(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		e := start(t, db, setup{mode: kmc.ModeTest})
		var id api.IdentityAnswer
		e.do("auditor", "GET", "/v1/identity", nil, &id)
		if id.Vendor != "TestKMC" || id.ID != "K0001" || id.Mode != kmc.ModeTest || id.Warning != kmc.TestModeWarning {
			t.Fatalf("identity = %+v", id)
		}
		var pub api.PublicKeyAnswer
		e.do("operator", "GET", "/v1/pubkey", nil, &pub)
		key, err := e.k.CurrentKey(e.ctx)
		if err != nil {
			t.Fatal(err)
		}
		text, _ := kmc.FormatPublicKey(key)
		if pub.Text != string(text) || pub.Fingerprint != key.Fingerprint.String() || pub.PKECDH != key.Body {
			t.Fatalf("pubkey = %+v", pub)
		}

		var rotated api.Key
		e.do("officer", "POST", "/v1/keys", api.RotateRequest{LifetimeDays: 30}, &rotated)
		if rotated.Seq != 2 || rotated.State != "current" || !rotated.Expiry.Equal(e.clock.Now().Add(30*24*time.Hour)) {
			t.Fatalf("rotated = %+v", rotated)
		}
		var keys api.KeysAnswer
		e.do("auditor", "GET", "/v1/keys", nil, &keys)
		if len(keys.Keys) != 2 || keys.Keys[0].State != "valid" || keys.Keys[1].State != "current" ||
			keys.Keys[1].CreatedBy != "officer:test-officer" {
			t.Fatalf("keys = %+v", keys)
		}

		s := newTestSM(t, "sts-test-sm", "94000001")
		vk := e.world(s)
		if vk.KCV == "" || vk.Type != "VUDK" || vk.KRN != 1 || vk.DKGA != 4 || vk.EA != 11 || vk.CLM != "FFFFFFFF" ||
			vk.CreatedBy != "officer:test-officer" {
			t.Fatalf("generated = %+v", vk)
		}
		var sgs api.SupplyGroupsAnswer
		e.do("auditor", "GET", "/v1/supply-groups", nil, &sgs)
		if len(sgs.SupplyGroups) != 1 || sgs.SupplyGroups[0].Name != "Utility North" || sgs.SupplyGroups[0].CreatedBy != "operator:test-operator" {
			t.Fatalf("supply groups = %+v", sgs)
		}
		// Vending keys are listed by KCV, never with a value.
		var raw json.RawMessage
		e.do("auditor", "GET", "/v1/vending-keys?sgc=123456", nil, &raw)
		var vks api.VendingKeysAnswer
		json.Unmarshal(raw, &vks)
		if len(vks.VendingKeys) != 1 || vks.VendingKeys[0] != vk {
			t.Fatalf("vending keys = %s", raw)
		}
		var fields struct {
			VendingKeys []map[string]any `json:"vending_keys"`
		}
		if err := json.Unmarshal(raw, &fields); err != nil || len(fields.VendingKeys) != 1 {
			t.Fatalf("vending keys = %s, %v", raw, err)
		}
		for name := range fields.VendingKeys[0] {
			if strings.Contains(name, "key") || strings.Contains(name, "value") {
				t.Errorf("vending key field %q", name)
			}
		}
		e.do("auditor", "GET", "/v1/vending-keys?sgc=654321", nil, &vks)
		if len(vks.VendingKeys) != 0 {
			t.Fatalf("vending keys of another group = %+v", vks)
		}

		var sms api.SMsAnswer
		e.do("auditor", "GET", "/v1/sms", nil, &sms)
		if len(sms.SMs) != 1 || sms.SMs[0].SMID != s.mod.PKID.String() || !sms.SMs[0].Virtual || sms.SMs[0].Variant != "vending" ||
			sms.SMs[0].RegisteredBy != "operator:test-operator" || !slices.Equal(sms.SMs[0].Emails, []string{"ops@utility.example"}) {
			t.Fatalf("sms = %+v", sms)
		}
		var one api.SM
		e.do("officer", "GET", "/v1/sms/TestVendor:94000001", nil, &one)
		if one.SMID != s.mod.PKID.String() || one.PublicKey != strings.ToUpper(hex.EncodeToString(s.mod.Key.PublicKey().Bytes())) {
			t.Fatalf("sm = %+v", one)
		}
		var kuas api.KUAsAnswer
		e.do("auditor", "GET", "/v1/kuas?sm=94000001", nil, &kuas)
		if len(kuas.KUAs) != 1 || kuas.KUAs[0].SGC != 123456 || !slices.Equal(kuas.KUAs[0].Types, []string{"VUDK"}) ||
			kuas.KUAs[0].GrantedBy != "operator:test-operator" {
			t.Fatalf("kuas = %+v", kuas)
		}

		// A Key Load File for the module's request.
		text2, pk, req := s.request(e, e.clock.Now().Add(-time.Minute))
		var klf api.KLFAnswer
		e.do("operator", "POST", "/v1/klfs", api.IssueRequest{Request: text2}, &klf)
		got := s.open(t, pk, req, klf)
		if len(got) != 1 || len(klf.Keys) != 1 || klf.Keys[0].KCV != vk.KCV || klf.SMID != s.mod.PKID.String() ||
			!strings.HasPrefix(klf.File, "-----BEGIN") && !strings.Contains(klf.File, "KLF.HDR.1") {
			t.Fatalf("klf = %+v, keys %d", klf, len(got))
		}
		if kcv, _ := keyagree.KCV(got[0].Key); strings.ToUpper(hex.EncodeToString(kcv)) != vk.KCV {
			t.Fatal("the module's key does not match the KCV")
		}
		var files api.IssuedFilesAnswer
		e.do("auditor", "GET", "/v1/klfs", nil, &files)
		if len(files.Files) != 1 || files.Files[0].FileName != klf.FileName || files.Files[0].Keys != 1 || files.Files[0].SMID != klf.SMID {
			t.Fatalf("issued files = %+v", files)
		}
		e.do("operator", "GET", "/v1/klfs?sm=TestVendor:94000001", nil, &files)
		if len(files.Files) != 1 {
			t.Fatalf("issued files of the module = %+v", files)
		}

		// The addresses a module's files may go to.
		var esm api.SM
		e.do("operator", "PUT", "/v1/sms/94000001/emails", api.SetEmailsRequest{Emails: []string{"keys@utility.test"}}, &esm)
		if strings.Join(esm.Emails, ",") != "keys@utility.test" {
			t.Fatalf("emails set = %+v", esm)
		}

		// Revocations.
		var revoked api.KUA
		e.do("operator", "POST", "/v1/kuas/1/revoke", nil, &revoked)
		if revoked.RevokedBy != "operator:test-operator" {
			t.Fatalf("revoked kua = %+v", revoked)
		}
		var rsm api.SM
		e.do("operator", "POST", "/v1/sms/94000001/revoke", api.RevokeSMRequest{Reason: "retired"}, &rsm)
		if !rsm.Revoked || rsm.RevokeReason != "retired" || rsm.RevokedBy != "operator:test-operator" {
			t.Fatalf("revoked sm = %+v", rsm)
		}

		var rep api.AuditAnswer
		e.do("auditor", "POST", "/v1/audit/verify", nil, &rep)
		if !rep.OK || rep.Records < 9 || len(rep.Head) != 64 {
			t.Fatalf("audit verify = %+v", rep)
		}
		// Every change is in the audit log under its caller.
		want := map[string]string{"kmc.key.generate": "officer:test-officer", "sgc.add": "operator:test-operator",
			"vk.generate": "officer:test-officer", "sm.register": "operator:test-operator", "kua.grant": "operator:test-operator",
			"klf.issue": "operator:test-operator", "kua.revoke": "operator:test-operator", "sm.revoke": "operator:test-operator",
			"sm.emails": "operator:test-operator"}
		seen := map[string]bool{}
		e.k.AuditLog().Records(e.ctx, 1, func(r audit.Record) error {
			if want[r.Action] == r.Actor {
				seen[r.Action] = true
			}
			return nil
		})
		if len(seen) != len(want) {
			t.Fatalf("audit log has %v of %v", seen, want)
		}
	})
}

// component returns a component of n bytes made from seed and its KCV,
// as hex.
func component(t *testing.T, n int, seed byte) (api.Component, []byte) {
	t.Helper()
	v := make([]byte, n)
	for i := range v {
		v[i] = byte(i*37) ^ seed
	}
	kcv, err := keyagree.KCV(v)
	if err != nil {
		t.Fatal(err)
	}
	return api.Component{Value: hex.EncodeToString(v), KCV: hex.EncodeToString(kcv)}, v
}

// twoComponents returns the two 20-byte components of seeds 0x11 and 0xA7
// and the KCV of the key they make, as hex.
func twoComponents(t *testing.T) (c1, c2 api.Component, kcv string) {
	t.Helper()
	c1, v1 := component(t, 20, 0x11)
	c2, v2 := component(t, 20, 0xA7)
	key := make([]byte, len(v1))
	for i := range key {
		key[i] = v1[i] ^ v2[i]
	}
	k, err := keyagree.KCV(key)
	if err != nil {
		t.Fatal(err)
	}
	return c1, c2, hex.EncodeToString(k)
}

// TestDualControl imports a key from two officers' components, each posted
// under its own credential; the key exists only when the quorum is
// complete.
func TestDualControl(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		e := start(t, db, setup{mode: kmc.ModeTest})
		e.do("operator", "POST", "/v1/supply-groups", api.AddSupplyGroupRequest{SGC: 123456, Name: "g"}, nil)
		c1, c2, kcv := twoComponents(t)
		attrs := api.VKAttributes{SGC: 123456, Type: "VCDK"}

		var imp api.ImportAnswer
		e.do("officer", "POST", "/v1/vending-keys/imports", api.StartImportRequest{VKAttributes: attrs, KCV: kcv,
			Component: c1}, &imp)
		if imp.State != "pending" || imp.Quorum != 2 || !slices.Equal(imp.Officers, []string{"test-officer"}) || !strings.HasPrefix(imp.ID, "IMP-") {
			t.Fatalf("started = %+v", imp)
		}
		var list api.ImportsAnswer
		e.do("officer2", "GET", "/v1/vending-keys/imports", nil, &list)
		if len(list.Imports) != 1 || list.Imports[0].ID != imp.ID {
			t.Fatalf("imports = %+v", list)
		}
		path := "/v1/vending-keys/imports/" + imp.ID + "/components"
		// The same officer cannot give the second component.
		err := e.as("officer").Do(e.ctx, "POST", path, api.ComponentRequest{Component: c2}, nil)
		refused(t, "same officer twice", err, http.StatusConflict, api.EDualControl)
		// A component whose KCV does not match is refused and not held.
		bad := c2
		bad.KCV = "000000"
		err = e.as("officer2").Do(e.ctx, "POST", path, api.ComponentRequest{Component: bad}, nil)
		refused(t, "bad KCV", err, http.StatusUnprocessableEntity, api.EKcv)
		var vks api.VendingKeysAnswer
		e.do("auditor", "GET", "/v1/vending-keys", nil, &vks)
		if len(vks.VendingKeys) != 0 {
			t.Fatalf("a key exists before the quorum: %+v", vks)
		}
		var done api.ImportAnswer
		e.do("officer2", "POST", path, api.ComponentRequest{Component: c2}, &done)
		if done.State != "complete" || done.Key == nil || done.Key.KCV != strings.ToUpper(kcv) ||
			done.Key.Origin != kmc.OriginImported || !slices.Equal(done.Officers, []string{"test-officer", "test-officer-2"}) {
			t.Fatalf("complete = %+v", done)
		}
		err = e.as("officer2").Do(e.ctx, "POST", path, api.ComponentRequest{Component: c2}, nil)
		refused(t, "a complete import", err, http.StatusNotFound, api.ENotFound)
		e.do("officer", "GET", "/v1/vending-keys/imports", nil, &list)
		if len(list.Imports) != 0 {
			t.Fatalf("imports after completion = %+v", list)
		}
		// The audit log names both officers and the last one as actor.
		var found bool
		e.k.AuditLog().Records(e.ctx, 1, func(r audit.Record) error {
			if r.Action == "vk.import" {
				found = r.Actor == "officer:test-officer-2" && strings.Contains(string(r.Details.(json.RawMessage)), "test-officer")
			}
			return nil
		})
		if !found {
			t.Fatal("no vk.import audit record naming the officers")
		}

		// An import abandoned, and one that expires, are gone with their
		// components.
		e.do("officer", "POST", "/v1/vending-keys/imports", api.StartImportRequest{VKAttributes: attrs, Component: c1}, &imp)
		var ab api.ImportAnswer
		e.do("officer2", "DELETE", "/v1/vending-keys/imports/"+imp.ID, nil, &ab)
		if ab.State != "abandoned" {
			t.Fatalf("abandoned = %+v", ab)
		}
		err = e.as("officer2").Do(e.ctx, "DELETE", "/v1/vending-keys/imports/"+imp.ID, nil, nil)
		refused(t, "abandoned twice", err, http.StatusNotFound, api.ENotFound)
		e.do("officer", "POST", "/v1/vending-keys/imports", api.StartImportRequest{VKAttributes: attrs, Component: c1, Quorum: 3}, &imp)
		e.clock.Add(api.ImportLifetime)
		err = e.as("officer2").Do(e.ctx, "POST", "/v1/vending-keys/imports/"+imp.ID+"/components", api.ComponentRequest{Component: c2}, nil)
		refused(t, "expired import", err, http.StatusNotFound, api.ENotFound)

		for name, req := range map[string]api.StartImportRequest{
			"quorum 1":     {VKAttributes: attrs, Component: c1, Quorum: 1},
			"quorum 9":     {VKAttributes: attrs, Component: c1, Quorum: api.MaxQuorum + 1},
			"short":        {VKAttributes: api.VKAttributes{SGC: 123456, Type: "VCDK", DKGA: 2, EA: 7}, Component: c1},
			"not hex":      {VKAttributes: attrs, Component: api.Component{Value: "zz", KCV: c1.KCV}},
			"bad key type": {VKAttributes: api.VKAttributes{SGC: 123456, Type: "XXXX"}, Component: c1},
		} {
			err := e.as("officer").Do(e.ctx, "POST", "/v1/vending-keys/imports", req, nil)
			var se *api.StatusError
			if !errors.As(err, &se) || se.Status/100 != 4 || strings.Contains(se.Body.Error, c1.Value) {
				t.Errorf("%s: %v", name, err)
			}
		}
	})
}

// TestRoles checks every operation against every role that may not call
// it, and against no token and a wrong one.
func TestRoles(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		e := start(t, db, setup{mode: kmc.ModeTest})
		allowed := map[string][]string{
			"POST /v1/keys":                                 {"officer"},
			"POST /v1/supply-groups":                        {"operator"},
			"POST /v1/vending-keys":                         {"officer"},
			"GET /v1/vending-keys/imports":                  {"officer"},
			"POST /v1/vending-keys/imports":                 {"officer"},
			"POST /v1/vending-keys/imports/{id}/components": {"officer"},
			"DELETE /v1/vending-keys/imports/{id}":          {"officer"},
			"POST /v1/sms":                                  {"operator"},
			"POST /v1/sms/{ref}/revoke":                     {"operator"},
			"PUT /v1/sms/{ref}/emails":                      {"operator"},
			"POST /v1/kuas":                                 {"operator"},
			"POST /v1/kuas/{id}/revoke":                     {"operator"},
			"POST /v1/klfs":                                 {"operator"},
			"GET /v1/klfs":                                  {"operator", "auditor"},
			"POST /v1/audit/verify":                         {"auditor", "officer"},
			"POST /v1/stsa-keys":                            {"officer"},
			"DELETE /v1/stsa-keys/{id}":                     {"officer"},
			"POST /v1/registry-updates":                     {"operator"},
			"POST /v1/prune":                                {"operator"},
		}
		for _, route := range api.Routes {
			method, path, _ := strings.Cut(route, " ")
			path = strings.NewReplacer("{id}", "1", "{ref}", "94000001").Replace(path)
			var body any
			if method == "POST" {
				body = "not the body of any operation: the role is checked first"
			}
			for _, who := range []string{"officer", "operator", "auditor"} {
				roles, restricted := allowed[route]
				if !restricted || slices.Contains(roles, who) {
					continue
				}
				err := e.as(who).Do(e.ctx, method, path, body, nil)
				refused(t, route+" as "+who, err, http.StatusForbidden, api.ERole)
			}
			for _, token := range []string{"", e.as("officer").Token + "x"} {
				err := (&api.Client{URL: e.url, Token: token}).Do(e.ctx, method, path, body, nil)
				refused(t, route+" unauthenticated", err, http.StatusUnauthorized, api.EUnauthenticated)
			}
		}
		// Reads are every role's.
		for _, who := range []string{"officer", "operator", "auditor"} {
			e.do(who, "GET", "/v1/sms", nil, nil)
		}
	})
}

// TestErrorMapping checks the HTTP status and code of each kind of
// refusal.
func TestErrorMapping(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		e := start(t, db, setup{mode: kmc.ModeTest})
		s := newTestSM(t, "sts-test-sm", "94000001")
		e.world(s)
		call := func(who, method, path string, in any) error { return e.as(who).Do(e.ctx, method, path, in, nil) }
		for _, c := range []struct {
			name   string
			err    error
			status int
			code   kmc.Code
		}{
			{"bad SGC", call("operator", "POST", "/v1/supply-groups", api.AddSupplyGroupRequest{SGC: 1234567, Name: "x"}), 400, api.EInvalid},
			{"SGC exists", call("operator", "POST", "/v1/supply-groups", api.AddSupplyGroupRequest{SGC: 123456, Name: "x"}), 409, api.EExists},
			{"unknown field", call("operator", "POST", "/v1/supply-groups", map[string]any{"sgc": 1, "nme": "x"}), 400, api.EBadRequest},
			{"too big", call("operator", "POST", "/v1/supply-groups", api.AddSupplyGroupRequest{SGC: 1, Name: strings.Repeat("x", 300<<10)}), 400, api.EBadRequest},
			{"bad CLM", call("officer", "POST", "/v1/vending-keys", api.GenerateRequest{VKAttributes: api.VKAttributes{SGC: 123456, Type: "VUDK", CLM: "xyz"}}), 400, api.EInvalid},
			{"KRN held", call("officer", "POST", "/v1/vending-keys", api.GenerateRequest{VKAttributes: api.VKAttributes{SGC: 123456, Type: "VUDK", KRN: 1}}), 409, api.EExists},
			{"no such group", call("officer", "POST", "/v1/vending-keys", api.GenerateRequest{VKAttributes: api.VKAttributes{SGC: 999, Type: "VUDK"}}), 404, api.ENotFound},
			{"bad query", call("auditor", "GET", "/v1/vending-keys?sgc=x", nil), 400, api.EInvalid},
			{"short SGC in query", call("auditor", "GET", "/v1/vending-keys?sgc=23456", nil), 400, api.EInvalid},
			{"SGC with a base prefix in query", call("auditor", "GET", "/v1/vending-keys?sgc=0x1e240", nil), 400, api.EInvalid},
			{"SGC with a sign in query", call("auditor", "GET", "/v1/vending-keys?sgc=%2B23456", nil), 400, api.EInvalid},
			{"negative SGC", call("operator", "POST", "/v1/supply-groups", api.AddSupplyGroupRequest{SGC: -1, Name: "x"}), 400, api.EInvalid},
			{"KRN 10", call("officer", "POST", "/v1/vending-keys", api.GenerateRequest{VKAttributes: api.VKAttributes{SGC: 123456, Type: "VUDK", KRN: 10}}), 400, api.EInvalid},
			{"KRN 15", call("officer", "POST", "/v1/vending-keys", api.GenerateRequest{VKAttributes: api.VKAttributes{SGC: 123456, Type: "VUDK", KRN: 15}}), 400, api.EInvalid},
			{"grant SGC 1000000", call("operator", "POST", "/v1/kuas", api.GrantRequest{SM: "94000001", SGC: 1_000_000, Types: []string{"VUDK"}, Until: e.clock.Now().Add(time.Hour)}), 400, api.EInvalid},
			{"unknown sm", call("auditor", "GET", "/v1/sms/99999999", nil), 404, api.ENotFound},
			{"bad register request", call("operator", "POST", "/v1/sms", api.RegisterRequest{Request: "junk", Variant: "vending"}), 422, kmc.ERecordFormat},
			{"bad variant", call("operator", "POST", "/v1/sms", api.RegisterRequest{Request: "junk", Variant: "x"}), 400, api.EInvalid},
			{"registered twice", call("operator", "POST", "/v1/sms", registerAgain(e, s)), 409, api.EExists},
			{"init for vending", call("operator", "POST", "/v1/kuas", api.GrantRequest{SM: "94000001", SGC: 123456, Types: []string{"INIT"}, Until: e.clock.Now().Add(time.Hour)}), 422, api.EVariant},
			{"bad kua id", call("operator", "POST", "/v1/kuas/x/revoke", nil), 400, api.EInvalid},
			{"no such kua", call("operator", "POST", "/v1/kuas/99/revoke", nil), 404, api.ENotFound},
			{"klf junk", call("operator", "POST", "/v1/klfs", api.IssueRequest{Request: "junk"}), 422, kmc.ERecordFormat},
			{"klf unknown sm", call("operator", "POST", "/v1/klfs", api.IssueRequest{Request: reqText(e, newTestSM(t, "other-sm", "94000002"))}), 404, kmc.EUnknownSm},
			{"klf stale", call("operator", "POST", "/v1/klfs", api.IssueRequest{Request: staleText(e, s)}), 422, kmc.EVkloadExpired},
			{"long request id", call("operator", "POST", "/v1/supply-groups", api.AddSupplyGroupRequest{RequestID: strings.Repeat("r", 200), SGC: 5, Name: "x"}), 400, api.EInvalid},
		} {
			refused(t, c.name, c.err, c.status, c.code)
		}
		// A replayed request, and one after the module is revoked.
		text := reqText(e, s)
		e.do("operator", "POST", "/v1/klfs", api.IssueRequest{Request: text}, nil)
		refused(t, "replay", call("operator", "POST", "/v1/klfs", api.IssueRequest{Request: text}), 409, kmc.EVkloadReplayed)
		e.do("operator", "POST", "/v1/kuas/1/revoke", nil, nil)
		e.clock.Add(time.Second)
		refused(t, "no kua", call("operator", "POST", "/v1/klfs", api.IssueRequest{Request: reqText(e, s)}), 403, kmc.ESmNotAuthorised)
		refused(t, "kua revoked twice", call("operator", "POST", "/v1/kuas/1/revoke", nil), 409, api.ERevoked)
		e.do("operator", "POST", "/v1/sms/94000001/revoke", api.RevokeSMRequest{Reason: "gone"}, nil)
		refused(t, "sm revoked twice", call("operator", "POST", "/v1/sms/94000001/revoke", api.RevokeSMRequest{Reason: "gone"}), 409, api.ERevoked)
		e.clock.Add(time.Second)
		refused(t, "revoked sm", call("operator", "POST", "/v1/klfs", api.IssueRequest{Request: reqText(e, s)}), 403, kmc.ESmRevoked)
		// Every KMC key expired.
		e.clock.Add(kmc.DefaultKeyLifetime)
		refused(t, "no current key", call("auditor", "GET", "/v1/pubkey", nil), 409, api.ENoCurrentKey)
	})
}

func registerAgain(e *env, s *testSM) api.RegisterRequest {
	text, _, _ := s.request(e, e.clock.Now())
	return api.RegisterRequest{Request: text, Variant: "vending", Virtual: new(true)}
}

func reqText(e *env, s *testSM) string {
	text, _, _ := s.request(e, e.clock.Now())
	return text
}

func staleText(e *env, s *testSM) string {
	text, _, _ := s.request(e, e.clock.Now().Add(-2*kmc.DefaultWindow))
	return text
}

// TestModes checks the refusals that depend on the KMC's state: a live KMC
// refuses a virtual module (EMode) and a KMC not set up has no identity.
func TestModes(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		e := start(t, db, setup{mode: kmc.ModeLive})
		err := e.as("operator").Do(e.ctx, "POST", "/v1/sms", registerAgain(e, newTestSM(t, "sts-test-sm", "94000001")), nil)
		refused(t, "virtual module, live KMC", err, http.StatusForbidden, api.EMode)
		var id api.IdentityAnswer
		e.do("auditor", "GET", "/v1/identity", nil, &id)
		if id.Mode != kmc.ModeLive || id.Warning != "" {
			t.Fatalf("identity = %+v", id)
		}
	})
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		e := start(t, db, setup{mode: kmc.ModeTest, noSetup: true})
		refused(t, "identity before setup", e.as("auditor").Do(e.ctx, "GET", "/v1/identity", nil, nil), http.StatusConflict, api.ENoIdentity)
		refused(t, "pubkey before setup", e.as("auditor").Do(e.ctx, "GET", "/v1/pubkey", nil, nil), http.StatusConflict, api.ENoIdentity)
	})
}

// TestErrorBody checks that every refusal code of a Key Load File request
// has its HTTP status and renders its description, never its cause, and
// that an unexpected error shows no detail.
func TestErrorBody(t *testing.T) {
	for _, c := range kmc.Codes {
		status, body := api.ErrorBodyOf(&kmc.Error{Code: c, Params: []string{"p"}, Err: errors.New("secret detail")})
		if status < 400 || body.Code != c || body.Error != c.Description() || !slices.Equal(body.Params, []string{"p"}) {
			t.Errorf("%s: %d %+v", c, status, body)
		}
		if (c == kmc.EInternal) != (status == http.StatusInternalServerError) {
			t.Errorf("%s: status %d", c, status)
		}
	}
	status, body := api.ErrorBodyOf(&kmc.Error{Code: "ESomethingElse"})
	if status != http.StatusUnprocessableEntity || body.Code != "ESomethingElse" {
		t.Errorf("another kmc code: %d %+v", status, body)
	}
	status, body = api.ErrorBodyOf(errors.New("database at /secret/path is gone"))
	if status != 500 || body.Code != kmc.EInternal || strings.Contains(body.Error, "secret") {
		t.Errorf("internal error: %d %+v", status, body)
	}
}

// TestIdempotency checks that a creating call retried under its request id
// gets the first answer, and a Key Load File the same file.
func TestIdempotency(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		e := start(t, db, setup{mode: kmc.ModeTest})
		var a, b api.SupplyGroup
		e.do("operator", "POST", "/v1/supply-groups", api.AddSupplyGroupRequest{RequestID: "sg-1", SGC: 123456, Name: "g"}, &a)
		e.do("operator", "POST", "/v1/supply-groups", api.AddSupplyGroupRequest{RequestID: "sg-1", SGC: 123456, Name: "g"}, &b)
		if a != b {
			t.Fatalf("retry answered %+v, first %+v", b, a)
		}
		err := e.as("operator").Do(e.ctx, "POST", "/v1/supply-groups", api.AddSupplyGroupRequest{RequestID: "sg-1", SGC: 123457, Name: "g"}, nil)
		refused(t, "request id reused", err, http.StatusConflict, api.ERequestReused)
		// The Idempotency-Key header does the same.
		var v1, v2 api.VendingKey
		gen := api.GenerateRequest{VKAttributes: api.VKAttributes{SGC: 123456, Type: "VUDK"}}
		if err := e.as("officer").Do(e.ctx, "POST", "/v1/vending-keys", gen, &v1, "Idempotency-Key", "vk-1"); err != nil {
			t.Fatal(err)
		}
		if err := e.as("officer").Do(e.ctx, "POST", "/v1/vending-keys", gen, &v2, "Idempotency-Key", "vk-1"); err != nil {
			t.Fatal(err)
		}
		var vks api.VendingKeysAnswer
		e.do("auditor", "GET", "/v1/vending-keys", nil, &vks)
		if v1 != v2 || len(vks.VendingKeys) != 1 {
			t.Fatalf("retried generate made %d keys", len(vks.VendingKeys))
		}
		// Another caller's id is refused, never answered.
		err = e.as("officer2").Do(e.ctx, "POST", "/v1/vending-keys", gen, nil, "Idempotency-Key", "vk-1")
		refused(t, "another caller's request id", err, http.StatusConflict, api.ERequestOwned)
		e.do("auditor", "GET", "/v1/vending-keys", nil, &vks)
		if len(vks.VendingKeys) != 1 {
			t.Fatalf("another officer's request id made %d keys in all", len(vks.VendingKeys))
		}

		s := newTestSM(t, "sts-test-sm", "94000001")
		e.register(s)
		e.do("operator", "POST", "/v1/kuas", api.GrantRequest{SM: "94000001", SGC: 123456, Types: []string{"VUDK"},
			Until: e.clock.Now().Add(time.Hour)}, nil)
		text := reqText(e, s)
		var f1, f2 api.KLFAnswer
		e.do("operator", "POST", "/v1/klfs", api.IssueRequest{RequestID: "klf-1", Request: text}, &f1)
		e.do("operator", "POST", "/v1/klfs", api.IssueRequest{RequestID: "klf-1", Request: text}, &f2)
		if f1.File != f2.File || f1.File == "" {
			t.Fatal("a retried KLF request got another file")
		}
		err = e.as("operator").Do(e.ctx, "POST", "/v1/klfs", api.IssueRequest{RequestID: "klf-2", Request: text}, nil)
		refused(t, "same request, other id", err, http.StatusConflict, kmc.EVkloadReplayed)
	})
}

// TestTLS serves the API over TLS and calls it with a client that trusts
// the server's certificate; plain HTTP to it gets no answer.
func TestTLS(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		e := start(t, db, setup{mode: kmc.ModeTest, tls: true})
		var id api.IdentityAnswer
		e.do("auditor", "GET", "/v1/identity", nil, &id)
		if id.Vendor != "TestKMC" {
			t.Fatalf("identity = %+v", id)
		}
		plain := &api.Client{URL: "http" + strings.TrimPrefix(e.url, "https"), Token: e.as("auditor").Token}
		if err := plain.Do(e.ctx, "GET", "/v1/identity", nil, &id); err == nil {
			t.Fatal("plain HTTP answered on the TLS port")
		}
	})
}

func TestTokenFile(t *testing.T) {
	dir := t.TempDir()
	if _, err := api.LoadTokens(dir); !errors.Is(err, api.ErrNoTokens) {
		t.Fatalf("LoadTokens of an empty dir = %v", err)
	}
	made, err := api.InitTestTokens(dir)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := api.InitTestTokens(dir); err == nil {
		t.Fatal("InitTestTokens overwrote a token file")
	}
	tokens, err := api.LoadTokens(dir)
	if err != nil || !tokens.TestOnly || len(tokens.Entries) != 4 {
		t.Fatalf("LoadTokens = %+v, %v", tokens, err)
	}
	for _, te := range made.Entries {
		a, ok := tokens.Actor(te.Token)
		if !ok || a.Role.String() != te.Role || a.Name != te.Name {
			t.Errorf("token of %s authenticates %v, %v", te.Name, a, ok)
		}
	}
	path := dir + "/other.json"
	os.WriteFile(path, []byte(`{"format":"stskms-kmc-api-tokens/1","tokens":[{"token":"aaaaaaaaaaaaaaaaaaaaaaaa","role":"officer","name":""}]}`), 0o600)
	if _, err := api.LoadTokensFile(path); err == nil {
		t.Fatal("a token without a name was accepted")
	}
	os.WriteFile(path, []byte(`{"format":"stskms-sm-api-tokens/1","tokens":[]}`), 0o600)
	if _, err := api.LoadTokensFile(path); err == nil {
		t.Fatal("an SM token file was accepted")
	}
}

func TestOpenAPI(t *testing.T) {
	doc := httpapitest.CheckOpenAPI(t, "../../docs/kmc-api.yaml", api.Routes)
	codes := map[string]bool{}
	for _, c := range regexp.MustCompile(`\b(E[A-Z][A-Za-z]+)\b`).FindAllString(doc, -1) {
		codes[c] = true
	}
	for _, c := range slices.Concat(kmc.Codes, kmc.UpdateCodes, api.Codes) {
		if !codes[string(c)] {
			t.Errorf("docs/kmc-api.yaml does not list code %s", c)
		}
	}
}
