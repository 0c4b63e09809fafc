package gateway

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	netmail "net/mail"
	"strings"
	"time"

	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/stskms/stskms/store"
)

// Gateway is the KMS e-mail gateway. Its rooms are the queue (Queue: the
// store), the server (server.go: SMTP and LMTP, which only hands messages
// to Accept), the worker (worker.go: claim, admit, execute, finish; and
// send.go), the pure policy and reply composition (policy.go, reply.go)
// and the KMC behind its interface (kmc.go).
type Gateway struct {
	cfg     Config
	q       *Queue
	kmc     KMC
	sender  Sender
	policy  Policy
	from    netmail.Address
	limits  *limiter
	auth    *authRunner // nil: no sender checks
	log     *slog.Logger
	metrics *metrics

	// hook, if set (tests), is called at named points of the processing;
	// an error return stops there as a crash would.
	hook func(point string) error
}

// New opens the gateway on db, migrating its tables (component
// "gateway"). sender delivers replies (a *Relay); kmc answers the
// services. Either may be nil for a gateway used only to accept mail or
// to administer its queue (Queue; OpenQueue needs no Gateway at all);
// processing then fails with ErrNotConfigured.
func New(ctx context.Context, db *store.DB, kmc KMC, sender Sender, cfg Config) (*Gateway, error) {
	if _, err := netmail.ParseAddress(cfg.Address); err != nil || !strings.Contains(cfg.Address, "@") {
		return nil, fmt.Errorf("gateway: bad address %q", cfg.Address)
	}
	cfg, err := cfg.withDefaults()
	if err != nil {
		return nil, err
	}
	q, err := openQueue(ctx, db, cfg)
	if err != nil {
		return nil, err
	}
	var own []string
	if cfg.EnvelopeSender != "" {
		own = []string{cfg.EnvelopeSender}
	}
	return &Gateway{
		cfg: cfg, q: q, kmc: kmc, sender: sender,
		policy: Policy{Addresses: append([]string{cfg.Address}, cfg.Aliases...), Own: own,
			MaxMessageBytes: cfg.MaxMessageBytes},
		from:    netmail.Address{Name: cfg.FromName, Address: cfg.Address},
		limits:  newLimiter(*cfg.Limits),
		auth:    newAuthRunner(cfg.Auth),
		log:     cfg.Logger,
		metrics: newMetrics(q),
	}, nil
}

// ErrNotConfigured: the gateway has no KMC or no sender.
var ErrNotConfigured = errors.New("gateway: no KMC or no sender configured")

// Queue returns the gateway's queue, for administration and tests.
func (g *Gateway) Queue() *Queue { return g.q }

// MetricsHandler serves the gateway's metrics in the Prometheus text
// format (for /metrics). They carry no secrets: counts, states, reasons
// and result codes.
func (g *Gateway) MetricsHandler() http.Handler {
	return promhttp.HandlerFor(g.metrics.reg, promhttp.HandlerOpts{ErrorHandling: promhttp.ContinueOnError})
}

func (g *Gateway) now() time.Time { return g.cfg.Now() }

// at calls the test hook at point.
func (g *Gateway) at(point string) error {
	if g.hook == nil {
		return nil
	}
	return g.hook(point)
}

// finish leaves the claimed mail as u says (Queue.finish), counts it and
// wakes the senders for its replies.
func (g *Gateway) finish(ctx context.Context, c *claimed, u mailUpdate) error {
	if err := g.q.finish(ctx, c, &u); err != nil {
		return err
	}
	g.metrics.finished(&u)
	if len(u.out) > 0 {
		g.q.outReady.kick()
	}
	return nil
}

// backoff is the delay before attempt n+1 (n ≥ 1): RetryBase·2ⁿ⁻¹, capped
// at RetryMax.
func (g *Gateway) backoff(n int64) time.Duration {
	d := g.cfg.RetryBase
	for i := int64(1); i < n && d < g.cfg.RetryMax; i++ {
		d *= 2
	}
	return min(d, g.cfg.RetryMax)
}
