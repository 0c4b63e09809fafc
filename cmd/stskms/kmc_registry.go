package main

import (
	"context"
	"encoding/hex"
	"errors"
	"fmt"
	"os"
	"strconv"
	"strings"
	"time"

	"github.com/stskms/stskms/keyagree"
	"github.com/stskms/stskms/kmc"
	"github.com/stskms/stskms/records"
)

// The KMC's registry: security modules and key-use authorisations.

func runKMCSMRegister(e *env, args []string) error {
	fs := newFlags("kmc sm register", "--dir DIR (--request FILE | --smid SMID --public-key HEX --model M --firmware F) --variant V [flags]",
		"Registers a security module. From --request, the module's own VKLOAD.REQ.1 (mail body,\n"+
			"file of records or one-line record) made for this KMC: its tag must verify, proving the\n"+
			"module holds its key. A live KMC registers no virtual module.")
	f := addKMCFlags(e, fs)
	reqFile := fs.String("request", "", "the module's VKLOAD.REQ.1")
	smid := fs.String("smid", "", "SMID.1 of the module (without --request)")
	pub := fs.String("public-key", "", "its P-384 public key, 194 hex digits (without --request)")
	model := fs.String("model", "", "model (without --request)")
	firmware := fs.String("firmware", "", "firmware, 8 characters (without --request)")
	variant := fs.String("variant", "", "vending or manufacturing (required)")
	virtual := &optBool{}
	fs.Var(virtual, "virtual", "a virtual (software) module, or --virtual=false for hardware; default: virtual on a\n"+
		"                 test KMC unless --certified, hardware on a live KMC (which registers no virtual module)")
	certified := fs.Bool("certified", false, "certified hardware module (STS Association)")
	emails := fs.String("email", "", "addresses allowed to receive its Key Load Files, comma-separated")
	return f.run(e, fs, args, func(k *kmc.KMC) error {
		v, err := kmc.ParseVariant(*variant)
		if err != nil {
			return err
		}
		id, err := k.Identity()
		if err != nil {
			return err
		}
		reg := kmc.Registration{Variant: v, Virtual: virtual.or(kmc.DefaultVirtual(id.Mode, *certified)),
			Certified: *certified, Emails: splitList(*emails)}
		ctx := context.Background()
		var sm kmc.SM
		if *reqFile != "" {
			text, err := os.ReadFile(*reqFile)
			if err != nil {
				return err
			}
			req, err := kmc.ParseRequest(text)
			if err != nil {
				return err
			}
			sm, err = k.RegisterSMFromRequest(ctx, f.as, req, reg)
			if err != nil {
				return err
			}
		} else {
			id, err := records.ParsePKID(*smid)
			if err != nil {
				return fmt.Errorf("--smid: %w", err)
			}
			point, err := hex.DecodeString(*pub)
			if err != nil {
				return fmt.Errorf("--public-key: not hex")
			}
			key, err := keyagree.ParsePublicKey(point)
			if err != nil {
				return fmt.Errorf("--public-key: %w", err)
			}
			sm, err = k.RegisterSM(ctx, f.as, kmc.SM{SMID: id, PublicKey: key, Model: *model, Firmware: *firmware,
				Variant: reg.Variant, Virtual: reg.Virtual, Certified: reg.Certified, Emails: reg.Emails})
			if err != nil {
				return err
			}
		}
		fmt.Fprintf(e.stdout, "registered %s (%s, %s)\n", sm.SMID, sm.Variant, smKind(sm))
		return nil
	})
}

func splitList(s string) []string {
	var out []string
	for _, f := range strings.Split(s, ",") {
		if f = strings.TrimSpace(f); f != "" {
			out = append(out, f)
		}
	}
	return out
}

func smKind(sm kmc.SM) string {
	switch {
	case sm.Virtual:
		return "virtual"
	case sm.Certified:
		return "certified hardware"
	}
	return "hardware, not certified"
}

func runKMCSMList(e *env, args []string) error {
	fs := newFlags("kmc sm list", "--dir DIR [--json]", "Lists the registered security modules.")
	f := addKMCFlags(e, fs)
	asJSON := fs.Bool("json", false, "one JSON object per module")
	return showKMC(e, fs, f, args, (*kmc.KMC).SMs, func(sms []kmc.SM) {
		printEach(e, *asJSON, sms, func(sm kmc.SM) any {
			return fields{{"smid", sm.SMID.String()}, {"model", sm.Model}, {"firmware", sm.Firmware},
				{"variant", string(sm.Variant)}, {"virtual", sm.Virtual}, {"certified", sm.Certified},
				{"revoked", sm.Revoked}, {"emails", sm.Emails}}
		}, func(sm kmc.SM) {
			state := "active"
			if sm.Revoked {
				state = "REVOKED " + sm.RevokedAt.Format(records.TimeLayout)
			}
			fmt.Fprintf(e.stdout, "%s  %s %s  %s, %s  %s  %s\n", sm.SMID, sm.Model, sm.Firmware, sm.Variant, smKind(sm),
				strings.Join(sm.Emails, ","), state)
		})
	})
}

func runKMCSMRevoke(e *env, args []string) error {
	fs := newFlags("kmc sm revoke", "--dir DIR --sm REF --reason TEXT",
		"Revokes a module's registration for good: it gets no Key Load File from then on.\n"+
			"REF is its SMID, vendor:id, or its id alone if that names one module.")
	f := addKMCFlags(e, fs)
	ref := fs.String("sm", "", "the module (required)")
	reason := fs.String("reason", "", "why (for the audit log)")
	return showKMC(e, fs, f, args, func(k *kmc.KMC, ctx context.Context) (kmc.SM, error) {
		return k.RevokeSM(ctx, f.as, *ref, *reason)
	}, func(sm kmc.SM) { fmt.Fprintf(e.stdout, "revoked %s\n", sm.SMID) })
}

func runKMCSMEmail(e *env, args []string) error {
	fs := newFlags("kmc sm email", "--dir DIR --sm REF --email ADDR[,ADDR…]",
		"Sets the addresses allowed to receive a module's Key Load Files by mail, replacing the\n"+
			"old ones (--email '' removes them all): for a module the STS Association's registry\n"+
			"update added, which comes without any, or when its operators change. Audited.")
	f := addKMCFlags(e, fs)
	ref := fs.String("sm", "", "the module (required)")
	emails := fs.String("email", "", "the addresses, comma-separated")
	return showKMC(e, fs, f, args, func(k *kmc.KMC, ctx context.Context) (kmc.SM, error) {
		return k.SetSMEmails(ctx, f.as, *ref, splitList(*emails))
	}, func(sm kmc.SM) { fmt.Fprintf(e.stdout, "%s: %s\n", sm.SMID, strings.Join(sm.Emails, ",")) })
}

func runKMCKUAGrant(e *env, args []string) error {
	fs := newFlags("kmc kua grant", "--dir DIR --sm REF --sgc NNNNNN [--types VUDK,VCDK] [--from T] [--until T]",
		"Authorises a module to receive a supply group's vending keys of the given types in its\n"+
			"Key Load Files, from --from (default now) until --until. A vending module cannot be\n"+
			"authorised for INIT keys. A grant an unrevoked authorisation is in force for at its\n"+
			"start is refused and names it (repeating a grant makes no second one; renew --from its end).")
	f := addKMCFlags(e, fs)
	ref := fs.String("sm", "", "the module: SMID, vendor:id or id (required)")
	sgc := sgcVar(fs, "sgc", "", "supply group code, 6 digits (required)")
	types := fs.String("types", "VDDK,VUDK,VCDK", "key types, comma-separated")
	var from, until timeFlag
	fs.Var(&from, "from", "start (default now)")
	fs.Var(&until, "until", "end (default from + 1 year)")
	return showKMC(e, fs, f, args, func(k *kmc.KMC, ctx context.Context) (kmc.KUA, error) {
		kt, err := kmc.ParseKeyTypes(*types)
		if err != nil {
			return kmc.KUA{}, err
		}
		if until.t.IsZero() {
			start := from.t
			if start.IsZero() {
				start = time.Now()
			}
			until.t = start.AddDate(1, 0, 0)
		}
		code, err := sgc.need()
		if err != nil {
			return kmc.KUA{}, err
		}
		return k.Grant(ctx, f.as, *ref, kmc.KUA{SGC: code, Types: kt, From: from.t, Until: until.t})
	}, func(a kmc.KUA) {
		fmt.Fprintf(e.stdout, "authorisation %d: %s for %06d %s from %s until %s\n", a.ID, a.SMID, a.SGC, a.Types,
			a.From.Format(records.TimeLayout), a.Until.Format(records.TimeLayout))
	})
}

func runKMCKUARevoke(e *env, args []string) error {
	fs := newFlags("kmc kua revoke", "--dir DIR --id N", "Revokes an authorisation.")
	f := addKMCFlags(e, fs)
	id := fs.Int64("id", 0, "the authorisation's number (required)")
	return showKMC(e, fs, f, args, func(k *kmc.KMC, ctx context.Context) (kmc.KUA, error) {
		return k.RevokeKUA(ctx, f.as, *id)
	}, func(a kmc.KUA) { fmt.Fprintf(e.stdout, "authorisation %d revoked\n", a.ID) })
}

func runKMCKUAList(e *env, args []string) error {
	fs := newFlags("kmc kua list", "--dir DIR [--sm REF] [--json]", "Lists authorisations, revoked ones included.")
	f := addKMCFlags(e, fs)
	ref := fs.String("sm", "", "only this module's")
	asJSON := fs.Bool("json", false, "one JSON object per authorisation")
	return f.run(e, fs, args, func(k *kmc.KMC) error {
		list, err := k.KUAs(context.Background(), *ref)
		if err != nil {
			return err
		}
		now := time.Now()
		state := func(a kmc.KUA) string {
			switch {
			case !a.RevokedAt.IsZero():
				return "revoked"
			case !a.Valid(now):
				return "not valid now"
			}
			return "valid"
		}
		printEach(e, *asJSON, list, func(a kmc.KUA) any {
			return fields{{"id", a.ID}, {"smid", a.SMID}, {"sgc", fmt.Sprintf("%06d", a.SGC)},
				{"types", a.Types.String()}, {"from", a.From.Format(records.TimeLayout)},
				{"until", a.Until.Format(records.TimeLayout)}, {"state", state(a)}}
		}, func(a kmc.KUA) {
			fmt.Fprintf(e.stdout, "%d  %s  %06d  %s  %s..%s  %s\n", a.ID, a.SMID, a.SGC, a.Types,
				a.From.Format(records.TimeLayout), a.Until.Format(records.TimeLayout), state(a))
		})
		return nil
	})
}

// optBool is a boolean flag that knows whether it was given.
type optBool struct{ set, v bool }

func (b *optBool) String() string {
	if !b.set {
		return ""
	}
	return strconv.FormatBool(b.v)
}

func (b *optBool) Set(s string) error {
	v, err := strconv.ParseBool(s)
	if err != nil {
		return errors.New("want true or false")
	}
	b.set, b.v = true, v
	return nil
}

// IsBoolFlag lets --virtual stand for --virtual=true.
func (b *optBool) IsBoolFlag() bool { return true }

// or is the flag's value, or def if it was not given.
func (b *optBool) or(def bool) bool {
	if b.set {
		return b.v
	}
	return def
}
