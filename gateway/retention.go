package gateway

import (
	"context"
	"time"
)

// A Retainer is a KMC that keeps records for the gateway's requests and
// follows the gateway's retention (package kmcgateway's adapter: the
// KMC's seen requests). After each prune of its own tables, Run calls
// Retain with Config.Retain and what the prune deleted; the KMC records
// the prune in its audit log and prunes its own records older than age.
type Retainer interface {
	Retain(ctx context.Context, age time.Duration, purged PurgeResult) error
}

// retain prunes at once, then every Config.PruneEvery, until ctx ends;
// with a negative Config.Retain it does nothing.
func (g *Gateway) retain(ctx context.Context) {
	if g.cfg.Retain < 0 {
		return
	}
	t := time.NewTicker(g.cfg.PruneEvery)
	defer t.Stop()
	for {
		if err := g.prune(ctx); err != nil && ctx.Err() == nil {
			g.log.Error("gateway: retention prune failed", "err", err)
		}
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}

// prune deletes what finished more than Config.Retain ago (Purge, which
// logs it) and lets a Retainer KMC follow.
func (g *Gateway) prune(ctx context.Context) error {
	res, err := g.q.Purge(ctx, g.cfg.Retain, false)
	if err != nil {
		return err
	}
	if r, ok := g.kmc.(Retainer); ok {
		return r.Retain(ctx, g.cfg.Retain, res)
	}
	return nil
}
