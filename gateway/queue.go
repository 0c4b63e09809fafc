package gateway

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/stskms/stskms/gwresult"
	"github.com/stskms/stskms/store"
)

// component is the gateway's schema in store's migrations.
const component = "gateway"

// migrations is the schema of the mail queue. Released steps never change.
//
// gateway_mail holds every accepted message and its state:
//
//	received ──claim──▶ processing ──finish──▶ replied | ignored | failed
//	    ▲                   │
//	    └──── defer ────────┘   (rate limit, transient failure: next_ns later)
//
// A claim sets lease_ns and bumps attempts, which is the claim's fencing
// token: finish and defer only apply while attempts is still the claim's, so
// a worker whose lease expired and was taken over can change nothing. A
// claim whose lease expired (its worker crashed) is claimed again.
//
// gateway_outbox holds every reply, written in the same transaction as the
// state change it answers, at most one per (mail, kind): the final result
// ("final") and the notices ("deferred", "blocked"). It is sent from there:
// pending ──▶ sending (leased) ──▶ sent | failed.
//
// gateway_block holds the blocks of the flood protection.
var migrations = []store.Migration{{
	Version: 1,
	Name:    "mail queue, outbox and blocks",
	SQL: `CREATE TABLE gateway_mail (
		id          {{autoid}},
		ref         TEXT   NOT NULL UNIQUE,
		received_ns BIGINT NOT NULL,
		mail_from   TEXT   NOT NULL,
		rcpt        TEXT   NOT NULL,
		remote_addr TEXT   NOT NULL,
		helo        TEXT   NOT NULL,
		size        BIGINT NOT NULL,
		truncated   BIGINT NOT NULL,
		raw         {{blob}} NOT NULL,
		state       TEXT   NOT NULL,
		attempts    BIGINT NOT NULL,
		next_ns     BIGINT NOT NULL,
		lease_ns    BIGINT NOT NULL,
		admitted    BIGINT NOT NULL,
		reason      TEXT   NOT NULL,
		service     TEXT   NOT NULL,
		result      TEXT   NOT NULL,
		auth        TEXT   NOT NULL,
		done_ns     BIGINT NOT NULL
	);
	CREATE INDEX gateway_mail_due ON gateway_mail (state, next_ns, id);
	CREATE INDEX gateway_mail_lease ON gateway_mail (state, lease_ns);
	CREATE TABLE gateway_outbox (
		id          {{autoid}},
		mail_id     BIGINT NOT NULL REFERENCES gateway_mail (id),
		kind        TEXT   NOT NULL,
		env_from    TEXT   NOT NULL,
		rcpt        TEXT   NOT NULL,
		message_id  TEXT   NOT NULL,
		result      TEXT   NOT NULL,
		data        {{blob}} NOT NULL,
		state       TEXT   NOT NULL,
		attempts    BIGINT NOT NULL,
		next_ns     BIGINT NOT NULL,
		lease_ns    BIGINT NOT NULL,
		last_error  TEXT   NOT NULL,
		created_ns  BIGINT NOT NULL,
		sent_ns     BIGINT NOT NULL,
		UNIQUE (mail_id, kind)
	);
	CREATE INDEX gateway_outbox_due ON gateway_outbox (state, next_ns, id);
	CREATE INDEX gateway_outbox_lease ON gateway_outbox (state, lease_ns);
	CREATE TABLE gateway_block (
		block_key  TEXT   PRIMARY KEY,
		until_ns   BIGINT NOT NULL,
		created_ns BIGINT NOT NULL,
		reason     TEXT   NOT NULL
	)`,
}, migrationRate, migrationDSN, migrationProcess,
	migrationDedupe}

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

// accept stores a received message, state received, due now — or, if it
// is a redelivery of a mail accepted within Config.DedupeWindow (dedupe.go),
// state ignored, reason duplicate, never answered. It returns once the
// transaction is committed (durable).
func (g *Gateway) accept(ctx context.Context, env Envelope, raw []byte, size int64, truncated bool) (string, error) {
	ref := newRef()
	now := ns(env.Received)
	key := deliveryKey(env.From, raw)
	var first string
	var fresh bool
	err := g.db.Tx(ctx, func(tx *store.Tx) error {
		var err error
		if first, fresh, err = g.firstDelivery(ctx, tx, key, ref, env.Received); err != nil {
			return err
		}
		state, reason, done := StateReceived, "", int64(0)
		if !fresh {
			state, reason, done = StateIgnored, string(Duplicate), now
		}
		_, err = tx.Exec(ctx, `INSERT INTO gateway_mail (ref, received_ns, mail_from, rcpt, remote_addr, helo,
			size, truncated, raw, state, attempts, next_ns, lease_ns, admitted, reason, service, result, auth, done_ns)
			VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, 0, $2, 0, 0, $11, '', '', '', $12)`,
			ref, now, env.From, strings.Join(env.To, "\n"), env.RemoteAddr, env.Helo, size, b2i(truncated), raw, state,
			reason, done)
		return err
	})
	if err != nil {
		return "", fmt.Errorf("gateway: failed to store message: %w", err)
	}
	if !fresh {
		g.log.Info("gateway: ignored: duplicate delivery", "ref", ref, "first", first, "from", env.From)
		g.metrics.finished(&mailUpdate{state: StateIgnored, reason: Duplicate})
		return ref, nil
	}
	if g.auth != nil && !g.isBounce(env) {
		g.auth.start(ref, env, raw, size, truncated, &g.policy)
	}
	g.mailReady.kick()
	return ref, nil
}

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

// claim takes the next due request mail (received and due, or processing
// with an expired lease), or returns nil.
func (g *Gateway) claim(ctx context.Context) (*claimed, error) {
	return claimDue(ctx, g, "gateway_mail", StateReceived, StateProcessing, func(tx *store.Tx, id int64) (*claimed, int64, error) {
		cl := &claimed{id: id}
		var from, rcpt string
		var received, trunc, admitted, notices, base int64
		err := tx.QueryRow(ctx, `SELECT m.ref, m.attempts, m.retry_base, m.admitted, m.mail_from, m.rcpt, m.remote_addr, m.helo,
			m.received_ns, m.raw, m.size, m.truncated,
			(SELECT COUNT(*) FROM gateway_outbox o WHERE o.mail_id = m.id AND o.kind = $2)
			FROM gateway_mail m WHERE m.id = $1`, id, kindDeferred).Scan(
			&cl.ref, &cl.attempts, &base, &admitted, &from, &rcpt, &cl.env.RemoteAddr, &cl.env.Helo,
			&received, &cl.raw, &cl.size, &trunc, &notices)
		if err != nil {
			return nil, 0, err
		}
		cl.attempts++
		cl.tries = cl.attempts - base
		cl.admitted, cl.trunc, cl.deferred = admitted != 0, trunc != 0, notices > 0
		cl.env.From = from
		if rcpt != "" {
			cl.env.To = strings.Split(rcpt, "\n")
		}
		cl.env.Received = time.Unix(0, received)
		return cl, cl.attempts, nil
	})
}

// claimDue claims the next due row of table in one transaction: due picks
// it (waiting and leased are its states), read loads it and returns it with
// its attempts count, already counting this one, and the row is leased to
// this worker until now plus the lease. It returns nil when no row is due.
func claimDue[T any](ctx context.Context, g *Gateway, table, waiting, leased string,
	read func(tx *store.Tx, id int64) (*T, int64, error)) (*T, error) {
	now := g.now()
	owner := g.proc.owner()
	var got *T
	var from string // the owner of a claim taken over
	var took int64  // and its row
	err := g.db.Tx(ctx, func(tx *store.Tx) error {
		got = nil
		id, prev, err := due(ctx, tx, table, waiting, leased, now, now.Add(-g.cfg.HeartbeatTimeout))
		if err != nil || id == 0 {
			return err
		}
		row, attempts, err := read(tx, id)
		if err != nil {
			return err
		}
		if _, err := tx.Exec(ctx, `UPDATE `+table+` SET state = $2, attempts = $3, lease_ns = $4, owner = $5 WHERE id = $1`,
			id, leased, attempts, ns(now.Add(g.cfg.Lease)), owner); err != nil {
			return err
		}
		got, from, took = row, prev, id
		return nil
	})
	if got != nil && from != "" {
		g.log.Warn("gateway: took over a claim whose process stopped or stalled", "table", table, "id", took,
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

// outMsg is a reply to queue.
type outMsg struct {
	kind      string
	to        []string
	messageID string
	result    gwresult.Result
	data      []byte
}

// mailUpdate is how a worker leaves a claimed mail.
type mailUpdate struct {
	state    string // StateReceived (deferred), StateReplied, StateIgnored, StateFailed
	next     time.Time
	admitted bool
	reason   Reason
	service  string
	result   string
	auth     string
	block    *blockRecord
	out      []outMsg
	// limited is "deferred" or "blocked" when the flood protection
	// decided (for the metrics).
	limited string
	// bounce, for a mail to the bounce address, is the bounce to record.
	bounce *bounceUpdate
}

type blockRecord struct {
	key    string
	until  time.Time
	reason string
}

// finish applies u to the claimed mail and queues its replies, in one
// transaction, if the claim still holds; else errLostClaim.
func (g *Gateway) finish(ctx context.Context, c *claimed, u mailUpdate) error {
	now := g.now()
	err := g.db.Tx(ctx, func(tx *store.Tx) error {
		if u.bounce != nil {
			if err := g.recordBounce(ctx, tx, c.id, now, u.bounce); err != nil {
				return err
			}
		}
		var done int64
		if u.state != StateReceived {
			done = ns(now)
		}
		next := ns(u.next)
		if u.next.IsZero() {
			next = ns(now)
		}
		if err := execClaimed(ctx, tx, `UPDATE gateway_mail SET state = $3, next_ns = $4, lease_ns = 0, admitted = $5,
			reason = $6, service = $7, result = $8, auth = $9, done_ns = $10
			WHERE id = $1 AND attempts = $2 AND state = $11`,
			c.id, c.attempts, u.state, next, b2i(u.admitted), string(u.reason), u.service, u.result, u.auth, done,
			StateProcessing); err != nil {
			return err
		}
		if b := u.block; b != nil {
			if _, err := tx.Exec(ctx, `INSERT INTO gateway_block (block_key, until_ns, created_ns, reason)
				VALUES ($1, $2, $3, $4)
				ON CONFLICT (block_key) DO UPDATE SET until_ns = excluded.until_ns,
					created_ns = excluded.created_ns, reason = excluded.reason`,
				b.key, ns(b.until), ns(now), b.reason); err != nil {
				return err
			}
		}
		for _, o := range u.out {
			if _, err := tx.Exec(ctx, `INSERT INTO gateway_outbox (mail_id, kind, env_from, rcpt, message_id, result,
				data, state, attempts, next_ns, lease_ns, last_error, created_ns, sent_ns, bounce_tag)
				VALUES ($1, $2, $3, $4, $5, $6, $7, $8, 0, $9, 0, '', $9, 0, $10)
				ON CONFLICT (mail_id, kind) DO NOTHING`,
				c.id, o.kind, g.cfg.EnvelopeSender, strings.Join(o.to, "\n"), o.messageID, o.result.Header(),
				o.data, OutPending, ns(now), newBounceTag()); err != nil {
				return err
			}
		}
		return nil
	})
	if err == nil {
		g.metrics.finished(&u)
	}
	if err == nil && len(u.out) > 0 {
		g.outReady.kick()
	}
	return err
}

// activeBlock returns the end of the block on any of keys, or the zero
// time.
func (g *Gateway) activeBlock(ctx context.Context, keys []string) (time.Time, string, error) {
	now := ns(g.now())
	for _, k := range keys {
		var until int64
		err := g.db.QueryRow(ctx, `SELECT until_ns FROM gateway_block WHERE block_key = $1 AND until_ns > $2`,
			k, now).Scan(&until)
		if errors.Is(err, store.ErrNotFound) {
			continue
		}
		if err != nil {
			return time.Time{}, "", err
		}
		return time.Unix(0, until), k, nil
	}
	return time.Time{}, "", nil
}

// Block is an active block of the flood protection.
type Block struct {
	// Key is what is blocked: "addr:<address>", "domain:<domain>" or
	// "module:<vendor>:<id>".
	Key     string
	Until   time.Time
	Created time.Time
	Reason  string
}

// Blocks lists the blocks in force.
func (g *Gateway) Blocks(ctx context.Context) ([]Block, error) {
	rows, err := g.db.Query(ctx, `SELECT block_key, until_ns, created_ns, reason FROM gateway_block
		WHERE until_ns > $1 ORDER BY block_key`, ns(g.now()))
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []Block
	for rows.Next() {
		var b Block
		var until, created int64
		if err := rows.Scan(&b.Key, &until, &created, &b.Reason); err != nil {
			return nil, err
		}
		b.Until, b.Created = time.Unix(0, until).UTC(), time.Unix(0, created).UTC()
		out = append(out, b)
	}
	return out, rows.Err()
}

// Unblock lifts the block on key; it reports whether there was one. The
// stored rate bucket of the key is reset too.
func (g *Gateway) Unblock(ctx context.Context, key string) (bool, error) {
	res, err := g.db.Exec(ctx, `DELETE FROM gateway_block WHERE block_key = $1`, key)
	if err != nil {
		return false, err
	}
	if err := g.limits.reset(ctx, g.db, key); err != nil {
		return false, err
	}
	n, err := res.RowsAffected()
	return n > 0, err
}

// outbound is a reply claimed for sending.
type outbound struct {
	id       int64
	attempts int64
	tries    int64 // attempts since the last operator retry
	from     string
	to       []string
	data     []byte
	created  time.Time
	kind     string
	tag      string    // its bounce tag
	ref      string    // the request's reference
	received time.Time // when the request was accepted
}

// claimOut takes the next reply due for sending, or returns nil.
func (g *Gateway) claimOut(ctx context.Context) (*outbound, error) {
	return claimDue(ctx, g, "gateway_outbox", OutPending, OutSending, func(tx *store.Tx, id int64) (*outbound, int64, error) {
		ob := &outbound{id: id}
		var rcpt string
		var created, received, base int64
		if err := tx.QueryRow(ctx, `SELECT o.attempts, o.retry_base, o.env_from, o.rcpt, o.data, o.created_ns, o.kind, o.bounce_tag,
			m.ref, m.received_ns FROM gateway_outbox o JOIN gateway_mail m ON m.id = o.mail_id WHERE o.id = $1`,
			id).Scan(&ob.attempts, &base, &ob.from, &rcpt, &ob.data, &created, &ob.kind, &ob.tag, &ob.ref, &received); err != nil {
			return nil, 0, err
		}
		ob.attempts++
		ob.tries = ob.attempts - base
		ob.to = strings.Split(rcpt, "\n")
		ob.created, ob.received = time.Unix(0, created), time.Unix(0, received)
		return ob, ob.attempts, nil
	})
}

// finishOut records the outcome of a send: sent, failed for good, or
// pending again at next.
func (g *Gateway) finishOut(ctx context.Context, o *outbound, state string, next time.Time, lastErr string) error {
	now := g.now()
	return g.db.Tx(ctx, func(tx *store.Tx) error {
		var sent int64
		if state == OutSent {
			sent = ns(now)
		}
		if len(lastErr) > 500 {
			lastErr = lastErr[:500]
		}
		return execClaimed(ctx, tx, `UPDATE gateway_outbox SET state = $3, next_ns = $4, lease_ns = 0, last_error = $5,
			sent_ns = $6 WHERE id = $1 AND attempts = $2 AND state = $7`,
			o.id, o.attempts, state, ns(next), lastErr, sent, OutSending)
	})
}

// QueueEntry is one request mail and its replies, for operators and tests.
type QueueEntry struct {
	ID       int64
	Ref      string
	Received time.Time
	From     string
	State    string
	Attempts int
	Reason   string
	Service  string
	Result   string
	Auth     string
	Replies  []OutboxEntry
}

// OutboxEntry is one reply.
type OutboxEntry struct {
	ID        int64
	Kind      string
	To        []string
	MessageID string
	Result    string
	State     string
	Attempts  int
	LastError string
	// BounceStatus and BounceDiagnostic are the Status and
	// Diagnostic-Code of the bounce that failed it (state bounced).
	BounceStatus     string `json:",omitempty"`
	BounceDiagnostic string `json:",omitempty"`
}

// Queue lists the request mails, oldest first, with their replies.
func (g *Gateway) Queue(ctx context.Context) ([]QueueEntry, error) { return g.List(ctx, "") }

// List lists the request mails in state (a mail state, or an outbox state
// one of their replies is in; "" for all), oldest first, with their
// replies. An unknown state is an *AdminError.
func (g *Gateway) List(ctx context.Context, state string) ([]QueueEntry, error) {
	if state != "" && !validState(state) {
		return nil, &AdminError{Reason: fmt.Sprintf("no state %q (want one of %s)", state, strings.Join(allStates(), ", "))}
	}
	rows, err := g.db.Query(ctx, `SELECT id, ref, received_ns, mail_from, state, attempts - retry_base, reason, service, result, auth
		FROM gateway_mail WHERE $1 = '' OR state = $1
			OR id IN (SELECT mail_id FROM gateway_outbox WHERE state = $1) ORDER BY id`, state)
	if err != nil {
		return nil, err
	}
	var out []QueueEntry
	idx := map[int64]int{}
	for rows.Next() {
		var e QueueEntry
		var received, attempts int64
		if err := rows.Scan(&e.ID, &e.Ref, &received, &e.From, &e.State, &attempts, &e.Reason, &e.Service,
			&e.Result, &e.Auth); err != nil {
			rows.Close()
			return nil, err
		}
		e.Received, e.Attempts = time.Unix(0, received).UTC(), int(attempts)
		idx[e.ID] = len(out)
		out = append(out, e)
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return nil, err
	}
	rows, err = g.db.Query(ctx, `SELECT id, mail_id, kind, rcpt, message_id, result, state, attempts - retry_base, last_error,
		bounce_status, bounce_diag FROM gateway_outbox ORDER BY id`)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	for rows.Next() {
		var id, attempts int64
		var o OutboxEntry
		var rcpt string
		if err := rows.Scan(&o.ID, &id, &o.Kind, &rcpt, &o.MessageID, &o.Result, &o.State, &attempts, &o.LastError,
			&o.BounceStatus, &o.BounceDiagnostic); err != nil {
			return nil, err
		}
		o.To, o.Attempts = strings.Split(rcpt, "\n"), int(attempts)
		if i, ok := idx[id]; ok {
			out[i].Replies = append(out[i].Replies, o)
		}
	}
	return out, rows.Err()
}
