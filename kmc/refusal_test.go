package kmc_test

import (
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/stskms/stskms/keyagree"
	"github.com/stskms/stskms/kmc"
	"github.com/stskms/stskms/records"
	"github.com/stskms/stskms/records/armor"
	"github.com/stskms/stskms/store"
	"github.com/stskms/stskms/store/storetest"
)

// refusal is one way a Key Load File request must fail: prepare changes a
// world in which module s (vending, authorised for SGC 123456 VUDK, one
// key) would otherwise get its file, and returns the request to send.
type refusal struct {
	name    string
	mode    kmc.Mode
	prepare func(t *testing.T, w *world, s *sm) *records.VKLoadReq
	want    kmc.Code
	audited bool // a refusal of a registered module is audited
}

// fresh is the module's request made now for the current key.
func fresh(t *testing.T, w *world, s *sm) *records.VKLoadReq {
	return s.request(t, w.pk(), w.clock.Now())
}

var refusals = []refusal{
	{name: "expired request", want: kmc.EVkloadExpired,
		prepare: func(t *testing.T, w *world, s *sm) *records.VKLoadReq {
			return s.request(t, w.pk(), t0.Add(-kmc.DefaultWindow-time.Second))
		}},
	{name: "request from the future", want: kmc.EVkloadExpired,
		prepare: func(t *testing.T, w *world, s *sm) *records.VKLoadReq {
			return s.request(t, w.pk(), t0.Add(kmc.DefaultWindow+time.Second))
		}},
	{name: "replayed request", want: kmc.EVkloadReplayed, audited: true,
		prepare: func(t *testing.T, w *world, s *sm) *records.VKLoadReq {
			req := fresh(t, w, s)
			if _, err := w.k.IssueKLF(w.ctx, "gateway", req); err != nil {
				t.Fatal(err)
			}
			w.clock.Add(time.Minute)
			return req
		}},
	{name: "tampered tag", want: kmc.ETagInvalid,
		prepare: func(t *testing.T, w *world, s *sm) *records.VKLoadReq {
			req := fresh(t, w, s)
			req.Tag[len(req.Tag)-1] ^= 0x80
			return req
		}},
	{name: "field changed after tagging", want: kmc.ETagInvalid,
		prepare: func(t *testing.T, w *world, s *sm) *records.VKLoadReq {
			req := fresh(t, w, s)
			req.Model = "Other-Model"
			return req
		}},
	{name: "tag made with another SM key", want: kmc.ETagInvalid,
		prepare: func(t *testing.T, w *world, s *sm) *records.VKLoadReq {
			req := fresh(t, w, s)
			other := newSM(t, "kmc-test-other", "94000001").request(t, w.pk(), w.clock.Now())
			req.Tag = other.Tag
			return req
		}},
	{name: "SMID does not name the key", want: kmc.ERecordFormat,
		prepare: func(t *testing.T, w *world, s *sm) *records.VKLoadReq {
			req := fresh(t, w, s)
			req.SMID.KeyHash[0] ^= 1
			return req
		}},
	{name: "unknown SM", want: kmc.EUnknownSm,
		prepare: func(t *testing.T, w *world, s *sm) *records.VKLoadReq {
			return newSM(t, "kmc-test-stranger", "94000999").request(t, w.pk(), w.clock.Now())
		}},
	{name: "registered SMID, another public key", want: kmc.EUnknownSm,
		prepare: func(t *testing.T, w *world, s *sm) *records.VKLoadReq {
			// Same vendor, id and key time, another key: another SMID.
			return newSM(t, "kmc-test-impostor", s.mod.PKID.ID).request(t, w.pk(), w.clock.Now())
		}},
	{name: "revoked SM", want: kmc.ESmRevoked, audited: true,
		prepare: func(t *testing.T, w *world, s *sm) *records.VKLoadReq {
			if _, err := w.k.RevokeSM(w.ctx, actor, s.smid(), "stolen"); err != nil {
				t.Fatal(err)
			}
			return fresh(t, w, s)
		}},
	{name: "uncertified SM, live KMC", mode: kmc.ModeLive, want: kmc.ESmNotCertified, audited: true,
		prepare: func(t *testing.T, w *world, s *sm) *records.VKLoadReq { return fresh(t, w, s) }},
	{name: "virtual SM, live KMC", mode: kmc.ModeLive, want: kmc.ESmNotCertified, audited: true,
		prepare: func(t *testing.T, w *world, s *sm) *records.VKLoadReq {
			// A live KMC never registers a virtual module; one that is
			// in its registry all the same (here: written to the
			// database directly) still gets nothing.
			if _, err := w.db.Exec(w.ctx, `UPDATE sms SET virtual = 1, certified = 1 WHERE smid = $1`, s.smid()); err != nil {
				t.Fatal(err)
			}
			return fresh(t, w, s)
		}},
	{name: "software model, live KMC", mode: kmc.ModeLive, want: kmc.ESmNotCertified, audited: true,
		prepare: func(t *testing.T, w *world, s *sm) *records.VKLoadReq {
			// stskms's own software module says so in its model, whatever
			// the registry's flags say.
			s.model = "stskms-SoftSM"
			if _, err := w.db.Exec(w.ctx, `UPDATE sms SET model = $1, virtual = 0, certified = 1 WHERE smid = $2`, s.model, s.smid()); err != nil {
				t.Fatal(err)
			}
			return fresh(t, w, s)
		}},
	{name: "no authorisation", want: kmc.ESmNotAuthorised, audited: true,
		prepare: func(t *testing.T, w *world, s *sm) *records.VKLoadReq {
			kuas, err := w.k.KUAs(w.ctx, s.smid())
			if err != nil || len(kuas) != 1 {
				t.Fatal(kuas, err)
			}
			if _, err := w.k.RevokeKUA(w.ctx, actor, kuas[0].ID); err != nil {
				t.Fatal(err)
			}
			return fresh(t, w, s)
		}},
	{name: "authorisation ended", want: kmc.ESmNotAuthorised, audited: true,
		prepare: func(t *testing.T, w *world, s *sm) *records.VKLoadReq {
			w.clock.Set(t0.AddDate(1, 0, 0)) // the KUA's until (the key's EXP too)
			return fresh(t, w, s)
		}},
	{name: "no authorised keys", want: kmc.ENoVendingKeys, audited: true,
		prepare: func(t *testing.T, w *world, s *sm) *records.VKLoadReq {
			w.addSGC(222222)
			w.grant(s, 222222, kmc.VCDK) // a group without keys
			if _, err := w.db.Exec(w.ctx, `UPDATE kuas SET revoked_at = 1 WHERE sgc = 123456`); err != nil {
				t.Fatal(err)
			}
			return fresh(t, w, s)
		}},
	{name: "expired vending key (EXP)", want: kmc.ENoVendingKeys, audited: true,
		prepare: func(t *testing.T, w *world, s *sm) *records.VKLoadReq {
			if _, err := w.db.Exec(w.ctx, `UPDATE vending_keys SET exp = $1`, t0.Unix()); err != nil {
				t.Fatal(err)
			}
			return fresh(t, w, s)
		}},
	{name: "initialization key to a vending SM", want: kmc.ENoVendingKeys, audited: true,
		prepare: func(t *testing.T, w *world, s *sm) *records.VKLoadReq {
			// Grant refuses this; an authorisation in the database all
			// the same is still not honoured.
			w.genKey(attrs(123456, kmc.KeyInit))
			if _, err := w.db.Exec(w.ctx, `UPDATE kuas SET kt_mask = $1`, int64(kmc.TypesOf(kmc.KeyInit))); err != nil {
				t.Fatal(err)
			}
			return fresh(t, w, s)
		}},
	{name: "wrong KMCID", want: kmc.EUnknownKmc,
		prepare: func(t *testing.T, w *world, s *sm) *records.VKLoadReq {
			// The request is made for another KMC's key (the test key of
			// kms-records.md §3.7), with the same vendor and id.
			other, err := keyagree.TestKey("sts-test-kmc")
			if err != nil {
				t.Fatal(err)
			}
			kmcid, _ := records.NewPKID(records.KMCID, "TestKMC", "K0001", t0, other.PublicKey())
			return s.request(t, &records.PKECDH{KMCID: kmcid, PublicKey: other.PublicKey(), Expiry: t0.AddDate(1, 0, 0)}, t0)
		}},
	{name: "expired KMC key", want: kmc.EKmcKeyExpired,
		prepare: func(t *testing.T, w *world, s *sm) *records.VKLoadReq {
			pk := w.pk()
			req := s.request(t, pk, pk.Expiry.Add(-time.Minute))
			w.clock.Set(pk.Expiry.Add(time.Minute))
			return req
		}},
}

// TestRefusals: each refusal with its own code; the module's file is
// issued in the same world without the change (checked first), so each
// case fails for its own reason only.
func TestRefusals(t *testing.T) {
	for _, tc := range refusals {
		t.Run(strings.ReplaceAll(tc.name, " ", "_"), func(t *testing.T) {
			storetest.Each(t, func(t *testing.T, db *store.DB) {
				mode := tc.mode
				if mode == "" {
					mode = kmc.ModeTest
				}
				w := newWorld(t, db, mode)
				w.addSGC(123456)
				w.genKey(attrs(123456, kmc.VUDK))
				s := newSM(t, "sts-test-sm", "94000001")
				if _, err := w.k.RegisterSM(w.ctx, actor, s.record(kmc.Vending, mode == kmc.ModeTest, false)); err != nil {
					t.Fatal(err)
				}
				w.grant(s, 123456, kmc.VUDK)

				req := tc.prepare(t, w, s)
				body, err := req.Format()
				if err != nil {
					t.Fatal(err)
				}
				before := w.auditCount("klf.refuse")
				_, err = w.k.IssueKLFText(w.ctx, "gateway", []byte(body))
				wantCode(t, err, tc.want)
				var e *kmc.Error
				errors.As(err, &e)
				if tc.want.Description() == "" {
					t.Errorf("%s has no description", tc.want)
				}
				if strings.Contains(err.Error(), hexU(s.mod.Key.Bytes())) {
					t.Error("the error holds the SM's private key")
				}
				if got := w.auditCount("klf.refuse") - before; (got == 1) != tc.audited {
					t.Errorf("%d klf.refuse audit records, audited = %v", got, tc.audited)
				}
			})
		})
	}
}

// TestRefusalControl: in the world of TestRefusals, unchanged, the file is
// issued (so each refusal is its change's doing), in both modes.
func TestRefusalControl(t *testing.T) {
	for _, mode := range []kmc.Mode{kmc.ModeTest, kmc.ModeLive} {
		t.Run(string(mode), func(t *testing.T) {
			storetest.Each(t, func(t *testing.T, db *store.DB) {
				w := newWorld(t, db, mode)
				w.addSGC(123456)
				w.genKey(attrs(123456, kmc.VUDK))
				s := newSM(t, "sts-test-sm", "94000001")
				if _, err := w.k.RegisterSM(w.ctx, actor, s.record(kmc.Vending, mode == kmc.ModeTest, mode == kmc.ModeLive)); err != nil {
					t.Fatal(err)
				}
				w.grant(s, 123456, kmc.VUDK)
				if keys := w.fetchKeys(s, w.pk(), t0); len(keys) != 1 {
					t.Fatalf("%d keys", len(keys))
				}
			})
		})
	}
}

// TestRequestText: what IssueKLFText makes of texts that do not hold
// exactly one good request.
func TestRequestText(t *testing.T) {
	s := newSM(t, "sts-test-sm", "94000001")
	kmcKey, _ := keyagree.TestKey("sts-test-kmc")
	kmcid, _ := records.NewPKID(records.KMCID, "TestKMC", "K0001", t0, kmcKey.PublicKey())
	req := s.request(t, &records.PKECDH{KMCID: kmcid, PublicKey: kmcKey.PublicKey(), Expiry: t0.AddDate(1, 0, 0)}, t0)
	body, _ := req.Format()
	block, _ := armor.Wrap(body)
	badCRC := body[:len(body)-4] + map[bool]string{true: "0000", false: "FFFF"}[!strings.HasSuffix(body, "0000")]
	for _, tc := range []struct {
		name string
		text string
		want kmc.Code
	}{
		{"one-line record", body, ""},
		{"Record-in-Email block", "Hello\r\n" + string(block) + "Bye\r\n", ""},
		{"quoted by a mail client", "> " + strings.ReplaceAll(string(block), "\r\n", "\r\n> "), ""},
		{"nothing", "Please send keys", kmc.ERecordFormat},
		{"two requests", string(block) + string(block), kmc.ERecordFormat},
		{"CRC altered", badCRC, kmc.ERecordCrc},
		{"field broken", strings.Replace(body, "|Test-SSM-1|", "|Test SSM 1|", 1), kmc.ERecordFormat},
		{"unterminated block", strings.TrimSuffix(string(block), "STS:VKLOAD.REQ.1 ENDS\r\n"), kmc.ERecordFormat},
	} {
		t.Run(strings.ReplaceAll(tc.name, " ", "_"), func(t *testing.T) {
			got, err := kmc.ParseRequest([]byte(tc.text))
			if tc.want == "" {
				if err != nil {
					t.Fatal(err)
				}
				if g, _ := got.Format(); g != body {
					t.Fatalf("parsed %q", g)
				}
				return
			}
			wantCode(t, err, tc.want)
		})
	}
}

// TestCodes: every code has a description; CodeOf maps foreign errors to
// EInternal; Params carry what the requester may see.
func TestCodes(t *testing.T) {
	seen := map[kmc.Code]bool{}
	for _, c := range kmc.Codes {
		if c.Description() == "" || !strings.HasPrefix(string(c), "E") || seen[c] {
			t.Errorf("code %q: description %q", c, c.Description())
		}
		seen[c] = true
	}
	if len(seen) != 14 {
		t.Errorf("%d codes, want the 14 of docs/kmc.md", len(seen))
	}
	if kmc.CodeOf(nil) != "" || kmc.CodeOf(errors.New("x")) != kmc.EInternal {
		t.Error("CodeOf")
	}
	if kmc.EVkloadExpired.Description() != "The VKLOADREQ is stale; generate a fresh VKLOADREQ and try again" {
		t.Error("EVkloadExpired does not carry the seed's text (STS 600-9-2 §8.3.2)")
	}
}
