package kmc

import (
	"context"
	"encoding/json"
	"time"

	"github.com/stskms/stskms/audit"
)

// KLFEvent is one answer to a Key Load File request, as the audit log
// records it: a file issued (Code "") or a refusal and its code.
type KLFEvent struct {
	Time time.Time
	Code Code // "" for a file issued
}

// KLFActivity calls fn with each Key Load File issued or refused since
// from, oldest first (OpRead: counts and codes, never keys).
func (k *KMC) KLFActivity(ctx context.Context, a Actor, from time.Time, fn func(KLFEvent) error) error {
	if err := Allow(a, OpRead); err != nil {
		return err
	}
	err := k.log.Since(ctx, from, []string{"klf.issue", "klf.refuse"}, func(r audit.Record) error {
		e := KLFEvent{Time: r.Time}
		if r.Action == "klf.refuse" {
			if e.Code = RefusalCode(r); e.Code == "" {
				e.Code = "unknown"
			}
		}
		return fn(e)
	})
	if err != nil {
		return failed("read the audit log", err)
	}
	return nil
}

// RefusalCode is the code an audit record of a refusal ("klf.refuse",
// "sm.update.refuse") names in its details, or "" if it names none.
func RefusalCode(r audit.Record) Code {
	var d struct {
		Code Code `json:"code"`
	}
	if raw, ok := r.Details.(json.RawMessage); ok {
		_ = json.Unmarshal(raw, &d)
	}
	return d.Code
}
