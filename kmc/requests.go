package kmc

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/stskms/stskms/audit"
	"github.com/stskms/stskms/store"
)

// Request answers: the admin API (kmc/api) remembers the answer of each
// creating call under its route and request id, in the database (table
// api_requests), so that a retry gets the first answer instead of a second
// object, from any process of the KMC and after a restart. A request id
// belongs to the caller who first gave it.

// MaxRequestID is the longest request id, in bytes.
const MaxRequestID = 128

// claimLease is how long a claimed request id waits for its answer before
// another call may take it over (its process died while running it).
const claimLease = time.Minute

// claimPoll is how often a call waits for the answer of a claim another
// call holds.
const claimPoll = 20 * time.Millisecond

// CheckRequestID refuses a request id longer than MaxRequestID or with a
// byte that is not printable ASCII (space excluded).
func CheckRequestID(id string) error {
	if len(id) > MaxRequestID {
		return fmt.Errorf("%w: request id of %d bytes (at most %d)", ErrInvalid, len(id), MaxRequestID)
	}
	for i := 0; i < len(id); i++ {
		if c := id[i]; c <= ' ' || c > '~' {
			return fmt.Errorf("%w: request id byte %d is not printable ASCII", ErrInvalid, i)
		}
	}
	return nil
}

// Claim is the outcome of ClaimRequest: the stored answer of a replay, or
// a claim (Answer nil) that the caller settles with AnswerRequest or
// ForgetRequest.
type Claim struct {
	Answer []byte // the stored answer (JSON), nil if claimed
}

// ClaimRequest looks up the request id id of route for actor, whose
// request has digest (a hash of the request as given), at the API's time
// now, dropping the answers whose time has passed:
//
//   - a new id (or one whose answer expired) is claimed for actor: the
//     caller runs the request and settles the claim;
//   - an id answered for actor with the same digest returns the stored
//     answer, and the replay is audited ("api.replay", with actor);
//   - an id of another caller is refused with ErrRequestOwned, whatever
//     the request, an id of actor's with another digest with
//     ErrRequestReused;
//   - an id claimed and not yet answered waits for the answer (or for the
//     claim's lease to run out, when it may be taken over).
func (k *KMC) ClaimRequest(ctx context.Context, actor, route, id, digest string, now time.Time) (Claim, error) {
	if err := CheckRequestID(id); err != nil {
		return Claim{}, err
	}
	for {
		c, busy, err := k.claimOnce(ctx, actor, route, id, digest, now)
		if err != nil || !busy {
			return c, err
		}
		select {
		case <-ctx.Done():
			return Claim{}, ctx.Err()
		case <-time.After(claimPoll):
		}
		now = now.Add(claimPoll)
	}
}

func (k *KMC) claimOnce(ctx context.Context, actor, route, id, digest string, now time.Time) (c Claim, busy bool, err error) {
	err = k.tx(ctx, func(tx *store.Tx) error {
		c, busy = Claim{}, false
		if _, err := tx.Exec(ctx, `DELETE FROM api_requests WHERE expires <= $1`, now.Unix()); err != nil {
			return err
		}
		var owner, sum, answer string
		err := tx.QueryRow(ctx, `SELECT actor, digest, answer FROM api_requests WHERE route = $1 AND request_id = $2`,
			route, id).Scan(&owner, &sum, &answer)
		switch {
		case errors.Is(err, store.ErrNotFound):
			_, err = tx.Exec(ctx, `INSERT INTO api_requests (route, request_id, actor, digest, answer, expires)
				VALUES ($1, $2, $3, $4, '', $5)`, route, id, actor, digest, now.Add(claimLease).Unix())
			return err
		case err != nil:
			return err
		case owner != actor:
			return fmt.Errorf("%w: %q", ErrRequestOwned, id)
		case sum != digest:
			return fmt.Errorf("%w: %q", ErrRequestReused, id)
		case answer == "":
			busy = true
			return nil
		}
		c.Answer = []byte(answer)
		_, err = k.log.Append(ctx, tx, audit.Entry{Actor: actor, Action: "api.replay", Subject: id,
			Details: map[string]any{"route": route}})
		return err
	})
	return c, busy, err
}

// AnswerRequest stores the answer of a claimed request id, kept until
// expires.
func (k *KMC) AnswerRequest(ctx context.Context, actor, route, id string, answer []byte, expires time.Time) error {
	return k.tx(ctx, func(tx *store.Tx) error {
		_, err := tx.Exec(ctx, `UPDATE api_requests SET answer = $1, expires = $2 WHERE route = $3 AND request_id = $4 AND actor = $5`,
			string(answer), expires.Unix(), route, id, actor)
		return err
	})
}

// ForgetRequest drops the claim of a request id whose call failed: it may
// be retried.
func (k *KMC) ForgetRequest(ctx context.Context, actor, route, id string) error {
	return k.tx(ctx, func(tx *store.Tx) error {
		_, err := tx.Exec(ctx, `DELETE FROM api_requests WHERE route = $1 AND request_id = $2 AND actor = $3 AND answer = ''`,
			route, id, actor)
		return err
	})
}
