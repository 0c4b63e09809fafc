package gateway

import "github.com/stskms/stskms/store"

// migrationDSN is the gateway's schema step for bounces and queue
// administration. Released steps never change.
//
// Each reply gets a random bounce_tag: with a bounce address its envelope
// sender is bounce+<outbox id>.<tag>@domain (and its ENVID <id>.<tag>), so
// that a bounce names exactly one reply and cannot be forged without the
// tag. A reply whose delivery failed after the relay took it is
// "bounced", with the bounce's Status and Diagnostic-Code.
//
// retry_base of a mail or a reply is its attempts when an operator last
// retried it ("stskms gateway queue retry"): its tries since are attempts
// − retry_base, while attempts itself, the claims' fencing token, only
// ever grows.
//
// gateway_bounce records every report of every bounce received, matched
// (outbox_id of the reply) or not (outbox_id 0, note saying why).
var migrationDSN = store.Migration{
	Version: 3,
	Name:    "bounces and queue administration",
	SQL: `ALTER TABLE gateway_outbox ADD COLUMN bounce_tag TEXT NOT NULL DEFAULT '';
	ALTER TABLE gateway_outbox ADD COLUMN retry_base BIGINT NOT NULL DEFAULT 0;
	ALTER TABLE gateway_mail ADD COLUMN retry_base BIGINT NOT NULL DEFAULT 0;
	ALTER TABLE gateway_outbox ADD COLUMN bounce_status TEXT NOT NULL DEFAULT '';
	ALTER TABLE gateway_outbox ADD COLUMN bounce_diag TEXT NOT NULL DEFAULT '';
	CREATE TABLE gateway_bounce (
		id          {{autoid}},
		mail_id     BIGINT NOT NULL REFERENCES gateway_mail (id),
		outbox_id   BIGINT NOT NULL,
		recipient   TEXT   NOT NULL,
		action      TEXT   NOT NULL,
		status      TEXT   NOT NULL,
		diagnostic  TEXT   NOT NULL,
		note        TEXT   NOT NULL,
		created_ns  BIGINT NOT NULL
	);
	CREATE INDEX gateway_bounce_mail ON gateway_bounce (mail_id);
	CREATE INDEX gateway_bounce_outbox ON gateway_bounce (outbox_id);
	CREATE INDEX gateway_mail_done ON gateway_mail (state, done_ns)`,
}
