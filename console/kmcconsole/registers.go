package kmcconsole

import (
	"context"
	_ "embed"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/stskms/stskms/console"
	"github.com/stskms/stskms/kmc"
	"github.com/stskms/stskms/records"
)

var (
	//go:embed keys.html
	keysTemplate string
	//go:embed modules.html
	modulesTemplate string
	//go:embed kuas.html
	kuasTemplate string
	//go:embed klfs.html
	klfsTemplate string
)

// Keys is what the supply groups and vending keys page shows: never a
// key, only its KCV.
type Keys struct {
	SGC, State   string // the filters as asked
	Groups       []kmc.SupplyGroup
	GroupsWindow console.Window // paged by "gp"
	Keys         []kmc.VendingKey
	Window       console.Window
}

// keysPage is /console/keys.
func keysPage(k *kmc.KMC) console.Page {
	return page("keys", "Supply groups and vending keys", kmc.OpRead, keysTemplate,
		func(ctx context.Context, q console.Query) (*Keys, error) { return keysOf(ctx, k, q) })
}

// keysOf reads the supply groups and vending keys q asks for: by SGC and
// (the keys) state, each list paged.
func keysOf(ctx context.Context, k *kmc.KMC, q console.Query) (*Keys, error) {
	sgc, bySGC, err := sgcOf(q, "sgc")
	if err != nil {
		return nil, err
	}
	state, err := q.Choice("state", kmc.StateActive, kmc.StateRetired)
	if err != nil {
		return nil, err
	}
	d := &Keys{SGC: q.Get("sgc"), State: state}
	groups, err := k.SupplyGroups(ctx)
	if err != nil {
		return nil, err
	}
	groups = filtered(groups, func(g kmc.SupplyGroup) bool { return !bySGC || g.SGC == sgc })
	d.Groups, d.GroupsWindow = console.Paged(q.WindowOf("gp"), groups)
	var sgcs []int
	if bySGC {
		sgcs = []int{sgc}
	}
	vks, err := k.VendingKeys(ctx, sgcs...)
	if err != nil {
		return nil, err
	}
	vks = filtered(vks, func(v kmc.VendingKey) bool { return state == "" || v.State == state })
	d.Keys, d.Window = console.Paged(q.Window(), vks)
	return d, nil
}

// Modules is what the module registry page shows.
type Modules struct {
	Variant, State, ID string // the filters as asked
	Modules            []kmc.SM
	Window             console.Window
}

// modulesPage is /console/modules, with the revoke action.
func modulesPage(k *kmc.KMC) console.Page {
	return page("modules", "Security modules", kmc.OpRead, modulesTemplate,
		func(ctx context.Context, q console.Query) (*Modules, error) { return modulesOf(ctx, k, q) },
		console.Action{Name: "revoke", Op: kmc.OpSMRevoke, Do: func(ctx context.Context, c console.Call) (string, error) {
			return revokeModule(ctx, k, c)
		}})
}

// modulesOf reads the registry as q asks: by variant, state (active or
// revoked) and a part of the module's vendor:id.
func modulesOf(ctx context.Context, k *kmc.KMC, q console.Query) (*Modules, error) {
	variant, err := q.Choice("variant", string(kmc.Vending), string(kmc.Manufacturing))
	if err != nil {
		return nil, err
	}
	state, err := q.Choice("state", "active", "revoked")
	if err != nil {
		return nil, err
	}
	id, err := q.One("id")
	if err != nil {
		return nil, err
	}
	sms, err := k.SMs(ctx)
	if err != nil {
		return nil, err
	}
	sms = filtered(sms, func(m kmc.SM) bool {
		return (variant == "" || string(m.Variant) == variant) && (state == "" || m.Revoked == (state == "revoked")) &&
			strings.Contains(strings.ToLower(m.Ref()), strings.ToLower(strings.TrimSpace(id)))
	})
	d := &Modules{Variant: variant, State: state, ID: id}
	d.Modules, d.Window = console.Paged(q.Window(), sms)
	return d, nil
}

// revokeModule revokes the registration of the form's module ("sm"),
// saying why ("reason"), as the KMC's RevokeSM does it.
func revokeModule(ctx context.Context, k *kmc.KMC, c console.Call) (string, error) {
	ref, err := required(c, "sm", "name the module: vendor:id or its SMID")
	if err != nil {
		return "", err
	}
	reason, err := required(c, "reason", "say why the module is revoked")
	if err != nil {
		return "", err
	}
	m, err := k.RevokeSM(ctx, c.Actor.String(), ref, reason)
	if err != nil {
		return "", err
	}
	return fmt.Sprintf("Revoked security module %s: it gets no Key Load File from now on.", m.Ref()), nil
}

// KUAs is what the key-use authorisations page shows.
type KUAs struct {
	SM, State string // the filters as asked
	KUAs      []kmc.KUA
	Window    console.Window
	Now       time.Time
	Types     []kmc.KeyType // offered in the grant form
}

// kuaStates are the states the page filters by.
var kuaStates = []string{"valid", "revoked", "expired"}

// kuasPage is /console/kuas, with the grant and revoke actions.
func kuasPage(k *kmc.KMC) console.Page {
	return page("kuas", "Key-use authorisations", kmc.OpRead, kuasTemplate,
		func(ctx context.Context, q console.Query) (*KUAs, error) { return kuasOf(ctx, k, q) },
		console.Action{Name: "grant", Op: kmc.OpKUAGrant, Do: func(ctx context.Context, c console.Call) (string, error) {
			return grant(ctx, k, c)
		}},
		console.Action{Name: "revoke", Op: kmc.OpKUARevoke, Do: func(ctx context.Context, c console.Call) (string, error) {
			return revokeKUA(ctx, k, c)
		}})
}

// kuasOf reads the authorisations q asks for: of one module ("sm"), in a
// state ("state"), paged.
func kuasOf(ctx context.Context, k *kmc.KMC, q console.Query) (*KUAs, error) {
	ref, err := q.One("sm")
	if err != nil {
		return nil, err
	}
	state, err := q.Choice("state", kuaStates...)
	if err != nil {
		return nil, err
	}
	all, err := k.KUAs(ctx, strings.TrimSpace(ref))
	if errors.Is(err, kmc.ErrNotFound) || errors.Is(err, kmc.ErrInvalid) {
		return nil, console.BadInput("sm", "no one registered module of that name")
	}
	if err != nil {
		return nil, err
	}
	d := &KUAs{SM: ref, State: state, Now: time.Now().UTC(), Types: []kmc.KeyType{kmc.KeyInit, kmc.VDDK, kmc.VUDK, kmc.VCDK}}
	all = filtered(all, func(a kmc.KUA) bool { return state == "" || kuaState(a, d.Now) == state })
	d.KUAs, d.Window = console.Paged(q.Window(), all)
	return d, nil
}

// kuaState is one of kuaStates, or "not yet" for one that starts later.
func kuaState(a kmc.KUA, now time.Time) string {
	switch {
	case !a.RevokedAt.IsZero():
		return "revoked"
	case a.Valid(now):
		return "valid"
	case now.Before(a.From):
		return "not yet"
	}
	return "expired"
}

// grant grants the form's authorisation: module "sm", supply group "sgc",
// key types "types" (one or more), days "from" (optional: now) and
// "until" (the day it ends, at 00:00 UTC).
func grant(ctx context.Context, k *kmc.KMC, c console.Call) (string, error) {
	ref, err := required(c, "sm", "name the module: vendor:id or its SMID")
	if err != nil {
		return "", err
	}
	sgc, ok, err := sgcOf(formOf(c), "sgc")
	if err == nil && !ok {
		err = console.BadInput("sgc", "give the supply group code")
	}
	if err != nil {
		return "", err
	}
	types, err := typesOf(c)
	if err != nil {
		return "", err
	}
	from, err := formOf(c).Day("from")
	if err != nil {
		return "", err
	}
	until, err := formOf(c).Day("until")
	if err == nil && until.IsZero() {
		err = console.BadInput("until", "give the day the authorisation ends")
	}
	if err != nil {
		return "", err
	}
	a, err := k.Grant(ctx, c.Actor.String(), ref, kmc.KUA{SGC: sgc, Types: types, From: from, Until: until})
	if err != nil {
		return "", err
	}
	return fmt.Sprintf("Granted authorisation %d: %s may receive %s keys of supply group %06d from %s until %s.",
		a.ID, a.SMID, a.Types, a.SGC, a.From.Format(records.TimeLayout), a.Until.Format(records.TimeLayout)), nil
}

// typesOf reads the form's key types: each value of "types" a type name.
func typesOf(c console.Call) (kmc.KeyTypes, error) {
	var types kmc.KeyTypes
	for _, s := range c.Form["types"] {
		t, err := kmc.ParseKeyType(s)
		if err != nil || types.Has(t) {
			return 0, console.BadInput("types", "each key type once: INIT, VDDK, VUDK or VCDK")
		}
		types |= kmc.TypesOf(t)
	}
	if types == 0 {
		return 0, console.BadInput("types", "choose at least one key type")
	}
	return types, nil
}

// revokeKUA revokes the form's authorisation ("id").
func revokeKUA(ctx context.Context, k *kmc.KMC, c console.Call) (string, error) {
	s, err := formOf(c).One("id")
	if err != nil {
		return "", err
	}
	id, err := strconv.ParseInt(s, 10, 64)
	if err != nil || id < 1 || s[0] == '+' {
		return "", console.BadInput("id", "an authorisation's number, 1 or more")
	}
	a, err := k.RevokeKUA(ctx, c.Actor.String(), id)
	if err != nil {
		return "", err
	}
	return fmt.Sprintf("Revoked authorisation %d of %s for supply group %06d: no Key Load File carries its keys from now on.",
		a.ID, a.SMID, a.SGC), nil
}

// Files is what the Key Load Files page shows.
type Files struct {
	SM, SGC, From, To string // the filters as asked
	Files             []kmc.FoundFile
	Window            console.Window
}

// klfsPage is /console/klfs.
func klfsPage(k *kmc.KMC) console.Page {
	return page("klfs", "Key Load Files issued", kmc.OpKLFList, klfsTemplate,
		func(ctx context.Context, q console.Query) (*Files, error) { return filesOf(ctx, k, q) })
}

// filesOf searches the files issued as q asks: by module ("sm"), supply
// group ("sgc") and the days "from" and "to" (UTC, both included).
func filesOf(ctx context.Context, k *kmc.KMC, q console.Query) (*Files, error) {
	ref, err := q.One("sm")
	if err != nil {
		return nil, err
	}
	s := kmc.FileSearch{SM: strings.TrimSpace(ref)}
	if s.SGC, s.HasSGC, err = sgcOf(q, "sgc"); err != nil {
		return nil, err
	}
	if s.From, s.Until, err = q.Days(); err != nil {
		return nil, err
	}
	found, err := k.SearchIssuedFiles(ctx, s)
	if errors.Is(err, kmc.ErrNotFound) || errors.Is(err, kmc.ErrInvalid) {
		return nil, console.BadInput("sm", "no one registered module of that name")
	}
	if err != nil {
		return nil, err
	}
	d := &Files{SM: ref, SGC: q.Get("sgc"), From: q.Get("from"), To: q.Get("to")}
	d.Files, d.Window = console.Paged(q.Window(), found)
	return d, nil
}
