package console

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/go-webauthn/webauthn/webauthn"

	"github.com/stskms/stskms/audit"
	"github.com/stskms/stskms/store"
)

// proposalsTable keeps the proposals of two-person approvals (migration
// 2). A proposal is a draft until its proposer signs it (proposed_ns),
// then pending until approved (done_ns, approver), withdrawn
// (withdrawn_ns) or expired (expires_ns). params is the canonical
// parameters as a JSON object, digest their SHA-256 digest
// (operationDigest).
const proposalsTable = `CREATE TABLE console_proposals (
	id           TEXT PRIMARY KEY,
	page         TEXT NOT NULL,
	action       TEXT NOT NULL,
	op           TEXT NOT NULL,
	kind         TEXT NOT NULL,
	params       TEXT NOT NULL,
	words        TEXT NOT NULL,
	digest       {{blob}} NOT NULL,
	proposer     TEXT NOT NULL REFERENCES console_accounts (name),
	created_ns   BIGINT NOT NULL,
	expires_ns   BIGINT NOT NULL,
	proposed_ns  BIGINT NOT NULL,
	approver     TEXT NOT NULL,
	done_ns      BIGINT NOT NULL,
	withdrawn_ns BIGINT NOT NULL,
	outcome      TEXT NOT NULL
)`

// attachmentColumn keeps the file a proposal carries (migration 3;
// Operation.Attachment), NULL if none.
const attachmentColumn = `ALTER TABLE console_proposals ADD COLUMN attachment {{blob}}`

// Errors of proposals.
var (
	// errNoProposal is an unknown proposal id.
	errNoProposal = errors.New("console: no such proposal")
	// errNotPending refuses a step on a proposal that is done, withdrawn,
	// expired, or no longer in the state the step needs.
	errNotPending = errors.New("console: the proposal is no longer pending (approved, withdrawn or expired)")
)

// Proposal is an operation under dual control that one officer proposed
// and another must approve.
type Proposal struct {
	ID                 string
	Page, Action, Op   string            // the site's action it runs, and its operation
	Kind               string            // the operation's stable kind
	Params             map[string]string // the canonical parameters
	Words              string            // the operation for people
	Digest             []byte            // operationDigest of all the above
	Proposer, Approver string            // account names ("" before approval)
	Created, Expires   time.Time
	Proposed           time.Time // when the proposer signed it; zero for a draft
	Done, Withdrawn    time.Time
	Outcome            string // what the operation did, once done
	// attachment is the file the operation carries (Operation.Attachment),
	// set by propose and read by attachmentOf, never listed.
	attachment []byte
}

// Proposal states (Proposal.State).
const (
	StateDraft     = "draft"     // not yet signed by its proposer
	StatePending   = "pending"   // signed, waiting for a second officer
	StateDone      = "approved"  // approved and done
	StateWithdrawn = "withdrawn" // withdrawn by its proposer
	StateExpired   = "expired"   // not approved in time
)

// State is the proposal's state at now.
func (p Proposal) State(now time.Time) string {
	switch {
	case !p.Done.IsZero():
		return StateDone
	case !p.Withdrawn.IsZero():
		return StateWithdrawn
	case !now.Before(p.Expires):
		return StateExpired
	case p.Proposed.IsZero():
		return StateDraft
	}
	return StatePending
}

// DigestHex is the digest in lower-case hex, as pages and the audit log
// show it.
func (p Proposal) DigestHex() string { return fmt.Sprintf("%x", p.Digest) }

// addDraft keeps p, a draft of its proposer, and drops drafts nobody
// signed within a ceremony's lifetime.
func (s *Store) addDraft(ctx context.Context, p Proposal) error {
	params, err := json.Marshal(p.Params)
	if err != nil {
		return err
	}
	return s.db.Tx(ctx, func(tx *store.Tx) error {
		if _, err := tx.Exec(ctx, `DELETE FROM console_proposals WHERE proposed_ns = 0 AND created_ns < $1`,
			p.Created.Add(-ceremonyLifetime).UnixNano()); err != nil {
			return err
		}
		_, err := tx.Exec(ctx, `INSERT INTO console_proposals (id, page, action, op, kind, params, words, digest, proposer,
			created_ns, expires_ns, proposed_ns, approver, done_ns, withdrawn_ns, outcome, attachment)
			VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, 0, '', 0, 0, '', $12)`,
			p.ID, p.Page, p.Action, p.Op, p.Kind, string(params), p.Words, p.Digest, p.Proposer,
			p.Created.UnixNano(), p.Expires.UnixNano(), p.attachment)
		return err
	})
}

// proposalColumns are the columns scanProposal reads, in its order.
const proposalColumns = `id, page, action, op, kind, params, words, digest, proposer, approver,
	created_ns, expires_ns, proposed_ns, done_ns, withdrawn_ns, outcome`

// scanProposal reads one row of proposalColumns.
func scanProposal(row store.Scanner) (Proposal, error) {
	var p Proposal
	var params string
	var created, expires, proposed, done, withdrawn int64
	if err := row.Scan(&p.ID, &p.Page, &p.Action, &p.Op, &p.Kind, &params, &p.Words, &p.Digest, &p.Proposer, &p.Approver,
		&created, &expires, &proposed, &done, &withdrawn, &p.Outcome); err != nil {
		return p, err
	}
	p.Created, p.Expires, p.Proposed = fromNanos(created), fromNanos(expires), fromNanos(proposed)
	p.Done, p.Withdrawn = fromNanos(done), fromNanos(withdrawn)
	err := json.Unmarshal([]byte(params), &p.Params)
	return p, err
}

// proposal reads the proposal of id (errNoProposal if none).
func (s *Store) proposal(ctx context.Context, q querier, id string) (Proposal, error) {
	p, err := scanProposal(q.QueryRow(ctx, `SELECT `+proposalColumns+` FROM console_proposals WHERE id = $1`, id))
	if errors.Is(err, store.ErrNotFound) {
		return p, errNoProposal
	}
	return p, err
}

// pendingProposals lists the proposals signed and not yet approved,
// withdrawn or expired, oldest first.
func (s *Store) pendingProposals(ctx context.Context) ([]Proposal, error) {
	return store.All(ctx, s.db, `SELECT `+proposalColumns+` FROM console_proposals
		WHERE proposed_ns > 0 AND done_ns = 0 AND withdrawn_ns = 0 AND expires_ns > $1 ORDER BY created_ns, id`,
		[]any{s.now().UnixNano()}, scanProposal)
}

// changed refuses, with errNotPending, an update that changed no row.
func changed(res sql.Result, err error) error {
	if err != nil {
		return err
	}
	if n, err := res.RowsAffected(); err != nil || n != 1 {
		return errNotPending
	}
	return nil
}

// signProposal makes the draft p pending inside tx, signed by its
// proposer with cred, and audits it ("console.propose").
func (s *Store) signProposal(ctx context.Context, tx *store.Tx, p Proposal, actor string, cred *webauthn.Credential) error {
	now := s.now().UnixNano()
	if err := changed(tx.Exec(ctx, `UPDATE console_proposals SET proposed_ns = $1
		WHERE id = $2 AND proposer = $3 AND proposed_ns = 0 AND withdrawn_ns = 0 AND expires_ns > $1`, now, p.ID, p.Proposer)); err != nil {
		return err
	}
	if err := s.keepCredential(ctx, tx, cred); err != nil {
		return err
	}
	_, err := s.log.Append(ctx, tx, audit.Entry{Actor: actor, Action: "console.propose", Subject: p.Kind,
		Details: map[string]any{"proposal": p.ID, "digest": p.DigestHex(), "proposer": p.Proposer,
			"expires": p.Expires.UTC().Format(time.RFC3339), "passkey": shortID(cred.ID)}})
	return err
}

// claimProposal takes the pending proposal p for approver inside tx, once:
// a second claim, or one after expiry or withdrawal, is errNotPending.
func (s *Store) claimProposal(ctx context.Context, tx *store.Tx, p Proposal, approver string, cred *webauthn.Credential) error {
	now := s.now().UnixNano()
	if err := changed(tx.Exec(ctx, `UPDATE console_proposals SET done_ns = $1, approver = $2
		WHERE id = $3 AND proposed_ns > 0 AND done_ns = 0 AND withdrawn_ns = 0 AND expires_ns > $1 AND proposer <> $2`,
		now, approver, p.ID)); err != nil {
		return err
	}
	return s.keepCredential(ctx, tx, cred)
}

// attachmentOf reads the file proposal p carries inside tx, and refuses
// (errAttachment) one whose SHA-256 is not the one its parameters name:
// the digest both officers signed covers the hash, the hash the file.
func (s *Store) attachmentOf(ctx context.Context, tx *store.Tx, p Proposal) ([]byte, error) {
	want, ok := p.Params[AttachmentParam]
	if !ok {
		return nil, nil
	}
	var file []byte
	if err := tx.QueryRow(ctx, `SELECT attachment FROM console_proposals WHERE id = $1`, p.ID).Scan(&file); err != nil {
		return nil, err
	}
	if attachmentHash(file) != want {
		return nil, errAttachment
	}
	return file, nil
}

// releaseProposal makes a claimed proposal pending again after its
// operation failed (and so changed nothing).
func (s *Store) releaseProposal(ctx context.Context, id string) error {
	_, err := s.db.Exec(ctx, `UPDATE console_proposals SET done_ns = 0, approver = '' WHERE id = $1 AND outcome = ''`, id)
	return err
}

// approved records what the approved proposal p did and audits the
// approval with both names and the digest ("console.approve").
func (s *Store) approved(ctx context.Context, p Proposal, actor, outcome string) error {
	return s.log.Tx(ctx, func(tx *store.Tx) error {
		if _, err := tx.Exec(ctx, `UPDATE console_proposals SET outcome = $1 WHERE id = $2`, outcome, p.ID); err != nil {
			return err
		}
		_, err := s.log.Append(ctx, tx, audit.Entry{Actor: actor, Action: "console.approve", Subject: p.Kind,
			Details: map[string]any{"proposal": p.ID, "digest": p.DigestHex(), "proposer": p.Proposer, "approver": p.Approver}})
		return err
	})
}

// withdrawProposal withdraws the draft or pending proposal id of proposer
// and audits it ("console.withdraw").
func (s *Store) withdrawProposal(ctx context.Context, id, proposer, actor string) error {
	return s.log.Tx(ctx, func(tx *store.Tx) error {
		p, err := s.proposal(ctx, tx, id)
		if err != nil {
			return err
		}
		if p.Proposer != proposer {
			return errNotProposer
		}
		now := s.now().UnixNano()
		if err := changed(tx.Exec(ctx, `UPDATE console_proposals SET withdrawn_ns = $1
			WHERE id = $2 AND proposer = $3 AND done_ns = 0 AND withdrawn_ns = 0 AND expires_ns > $1`, now, id, proposer)); err != nil {
			return err
		}
		_, err = s.log.Append(ctx, tx, audit.Entry{Actor: actor, Action: "console.withdraw", Subject: p.Kind,
			Details: map[string]any{"proposal": p.ID, "digest": p.DigestHex()}})
		return err
	})
}

// keepCredential stores a passkey's new state after an assertion (its
// signature counter) inside tx.
func (s *Store) keepCredential(ctx context.Context, tx *store.Tx, cred *webauthn.Credential) error {
	text, err := json.Marshal(cred)
	if err != nil {
		return err
	}
	_, err = tx.Exec(ctx, `UPDATE console_credentials SET credential = $1, used_ns = $2 WHERE id = $3`,
		string(text), s.now().UnixNano(), cred.ID)
	return err
}
