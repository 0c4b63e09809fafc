package gateway

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	netmail "net/mail"
	"strings"
	"sync"
	"time"

	"github.com/stskms/stskms/store"
)

// Config configures a Gateway. Only Address is required.
type Config struct {
	// Address is the gateway's address, the one requests go To:
	// ("kmc@kms.example.com").
	Address string
	// Aliases are further addresses that reach the gateway; they count
	// for the To: rule and as the gateway's own mail.
	Aliases []string
	// FromName is the display name of replies (default "STS KMS E-mail
	// Gateway"); they come From: Address.
	FromName string
	// Hostname names the gateway in Message-IDs and SMTP greetings
	// (default: the domain of Address).
	Hostname string
	// EnvelopeSender is the bounce address: "" (the default) sends
	// replies from the null reverse-path <>, so nothing ever bounces back
	// to the gateway (RFC 3834 §3.3). An address (a dedicated one, never
	// the gateway's) sends each reply from its VERP form
	// local+<id>.<tag>@domain, asks the relay for failure and delay
	// notifications, and makes the server accept mail to it: bounces,
	// recorded against the reply they name, never answered (dsn.go).
	EnvelopeSender string

	// MaxMessageBytes: larger requests are ignored (default 128 KiB).
	MaxMessageBytes int64
	// MaxAcceptBytes: the SMTP server refuses larger messages with 552
	// (default 10 MiB). Between the two, only the header is stored.
	MaxAcceptBytes int64

	// STSASenders may use {KMS:SmUpdateStsEd2}; nobody else may.
	STSASenders []string

	// Limits is the flood protection (default DefaultLimits).
	Limits *Limits

	// Lease is how long a worker owns a claimed mail or reply before
	// another may take it over (default 2 minutes). It is the backstop:
	// the claims of a process that stopped are taken over as soon as its
	// heartbeat lapses.
	Lease time.Duration
	// Heartbeat is how often Run records in the database that this
	// process is alive (default 2 s); HeartbeatTimeout (default 3 ×
	// Heartbeat, and longer than it) is how long a process may stay silent
	// before any other gateway on the database takes its claims over
	// (process.go). The clocks of processes sharing a database must agree
	// to well within it.
	Heartbeat, HeartbeatTimeout time.Duration

	// Retain is how long Run keeps a finished mail (replied, ignored,
	// failed) with its replies and bounce records after it finished
	// (default 30 days; negative: forever); it prunes every PruneEvery
	// (default 1 hour), as "gateway queue purge" does (retention.go).
	Retain, PruneEvery time.Duration
	// MaxAttempts bounds the processing of one request: after that many
	// transient failures it is answered EInternal (default 8).
	MaxAttempts int
	// RetryBase and RetryMax shape the exponential back-off of transient
	// failures, of processing and of sending (default 30 s and 1 h).
	RetryBase, RetryMax time.Duration
	// GiveUpAfter: a reply the relay has not taken after this long is
	// marked failed (default 3 days).
	GiveUpAfter time.Duration
	// Workers is the number of processing workers of Run (default 4);
	// Senders the number of sending ones (default 2).
	Workers, Senders int
	// PollInterval is how often idle workers look for due work (default
	// 1 s); new mail wakes them at once.
	PollInterval time.Duration

	// Auth checks and records sender authenticity (SPF, DKIM); nil
	// records nothing.
	Auth *AuthChecker

	// DedupeWindow is how long a mail's envelope sender and Message-ID
	// are remembered: a copy delivered again within it is stored as a
	// duplicate and not answered (default DefaultDedupeWindow; negative:
	// never).
	DedupeWindow time.Duration

	// Logger receives structured logs (default: discard).
	Logger *slog.Logger
	// Now is the clock (default time.Now).
	Now func() time.Time
}

// Gateway is the KMS e-mail gateway: it accepts request mail (Backend),
// stores it, processes it (Run) and queues and sends the replies.
type Gateway struct {
	cfg     Config
	db      *store.DB
	kmc     KMC
	sender  Sender
	policy  Policy
	from    netmail.Address
	limits  *limiter
	auth    *authRunner // nil: no sender checks
	dedupe  dedupeSweeper
	log     *slog.Logger
	metrics *metrics

	mailReady, outReady signal

	// proc is this process's registration while Run runs.
	proc process

	// hook, if set (tests), is called at named points of the processing;
	// an error return stops there as a crash would.
	hook func(point string) error
}

// New opens the gateway on db, migrating its tables (component
// "gateway"). sender delivers replies (a *Relay); kmc answers the
// services. Either may be nil for a gateway used only to administer the
// queue and the blocks; processing then fails with ErrNotConfigured.
func New(ctx context.Context, db *store.DB, kmc KMC, sender Sender, cfg Config) (*Gateway, error) {
	if _, err := netmail.ParseAddress(cfg.Address); err != nil || !strings.Contains(cfg.Address, "@") {
		return nil, fmt.Errorf("gateway: bad address %q", cfg.Address)
	}
	if cfg.FromName == "" {
		cfg.FromName = "STS KMS E-mail Gateway"
	}
	if cfg.Hostname == "" {
		_, cfg.Hostname = splitAddress(cfg.Address)
	}
	def := func(d *time.Duration, v time.Duration) {
		if *d <= 0 {
			*d = v
		}
	}
	if cfg.MaxMessageBytes <= 0 {
		cfg.MaxMessageBytes = 128 << 10
	}
	if cfg.MaxAcceptBytes <= 0 {
		cfg.MaxAcceptBytes = 10 << 20
	}
	cfg.MaxAcceptBytes = max(cfg.MaxAcceptBytes, cfg.MaxMessageBytes)
	if cfg.Limits == nil {
		l := DefaultLimits
		cfg.Limits = &l
	}
	def(&cfg.Lease, 2*time.Minute)
	def(&cfg.Heartbeat, DefaultHeartbeat)
	def(&cfg.HeartbeatTimeout, heartbeatLapses*cfg.Heartbeat)
	if cfg.HeartbeatTimeout <= cfg.Heartbeat {
		return nil, errHeartbeat
	}
	if cfg.Retain == 0 {
		cfg.Retain = DefaultRetain
	}
	def(&cfg.PruneEvery, time.Hour)
	def(&cfg.RetryBase, 30*time.Second)
	def(&cfg.RetryMax, time.Hour)
	def(&cfg.GiveUpAfter, 72*time.Hour)
	if cfg.DedupeWindow == 0 {
		cfg.DedupeWindow = DefaultDedupeWindow
	}
	def(&cfg.PollInterval, time.Second)
	if cfg.MaxAttempts <= 0 {
		cfg.MaxAttempts = 8
	}
	if cfg.Workers <= 0 {
		cfg.Workers = 4
	}
	if cfg.Senders <= 0 {
		cfg.Senders = 2
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	if err := checkBounceAddress(cfg); err != nil {
		return nil, err
	}
	if err := db.Migrate(ctx, component, migrations); err != nil {
		return nil, fmt.Errorf("gateway: failed to migrate: %w", err)
	}
	var own []string
	if cfg.EnvelopeSender != "" {
		own = []string{cfg.EnvelopeSender}
	}
	g := &Gateway{
		cfg: cfg, db: db, kmc: kmc, sender: sender,
		policy: Policy{Addresses: append([]string{cfg.Address}, cfg.Aliases...), Own: own,
			MaxMessageBytes: cfg.MaxMessageBytes},
		from:   netmail.Address{Name: cfg.FromName, Address: cfg.Address},
		limits: newLimiter(*cfg.Limits),
		auth:   newAuthRunner(cfg.Auth),
		log:    cfg.Logger,
	}
	g.metrics = newMetrics(g)
	return g, nil
}

// checkBounceAddress checks Config.EnvelopeSender: empty, or an address
// that is not one the gateway takes requests on.
func checkBounceAddress(cfg Config) error {
	a := cfg.EnvelopeSender
	if a == "" {
		return nil
	}
	if p, err := netmail.ParseAddress(a); err != nil || p.Address != a || !strings.Contains(a, "@") {
		return fmt.Errorf("gateway: bad envelope sender %q: want a bare address", a)
	}
	if local, _ := splitAddress(a); strings.Contains(local, "+") {
		return fmt.Errorf("gateway: envelope sender %q: no '+' in its local part (it is the VERP delimiter)", a)
	}
	if containsAddress(append([]string{cfg.Address}, cfg.Aliases...), a) {
		return fmt.Errorf("gateway: envelope sender %q: must not be an address requests go to", a)
	}
	return nil
}

// ErrNotConfigured: the gateway has no KMC or no sender.
var ErrNotConfigured = errors.New("gateway: no KMC or no sender configured")

func (g *Gateway) now() time.Time { return g.cfg.Now() }

// at calls the test hook at point.
func (g *Gateway) at(point string) error {
	if g.hook == nil {
		return nil
	}
	return g.hook(point)
}

// Run processes request mail and sends replies until ctx ends, with
// Config.Workers processing and Config.Senders sending workers. While it
// runs the process is registered with a heartbeat (process.go), so that
// its claims are taken over within seconds if it dies, and finished mail
// is pruned after Config.Retain (retention.go). It returns ctx's error,
// or why it could not start.
func (g *Gateway) Run(ctx context.Context) error {
	if g.kmc == nil || g.sender == nil {
		return ErrNotConfigured
	}
	if err := g.register(ctx); err != nil {
		return fmt.Errorf("gateway: failed to register the process: %w", err)
	}
	defer g.deregister()
	var wg sync.WaitGroup
	wg.Add(2)
	go func() { defer wg.Done(); g.heartbeat(ctx) }()
	go func() { defer wg.Done(); g.retain(ctx) }()
	loop := func(s *signal, step func(context.Context) (bool, error)) {
		defer wg.Done()
		for ctx.Err() == nil {
			wake := s.wait()
			did, err := step(ctx)
			if err != nil && ctx.Err() == nil {
				g.log.Error("gateway: step failed", "err", err)
			}
			if did && err == nil {
				continue
			}
			t := time.NewTimer(g.cfg.PollInterval)
			select {
			case <-ctx.Done():
			case <-wake:
			case <-t.C:
			}
			t.Stop()
		}
	}
	for range g.cfg.Workers {
		wg.Add(1)
		go loop(&g.mailReady, g.ProcessNext)
	}
	for range g.cfg.Senders {
		wg.Add(1)
		go loop(&g.outReady, g.SendNext)
	}
	wg.Wait()
	return ctx.Err()
}

// signal wakes every waiter: wait returns a channel closed by the next
// kick.
type signal struct {
	mu sync.Mutex
	ch chan struct{}
}

func (s *signal) wait() <-chan struct{} {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.ch == nil {
		s.ch = make(chan struct{})
	}
	return s.ch
}

func (s *signal) kick() {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.ch != nil {
		close(s.ch)
		s.ch = nil
	}
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
