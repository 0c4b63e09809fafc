package gateway

import (
	"errors"
	"fmt"
	"log/slog"
	netmail "net/mail"
	"strings"
	"time"
)

// Config configures a Gateway. Only Address is required. OpenQueue reads
// only the fields of the store.
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
	// (process.go, schema.go). The clocks of processes sharing a database
	// must agree to well within it.
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

// Defaults of Config.
const (
	// DefaultHeartbeat is Config.Heartbeat's default.
	DefaultHeartbeat = 2 * time.Second
	// heartbeatLapses is how many heartbeats a process may miss before
	// its claims are taken over: the default HeartbeatTimeout is this
	// many Heartbeats.
	heartbeatLapses = 3
	// DefaultDedupeWindow is Config.DedupeWindow's default: a mail's
	// redelivery is recognised for 7 days, longer than any MTA retries
	// (Postfix gives up after 5 days by default, RFC 5321 §4.5.4.1
	// suggests 4–5).
	DefaultDedupeWindow = 7 * 24 * time.Hour
	// DefaultRetain is how long Run keeps a finished mail, with its
	// replies and bounce records, by default (Config.Retain): 30 days.
	DefaultRetain = 30 * 24 * time.Hour
)

// errHeartbeat: Config.HeartbeatTimeout does not exceed Config.Heartbeat.
var errHeartbeat = errors.New("gateway: the heartbeat timeout must be longer than the heartbeat interval")

// withDefaults returns cfg with its defaults filled in, or why it cannot
// be used. It does not check Address, which only New needs.
func (cfg Config) withDefaults() (Config, error) {
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
		return cfg, errHeartbeat
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
	return cfg, checkBounceAddress(cfg)
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
