// Package kmcconsole is the operator console's page set of a KMC
// (package console, docs/console.md): the overview of its mode, key,
// audit log and registry, with the KMC's own role table (kmc.Allow) as the
// console's rules.
package kmcconsole

import (
	"context"
	_ "embed"
	"encoding/hex"
	"time"

	"github.com/stskms/stskms/console"
	"github.com/stskms/stskms/gateway"
	"github.com/stskms/stskms/internal/role"
	"github.com/stskms/stskms/kmc"
	"github.com/stskms/stskms/kmc/api"
)

//go:embed overview.html
var overviewTemplate string

// Options are the parts of a KMC's console beyond the KMC itself.
type Options struct {
	// Queue is the e-mail gateway's queue in the KMC's directory, nil
	// when the directory has no gateway (the gateway page says so).
	Queue *gateway.Queue
}

// Site returns the console's site of k, with the parts o names.
func Site(k *kmc.KMC, o Options) console.Site {
	return console.Site{
		Name:    "KMC",
		Allow:   kmc.Allow,
		Explain: api.Explain,
		Pages: []console.Page{
			{Title: "Overview", Op: kmc.OpRead, Template: overviewTemplate,
				Data: func(ctx context.Context, a role.Actor, _ console.Query) (any, error) { return overviewOf(ctx, k, a) }},
			keysPage(k),
			modulesPage(k),
			kuasPage(k),
			klfsPage(k),
			refusalsPage(k),
			gatewayPage(k, o.Queue),
			activityPage(k, o.Queue),
			auditPage(k),
			keyOpsPage(k),
			importsPage(k),
		},
	}
}

// Overview is what the overview page shows.
type Overview struct {
	Vendor, ID  string
	Mode        kmc.Mode
	Release     string
	Key         *kmc.Key // the current key pair, nil if none
	KeyDaysLeft int
	Audit       AuditState
	Counts      Counts
}

// AuditState is the audit log's head as its quick check found it.
type AuditState struct {
	Records int64
	Head    string // hex
	Root    string // hex
	Problem string // "" if the check passed
}

// Counts are the sizes of the KMC's registers.
type Counts struct {
	SupplyGroups, VendingKeys, ActiveVendingKeys, Modules, RevokedModules int
}

// overviewOf reads the overview for a (any role: kmc.OpRead).
func overviewOf(ctx context.Context, k *kmc.KMC, a role.Actor) (*Overview, error) {
	if err := kmc.Allow(a, kmc.OpRead); err != nil {
		return nil, err
	}
	o := &Overview{Mode: k.Mode(), Release: k.Release().String()}
	if id, err := k.Identity(); err == nil {
		o.Vendor, o.ID = id.Vendor, id.ID
	}
	if key, err := k.CurrentKey(ctx); err == nil {
		o.Key = &key
		o.KeyDaysLeft = int(time.Until(key.Expiry()).Hours() / 24)
	}
	rep, err := k.AuditLog().Check(ctx)
	o.Audit = AuditState{Records: rep.Records, Head: hex.EncodeToString(rep.Head[:]), Root: hex.EncodeToString(rep.Root[:])}
	if err != nil {
		o.Audit.Problem = err.Error()
	}
	return o, o.count(ctx, k)
}

// count fills in the counts.
func (o *Overview) count(ctx context.Context, k *kmc.KMC) error {
	sgs, err := k.SupplyGroups(ctx)
	if err != nil {
		return err
	}
	vks, err := k.VendingKeys(ctx)
	if err != nil {
		return err
	}
	sms, err := k.SMs(ctx)
	if err != nil {
		return err
	}
	o.Counts = Counts{SupplyGroups: len(sgs), VendingKeys: len(vks), Modules: len(sms)}
	for _, vk := range vks {
		if vk.State == kmc.StateActive {
			o.Counts.ActiveVendingKeys++
		}
	}
	for _, sm := range sms {
		if sm.Revoked {
			o.Counts.RevokedModules++
		}
	}
	return nil
}
