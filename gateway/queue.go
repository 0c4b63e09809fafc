package gateway

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"

	"github.com/stskms/stskms/store"
)

// Queue is the gateway's store: the request mails and their states
// (queue_mail.go), the outbox of replies (queue_outbox.go), the blocks and
// rate buckets of the flood protection (ratestore.go), the delivery keys
// that recognise redeliveries (dedupe.go), the bounces received
// (dsn_store.go), the registry of gateway processes (process.go) and the
// administration of all that (admin.go). It owns the *store.DB side of the
// gateway and knows nothing of SMTP, the policy or what replies say: the
// server stores messages through the Gateway, the worker claims and
// finishes them here, and the administration commands open a Queue of
// their own (OpenQueue).
//
// The schema (schema.go) is a state machine: a message is received,
// claimed by a worker with a lease, and finished (replied, ignored,
// failed) in the same transaction that stores its replies in the outbox;
// a crashed worker's claim is taken over.
type Queue struct {
	db  *store.DB
	cfg Config
	log *slog.Logger

	// mailReady and outReady wake the workers waiting for mail to
	// process and for replies to send.
	mailReady, outReady signal

	// proc is this process's registration while Run runs.
	proc process
	// dedupe paces the deletion of expired delivery keys.
	dedupe sweepClock
}

// OpenQueue opens the gateway's queue on db for administration, migrating
// its tables (component "gateway") as New does. Of cfg only the fields of
// the store count (Lease, Heartbeat, HeartbeatTimeout, DedupeWindow,
// Logger, Now); Address is not needed.
func OpenQueue(ctx context.Context, db *store.DB, cfg Config) (*Queue, error) {
	cfg, err := cfg.withDefaults()
	if err != nil {
		return nil, err
	}
	return openQueue(ctx, db, cfg)
}

// openQueue opens the queue with cfg, its defaults filled in.
func openQueue(ctx context.Context, db *store.DB, cfg Config) (*Queue, error) {
	if err := db.Migrate(ctx, component, migrations); err != nil {
		return nil, fmt.Errorf("gateway: failed to migrate: %w", err)
	}
	return &Queue{db: db, cfg: cfg, log: cfg.Logger}, nil
}

func (q *Queue) now() time.Time { return q.cfg.Now() }

// States of a request mail.
const (
	StateReceived   = "received"
	StateProcessing = "processing"
	StateReplied    = "replied"
	StateIgnored    = "ignored"
	StateFailed     = "failed"
)

// States of a reply in the outbox.
const (
	OutPending = "pending"
	OutSending = "sending"
	OutSent    = "sent"
	OutFailed  = "failed"
	// OutBounced: the relay took the reply, then a bounce reported that
	// its delivery failed (schema_dsn.go).
	OutBounced = "bounced"
)

// Kinds of replies: at most one of each per request.
const (
	kindFinal    = "final"
	kindDeferred = "deferred"
	kindBlocked  = "blocked"
)

// errLostClaim: the claim's lease expired and another worker took the
// message over; the work done under it is dropped.
var errLostClaim = errors.New("gateway: claim lost to another worker")

func newRef() string {
	var b [12]byte
	rand.Read(b[:])
	return hex.EncodeToString(b[:])
}

func ns(t time.Time) int64 { return t.UnixNano() }

func b2i(b bool) int64 {
	if b {
		return 1
	}
	return 0
}

// claimed is a request mail claimed by a worker.
type claimed struct {
	id       int64
	ref      string
	attempts int64 // the claim's fencing token
	tries    int64 // attempts since the last operator retry
	admitted bool
	env      Envelope
	raw      []byte
	size     int64
	trunc    bool
	deferred bool // a Deferred notice was queued already
}

// claimDue claims the next due row of table in one transaction: due picks
// it (waiting and leased are its states), read loads it and returns it with
// its attempts count, already counting this one, and the row is leased to
// this worker until now plus the lease. It returns nil when no row is due.
func claimDue[T any](ctx context.Context, q *Queue, table, waiting, leased string,
	read func(tx *store.Tx, id int64) (*T, int64, error)) (*T, error) {
	now := q.now()
	owner := q.proc.owner()
	var got *T
	var from string // the owner of a claim taken over
	var took int64  // and its row
	err := q.db.Tx(ctx, func(tx *store.Tx) error {
		got = nil
		id, prev, err := due(ctx, tx, table, waiting, leased, now, now.Add(-q.cfg.HeartbeatTimeout))
		if err != nil || id == 0 {
			return err
		}
		row, attempts, err := read(tx, id)
		if err != nil {
			return err
		}
		if _, err := tx.Exec(ctx, `UPDATE `+table+` SET state = $2, attempts = $3, lease_ns = $4, owner = $5 WHERE id = $1`,
			id, leased, attempts, ns(now.Add(q.cfg.Lease)), owner); err != nil {
			return err
		}
		got, from, took = row, prev, id
		return nil
	})
	if got != nil && from != "" {
		q.log.Warn("gateway: took over a claim whose process stopped or stalled", "table", table, "id", took,
			"process", from)
	}
	return got, err
}

// execClaimed runs an UPDATE of a claimed row that must match exactly that
// row: none means the claim was lost to another worker (errLostClaim).
func execClaimed(ctx context.Context, tx *store.Tx, query string, args ...any) error {
	res, err := tx.Exec(ctx, query, args...)
	if err != nil {
		return err
	}
	if n, err := res.RowsAffected(); err != nil {
		return err
	} else if n != 1 {
		return errLostClaim
	}
	return nil
}

// due returns the id of the next row of table to claim at now (0 if none):
// a leased row whose worker died — its lease expired, or its owner's
// heartbeat is not after silentSince (process.go) — with that owner, else
// the earliest waiting row that is due. Each is one index range scan (the
// leased rows are the few in work).
func due(ctx context.Context, tx *store.Tx, table, waiting, leased string, now, silentSince time.Time) (int64, string, error) {
	var id int64
	var owner string
	err := tx.QueryRow(ctx, `SELECT t.id, t.owner FROM `+table+` t WHERE t.state = $1 AND (t.lease_ns <= $2
		OR t.owner <> '' AND NOT EXISTS (SELECT 1 FROM gateway_process p WHERE p.id = t.owner AND p.heartbeat_ns > $3))
		LIMIT 1`, leased, ns(now), ns(silentSince)).Scan(&id, &owner)
	if errors.Is(err, store.ErrNotFound) {
		owner = ""
		err = tx.QueryRow(ctx, `SELECT id FROM `+table+` WHERE state = $1 AND next_ns <= $2
			ORDER BY next_ns, id LIMIT 1`, waiting, ns(now)).Scan(&id)
	}
	if errors.Is(err, store.ErrNotFound) {
		return 0, "", nil
	}
	return id, owner, err
}

// process is the registration of this process while Run runs
// (process.go).
type process struct {
	id atomic.Pointer[string]
}

// owner returns the id claims record: this process's while Run runs, else
// "" (claims then expire only with their lease).
func (p *process) owner() string {
	if id := p.id.Load(); id != nil {
		return *id
	}
	return ""
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

// sweepEvery is how often a process deletes expired rows (idle rate
// buckets, old delivery keys).
const sweepEvery = time.Minute

// sweepClock paces a sweep of expired rows to once every sweepEvery per
// process.
type sweepClock struct {
	mu sync.Mutex
	at time.Time
}

// due reports whether the sweep should run now, and if so, schedules the
// next one.
func (s *sweepClock) due(now time.Time) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	if now.Before(s.at) {
		return false
	}
	s.at = now.Add(sweepEvery)
	return true
}
