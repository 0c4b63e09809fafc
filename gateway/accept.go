package gateway

import (
	"context"

	"github.com/emersion/go-smtp"
)

// NewServer returns an SMTP (or LMTP) server that stores every message
// addressed to the gateway in the queue before it answers 250; serve it on
// a listener with its Serve method, stop it with Close or Shutdown.
func (g *Gateway) NewServer(o ServerOptions) *smtp.Server {
	return newServer(&backend{inbox: g, maxMessage: g.cfg.MaxMessageBytes, maxAccept: g.cfg.MaxAcceptBytes,
		now: g.now, log: g.log, metrics: g.metrics}, g.cfg.Hostname, o)
}

// Accept stores a message received by other means than the server (a
// pipe from an MTA, a test), exactly as the server does; it returns the
// message's reference.
func (g *Gateway) Accept(ctx context.Context, env Envelope, raw []byte) (string, error) {
	if env.Received.IsZero() {
		env.Received = g.now()
	}
	size, truncated := int64(len(raw)), false
	if size > g.cfg.MaxMessageBytes {
		raw, truncated = headerOnly(raw), true
	}
	return g.accept(ctx, env, raw, size, truncated)
}

// takes implements inbox: the gateway takes mail to its addresses and to
// its bounce address.
func (g *Gateway) takes(rcpt string) bool {
	_, bounce := g.bounceRcpt(rcpt)
	return bounce || containsAddress(g.policy.Addresses, rcpt)
}

// accept implements inbox: it stores the message in the queue, starts the
// sender checks of a request that will be answered, and wakes a worker. A
// redelivery (dedupe.go) is stored as ignored and goes no further.
func (g *Gateway) accept(ctx context.Context, env Envelope, raw []byte, size int64, truncated bool) (string, error) {
	ref, first, err := g.q.accept(ctx, env, raw, size, truncated)
	if err != nil {
		return "", err
	}
	if first != "" {
		g.log.Info("gateway: ignored: duplicate delivery", "ref", ref, "first", first, "from", env.From)
		g.metrics.finished(&mailUpdate{state: StateIgnored, reason: Duplicate})
		return ref, nil
	}
	if g.auth != nil && !g.isBounce(env) {
		g.auth.start(ref, env, raw, size, truncated, &g.policy)
	}
	g.q.mailReady.kick()
	return ref, nil
}
