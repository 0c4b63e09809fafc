package gateway

import (
	"context"
	"errors"
	"reflect"
	"testing"
	"time"

	"github.com/emersion/go-smtp"
	"github.com/stskms/stskms/store"
)

// adminQueue is a queue with a mail in each situation the administration
// treats differently, in this order of ids:
//
//	1 replied, reply sent      2 replied, reply failed (relay 550)
//	3 failed (given up)        4 received, not processed yet
type adminQueue struct {
	*harness
	ids [4]int64
}

func newAdminQueue(t *testing.T, db *store.DB) *adminQueue {
	h := newHarness(t, db, nil)
	a := &adminQueue{harness: h}
	h.request(reqMail("Regards", "Subject: {KMS:Help} 1"))
	h.drain()
	h.sink.failWith(func(int) error { return &smtp.SMTPError{Code: 550, Message: "No such user"} })
	h.request(reqMail("Regards", "Subject: {KMS:Help} 2"))
	h.drain()
	h.sink.failWith(nil)
	// 3 crashed its workers MaxAttempts times: given up.
	h.request(reqMail("Regards", "Subject: {KMS:Help} 3"))
	for range h.gw.cfg.MaxAttempts + 1 {
		h.crashAt("claimed")
		if _, err := h.gw.ProcessNext(context.Background()); err != nil && !errors.Is(err, errCrash) {
			t.Fatal(err)
		}
		h.clock.Add(h.gw.cfg.Lease)
	}
	h.gw.hook = nil
	h.drain()
	h.request(reqMail("Regards", "Subject: {KMS:Help} 4"))
	q := h.queue()
	if len(q) != 4 {
		t.Fatalf("%d mails", len(q))
	}
	for i, m := range q {
		a.ids[i] = m.ID
	}
	a.expect(StateReplied, OutSent, StateReplied, OutFailed, StateFailed, "", StateReceived, "")
	return a
}

// expect checks each mail's state and its reply's ("" for none).
func (a *adminQueue) expect(states ...string) {
	a.t.Helper()
	var got []string
	for _, m := range a.queue() {
		out := ""
		if len(m.Replies) > 0 {
			out = m.Replies[0].State
		}
		got = append(got, m.State, out)
	}
	if !reflect.DeepEqual(got, states) {
		a.t.Fatalf("queue %q, want %q", got, states)
	}
}

func ids(q []QueueEntry) []int64 {
	var out []int64
	for _, m := range q {
		out = append(out, m.ID)
	}
	return out
}

func TestQueueList(t *testing.T) {
	each(t, func(t *testing.T, db *store.DB) {
		a := newAdminQueue(t, db)
		ctx := context.Background()
		for state, want := range map[string][]int64{
			"":            a.ids[:],
			StateFailed:   a.ids[1:3], // 2 by its reply, 3 itself
			StateReceived: a.ids[3:],
			OutSent:       a.ids[:1],
			OutBounced:    nil,
		} {
			q, err := a.gw.Queue().List(ctx, state)
			if err != nil || !reflect.DeepEqual(ids(q), want) {
				t.Errorf("List(%q) = %v, %v; want %v", state, ids(q), err, want)
			}
		}
		var ae *AdminError
		if _, err := a.gw.Queue().List(ctx, "lost"); !errors.As(err, &ae) {
			t.Errorf("List(lost): %v, want an *AdminError", err)
		}
	})
}

func TestQueueRetry(t *testing.T) {
	each(t, func(t *testing.T, db *store.DB) {
		a := newAdminQueue(t, db)
		ctx := context.Background()
		// Refused, changing nothing: a mail of which nothing failed, even
		// with a failed one; a mail that does not exist.
		for _, tc := range []struct {
			ids  []int64
			want error
		}{
			{[]int64{a.ids[2], a.ids[0]}, ErrNotFailed},
			{[]int64{a.ids[3]}, ErrNotFailed},
			{[]int64{a.ids[2], 999999}, ErrNoSuchMail},
		} {
			var re *RetryError
			if _, err := a.gw.Queue().Retry(ctx, tc.ids); !errors.Is(err, tc.want) || !errors.As(err, &re) {
				t.Errorf("Retry(%v): %v, want %v", tc.ids, err, tc.want)
			}
			a.expect(StateReplied, OutSent, StateReplied, OutFailed, StateFailed, "", StateReceived, "")
		}
		if _, err := a.gw.Queue().Retry(ctx, nil); err == nil {
			t.Error("Retry of nothing")
		}

		// The failed reply goes out again, its attempts reset.
		res, err := a.gw.Queue().Retry(ctx, a.ids[1:2])
		if err != nil || res != (RetryResult{Replies: 1}) {
			t.Fatalf("Retry: %+v, %v", res, err)
		}
		if r := a.queue()[1].Replies[0]; r.State != OutPending || r.Attempts != 0 || r.LastError != "" {
			t.Errorf("retried reply %+v", r)
		}
		before := len(a.sink.messages())
		a.drain()
		if n := len(a.sink.messages()); n != before+2 { // the retried reply, and 4's
			t.Errorf("%d replies sent, want %d", n-before, 2)
		}
		a.expect(StateReplied, OutSent, StateReplied, OutSent, StateFailed, "", StateReplied, OutSent)

		// Everything failed: the given-up mail is processed again, with
		// all its attempts (it had used more than MaxAttempts).
		res, err = a.gw.Queue().RetryFailed(ctx)
		if err != nil || res != (RetryResult{Mails: 1}) {
			t.Fatalf("RetryFailed: %+v, %v", res, err)
		}
		if m := a.queue()[2]; m.State != StateReceived || m.Attempts != 0 {
			t.Errorf("retried mail %+v", m)
		}
		a.drain()
		a.expect(StateReplied, OutSent, StateReplied, OutSent, StateReplied, OutSent, StateReplied, OutSent)
		if res, err := a.gw.Queue().RetryFailed(ctx); err != nil || res != (RetryResult{}) {
			t.Errorf("RetryFailed of nothing: %+v, %v", res, err)
		}
	})
}

func TestQueuePurge(t *testing.T) {
	each(t, func(t *testing.T, db *store.DB) {
		a := newAdminQueue(t, db)
		ctx := context.Background()
		// A reply still to send keeps its mail: 1's reply goes back to
		// pending (as after a retry).
		if _, err := db.Exec(ctx, `UPDATE gateway_outbox SET state = $1 WHERE mail_id = $2`, OutPending, a.ids[0]); err != nil {
			t.Fatal(err)
		}
		var ae *AdminError
		if _, err := a.gw.Queue().Purge(ctx, 0, false); !errors.As(err, &ae) {
			t.Errorf("Purge(0): %v", err)
		}
		if res, err := a.gw.Queue().Purge(ctx, time.Hour, false); err != nil || res.Mails != 0 {
			t.Errorf("Purge of recent mail: %+v, %v", res, err)
		}
		a.clock.Add(2 * time.Hour)
		res, err := a.gw.Queue().Purge(ctx, time.Hour, true)
		want := PurgeResult{Before: a.clock.Now().Add(-time.Hour).UTC(), Mails: 2, Replies: 1, DryRun: true}
		if err != nil || res != want {
			t.Fatalf("dry run: %+v, %v; want %+v", res, err, want)
		}
		if len(a.queue()) != 4 {
			t.Fatal("the dry run deleted")
		}
		want.DryRun = false
		if res, err := a.gw.Queue().Purge(ctx, time.Hour, false); err != nil || res != want {
			t.Fatalf("purge: %+v, %v; want %+v", res, err, want)
		}
		// Left: 1 (reply pending) and 4 (not processed).
		if got := ids(a.queue()); !reflect.DeepEqual(got, []int64{a.ids[0], a.ids[3]}) {
			t.Errorf("left %v", got)
		}
		if res, err := a.gw.Queue().Purge(ctx, time.Hour, false); err != nil || res.Mails+res.Replies != 0 {
			t.Errorf("second purge: %+v, %v", res, err)
		}
	})
}
