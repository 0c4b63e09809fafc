// Package kmcgateway is where the KMC and its e-mail gateway meet: it adapts
// a *kmc.KMC to the gateway's small KMC interface, so that package gateway
// never imports package kmc. `stskms gateway serve` and the whole-loop demo
// both use it.
package kmcgateway

import (
	"context"
	"errors"
	"time"

	"github.com/stskms/stskms/audit"
	"github.com/stskms/stskms/gateway"
	"github.com/stskms/stskms/gwresult"
	"github.com/stskms/stskms/kmc"
	"github.com/stskms/stskms/records"
)

// New returns the gateway's view of k.
func New(k *kmc.KMC) gateway.KMC { return adapter{k} }

type adapter struct{ k *kmc.KMC }

// PublicKey implements gateway.KMC: the current key's fingerprint and
// PK.ECDH.1.
func (a adapter) PublicKey(ctx context.Context) (gateway.PublicKeyInfo, error) {
	key, err := a.k.CurrentKey(ctx)
	if err != nil {
		return gateway.PublicKeyInfo{}, &gateway.ServiceError{Code: gwresult.EInternal, Temporary: true, Err: err}
	}
	return gateway.PublicKeyInfo{Fingerprint: key.Fingerprint.String(), Record: key.Body}, nil
}

// IssueKLF implements gateway.KMC: idempotent per request mail through
// kmc.IssueOptions.Ref, and only to registered reply addresses.
func (a adapter) IssueKLF(ctx context.Context, r gateway.KLFRequest) (gateway.KLF, error) {
	req, err := kmc.ParseRequest([]byte(r.Request))
	if err != nil {
		return gateway.KLF{}, serviceError(err)
	}
	klf, err := a.k.IssueKLFWith(ctx, "gateway", req, kmc.IssueOptions{Ref: r.ID, ReplyTo: r.ReplyTo})
	if err != nil {
		return gateway.KLF{}, serviceError(err)
	}
	return gateway.KLF{SMID: klf.SMID.String(), Bodies: klf.Bodies}, nil
}

// ApplyRegistryUpdate implements gateway.KMC: the STS Association's
// signed registry update, idempotent per request mail through
// kmc.UpdateOptions.Ref; ENotAvailable when the KMC has no STSA key
// configured. The actor in the audit log names the sender.
func (a adapter) ApplyRegistryUpdate(ctx context.Context, u gateway.RegistryUpdate) (string, error) {
	res, err := a.k.ApplyRegistryUpdate(ctx, "gateway:"+u.Sender, u.File, kmc.UpdateOptions{Ref: u.ID})
	if err != nil {
		return "", serviceError(err)
	}
	return res.Summary(), nil
}

// Retain implements gateway.Retainer: it records the gateway's prune in
// the KMC's audit log (gateway.purge) and prunes the KMC's seen requests
// older than age too (kmc.Prune, audited as kmc.prune) — once the gateway
// forgot a request, nothing retries its delivery — but never younger than
// the KMC's MinPruneAge, so replay protection keeps what it needs.
func (a adapter) Retain(ctx context.Context, age time.Duration, purged gateway.PurgeResult) error {
	if _, err := a.k.AuditLog().AppendNow(ctx, audit.Entry{Actor: "gateway", Action: "gateway.purge",
		Subject: purged.Before.UTC().Format(records.TimeLayout),
		Details: map[string]any{"before": age.String(), "mails": purged.Mails, "replies": purged.Replies,
			"bounces": purged.Bounces}}); err != nil {
		return err
	}
	_, err := a.k.Prune(ctx, "gateway", max(age, a.k.MinPruneAge()))
	return err
}

// serviceError turns a KMC refusal into the gateway's: the same code,
// description and params; EInternal and any other error are transient.
func serviceError(err error) error {
	var ke *kmc.Error
	if errors.As(err, &ke) {
		return &gateway.ServiceError{Code: string(ke.Code), Description: ke.Code.Description(), Params: ke.Params,
			Temporary: ke.Code == kmc.EInternal, Err: ke.Err}
	}
	return &gateway.ServiceError{Code: gwresult.EInternal, Temporary: true, Err: err}
}
