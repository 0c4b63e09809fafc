package gateway

import (
	"context"
	"errors"
)

// SendNext sends the next due reply, if any, and reports whether there was
// one. A failed send is retried with exponential back-off (RetryBase,
// doubling up to RetryMax) until GiveUpAfter, or given up at once on a
// permanent refusal.
func (g *Gateway) SendNext(ctx context.Context) (bool, error) {
	if g.sender == nil {
		return false, ErrNotConfigured
	}
	o, err := g.q.claimOut(ctx)
	if err != nil || o == nil {
		return false, err
	}
	if err := g.at("sending"); err != nil {
		return true, err
	}
	serr := g.sender.Send(ctx, g.envelopeFrom(o), o.to, o.data)
	if serr == nil {
		if err := g.at("sent"); err != nil {
			return true, err
		}
	}
	now := g.now()
	state, next, msg := OutSent, now, ""
	switch {
	case serr == nil:
		g.log.Info("gateway: reply sent", "ref", o.ref, "id", o.id, "kind", o.kind, "latency_ms", now.Sub(o.received).Milliseconds())
	case errors.Is(serr, ErrPermanent) || now.Sub(o.created) >= g.cfg.GiveUpAfter:
		state, msg = OutFailed, serr.Error()
		g.log.Error("gateway: reply not delivered, giving up", "ref", o.ref, "id", o.id, "err", serr)
	default:
		next, msg = now.Add(g.backoff(o.tries)), serr.Error()
		state = OutPending
		g.log.Warn("gateway: reply not delivered, will retry", "ref", o.ref, "id", o.id, "err", serr, "next", next)
	}
	err = g.q.finishOut(ctx, o, state, next, msg)
	if err == nil {
		g.metrics.sent(o, state, now)
	}
	if err != nil && !errors.Is(err, errLostClaim) {
		return true, err
	}
	return true, nil
}
