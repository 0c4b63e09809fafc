package gateway

import (
	"context"
	"reflect"
	"testing"
	"time"

	"github.com/stskms/stskms/store"
)

// retainingKMC is a KMC that follows the gateway's retention: it reports
// each call of Retain.
type retainingKMC struct {
	KMC
	calls chan retainCall
}

type retainCall struct {
	age    time.Duration
	purged PurgeResult
}

func (k *retainingKMC) Retain(_ context.Context, age time.Duration, purged PurgeResult) error {
	k.calls <- retainCall{age, purged}
	return nil
}

// TestRetention: the retention prune deletes the mails finished longer
// than Retain ago, with their replies, and keeps recent ones, mails not
// processed yet and mails with a reply still to send; the KMC is told
// what was pruned. A negative Retain prunes nothing.
func TestRetention(t *testing.T) {
	each(t, func(t *testing.T, db *store.DB) {
		ctx := context.Background()
		a := newAdminQueue(t, db)
		// 1's reply is pending again: still to send.
		if _, err := db.Exec(ctx, `UPDATE gateway_outbox SET state = $1 WHERE mail_id = $2`, OutPending, a.ids[0]); err != nil {
			t.Fatal(err)
		}
		k := &retainingKMC{KMC: a.kmc, calls: make(chan retainCall, 10)}
		a.gw.kmc = k
		if a.gw.cfg.Retain != DefaultRetain || a.gw.cfg.PruneEvery != time.Hour {
			t.Errorf("defaults: retain %v every %v", a.gw.cfg.Retain, a.gw.cfg.PruneEvery)
		}
		a.clock.Add(DefaultRetain - 30*time.Minute) // the mails finished within the last 20 minutes
		if err := a.gw.prune(ctx); err != nil {
			t.Fatal(err)
		}
		if got := ids(a.queue()); len(got) != 4 {
			t.Fatalf("recent mail pruned: %v left", got)
		}
		if c := <-k.calls; c.age != DefaultRetain || c.purged.Mails != 0 {
			t.Errorf("retain call %+v", c)
		}
		a.clock.Add(time.Hour)
		if err := a.gw.prune(ctx); err != nil {
			t.Fatal(err)
		}
		if got := ids(a.queue()); !reflect.DeepEqual(got, []int64{a.ids[0], a.ids[3]}) {
			t.Errorf("left %v, want the mail with a reply to send and the one not processed", got)
		}
		if c := <-k.calls; c.purged.Mails != 2 || c.purged.Replies != 1 {
			t.Errorf("retain call %+v", c)
		}

		a.gw.cfg.Retain = -1
		a.gw.retain(ctx) // returns at once
		if len(k.calls) != 0 {
			t.Error("a negative Retain pruned")
		}
	})
}

// TestRunPrunes: Run prunes when it starts and then every PruneEvery.
func TestRunPrunes(t *testing.T) {
	each(t, func(t *testing.T, db *store.DB) {
		h := newHarness(t, db, func(c *Config) { c.Retain, c.PruneEvery = time.Hour, 20*time.Millisecond })
		h.request(reqMail(""))
		h.drain()
		h.clock.Add(2 * time.Hour)
		k := &retainingKMC{KMC: h.kmc, calls: make(chan retainCall, 100)}
		h.gw.kmc = k
		ctx, cancel := context.WithCancel(context.Background())
		done := make(chan error, 1)
		go func() { done <- h.gw.Run(ctx) }()
		for i := range 2 {
			select {
			case c := <-k.calls:
				if want := int64(1 - i); c.purged.Mails != want || c.age != time.Hour {
					t.Errorf("prune %d: %+v, want %d mails", i, c, want)
				}
			case <-time.After(10 * time.Second):
				t.Fatalf("prune %d did not come", i)
			}
		}
		cancel()
		<-done
		if q := h.queue(); len(q) != 0 {
			t.Errorf("queue %+v", q)
		}
	})
}
