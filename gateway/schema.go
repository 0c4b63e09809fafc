package gateway

import "github.com/stskms/stskms/store"

// The schema of the queue (Queue), all its steps in one place, and the
// bounce step in schema_dsn.go. Released steps never change.

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

// migrationRate stores the token buckets of the flood protection, one row
// per key ("addr:…", "domain:…", "module:…", "notice:…", "notices"): its
// token count in units of 1/1e9 token (below zero when requests were
// deferred against it) as of updated_ns. A missing row is a full bucket.
// Each process refills a bucket arithmetically from updated_ns in the
// transaction that takes from it, so all processes on one database share
// it.
var migrationRate = store.Migration{
	Version: 2,
	Name:    "shared rate-limit buckets",
	SQL: `CREATE TABLE gateway_rate (
		bucket_key TEXT   PRIMARY KEY,
		tokens     BIGINT NOT NULL,
		updated_ns BIGINT NOT NULL
	)`,
}

// migrationProcess is the gateway's schema step for crash recovery in
// seconds. Released steps never change.
//
// Every process that runs the gateway (Run) registers a row in
// gateway_process — a random id, its host and pid, when it started — and
// renews heartbeat_ns every Config.Heartbeat. A claim of a mail or a reply
// records the claiming process in owner; a claim whose owner's heartbeat
// is older than Config.HeartbeatTimeout, or whose owner has no row, is
// taken over at once by any live process, without waiting for its lease.
// A claim with an empty owner (made outside Run, or by an older version) is
// taken over only when its lease runs out, as before.
var migrationProcess = store.Migration{
	Version: 4,
	Name:    "gateway processes and the owners of claims",
	SQL: `CREATE TABLE gateway_process (
		id           TEXT   PRIMARY KEY,
		host         TEXT   NOT NULL,
		pid          BIGINT NOT NULL,
		started_ns   BIGINT NOT NULL,
		heartbeat_ns BIGINT NOT NULL
	);
	ALTER TABLE gateway_mail ADD COLUMN owner TEXT NOT NULL DEFAULT '';
	ALTER TABLE gateway_outbox ADD COLUMN owner TEXT NOT NULL DEFAULT ''`,
}

// migrationDedupe records each accepted mail's delivery key — a hash of
// its envelope sender and Message-ID — and the mail that brought it first.
// The primary key makes "first or duplicate" one atomic decision in the
// transaction that stores the mail, in both databases, however many
// processes accept mail. Rows older than the window are deleted as mail
// arrives; the mail table's retention does not touch them.
var migrationDedupe = store.Migration{
	Version: 5,
	Name:    "redelivered mail recognised by envelope sender and Message-ID",
	SQL: `CREATE TABLE gateway_delivery (
		delivery_key TEXT   PRIMARY KEY,
		ref          TEXT   NOT NULL,
		received_ns  BIGINT NOT NULL
	);
	CREATE INDEX gateway_delivery_age ON gateway_delivery (received_ns)`,
}
